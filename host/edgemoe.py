"""PYNQ driver of the Edge-MoE kernel: multi-task ViT inference from NumPy.

:class:`EdgeMoEDriver` is the :class:`~sparseforge.host.kernel.KernelDriver` of the
Edge-MoE HLS top function (``sparseforge generate edgemoe``).  Importing this module
registers it with pynq under the kernel's VLNV, so ``pynq.Overlay`` hands it out::

    import pynq
    import sparseforge.host.edgemoe        # binds EdgeMoEDriver to ...:edgemoe_vit:1.0
    overlay = pynq.Overlay("edgemoe_vit.bit")   # regmap.json beside it (or in its parent)
    moe = overlay.edgemoe_vit_0
    moe.load_weights(raw_weights)          # packed, copied to the device once
    feats = moe.infer(pixels, task=0)      # [T][D] raw act values (int32)
    feats = moe.infer(batch, task=1)       # [N][T][D]; switching task: only task_id
    real = moe.to_float(feats)

The kernel's configuration (:class:`~sparseforge.families.edgemoe.config.EdgeMoEConfig`)
comes from the register map (``regmap.json``).  Buffers follow the contract
(:mod:`sparseforge.families.edgemoe.contract`): the four parameter buffers
(``weights``, ``biases``, ``norms``, ``pos_embed``) from
:func:`~sparseforge.families.edgemoe.contract.pack_params`, the image (raw
``ap_ufixed<8,0>`` pixels, one byte each), the output features and the scratch buffers
(``x``, ``h``, ``wide``, ``y``, ``scores``), each element in its type's memory width
(:func:`element_dtype`).  They are allocated once, by :meth:`EdgeMoEDriver.load_weights`;
each :meth:`~EdgeMoEDriver.infer` copies one image in, sets every argument register,
starts the kernel, waits for ``ap_done`` and reads the features back.

Only numpy, pynq and sparseforge's pure-Python core are imported.
"""

from __future__ import annotations

import operator

import numpy as np
import pynq

from sparseforge.errors import ConfigError, SparseforgeError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import (
    STATUS,
    STATUS_CODES,
    TopArg,
    element_bits,
    pack_params,
    register_map,
    top_args,
)
from sparseforge.families.edgemoe.numerics import Numerics

from .kernel import DriverError, KernelDriver

__all__ = ["ALIGN_BYTES", "EdgeMoEDriver", "KernelStatusError", "element_dtype"]

#: Alignment of every buffer the kernel gets, in bytes: whole 512-bit AXI words, the
#: most any ``axi_bits`` choice reads per beat (``pynq.allocate`` gives page-aligned
#: buffers; a user's own buffers and slices must keep to it too).
ALIGN_BYTES = 64

#: Raw pixels are ``ap_ufixed<8,0>``: value = raw / 256, raw 0 to 255.
_PIXEL_MAX = 255

#: ModelWeights fields -> their format role (the layers' fields in _LAYER_ROLES).
_MODEL_ROLES = {"patch_w": "weight", "patch_b": "bias", "pos_embed": "act", "norm_w": "norm",
                "norm_b": "bias"}
_LAYER_ROLES = {"norm1_w": "norm", "norm1_b": "bias", "qkv_w": "weight", "qkv_b": "bias",
                "proj_w": "weight", "proj_b": "bias", "norm2_w": "norm", "norm2_b": "bias",
                "fc1_w": "weight", "fc1_b": "bias", "fc2_w": "weight", "fc2_b": "bias",
                "gate_w": "weight", "exp1_w": "weight", "exp1_b": "bias", "exp2_w": "weight",
                "exp2_b": "bias"}


def element_dtype(cfg: EdgeMoEConfig, role: str) -> np.dtype:
    """The numpy dtype of one element of ``role`` in memory (little-endian):
    ``uint8`` for pixels, ``uint32`` for ``task_id``, otherwise the
    :func:`~sparseforge.families.edgemoe.contract.element_bits` width, signed as the
    ``ap_fixed`` type is (``int16`` / ``int32`` for the default formats)."""
    bits = element_bits(cfg, role)
    signed = role not in ("pixel", "uint32") and getattr(Numerics.of(cfg), role).signed
    return np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")


class KernelStatusError(SparseforgeError, RuntimeError):
    """The kernel returned a STATUS other than OK (its ``ap_return``).

    Attributes
    ----------
    status : int
        See :data:`~sparseforge.families.edgemoe.contract.STATUS_CODES`.
    """

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class EdgeMoEDriver(KernelDriver):
    """Driver of the Edge-MoE kernel (see the module docstring).

    Attributes
    ----------
    config : EdgeMoEConfig
        The kernel's configuration (from its register map).
    numerics : Numerics
        Its fixed-point formats (``numerics.act``: the features' format).
    buffers : dict[str, PynqBuffer]
        The device buffers by name once :meth:`load_weights` ran: ``weights``,
        ``biases``, ``norms``, ``pos_embed``, ``image``, ``features``, ``x``, ``h``,
        ``wide``, ``y``, ``scores``.  Every ``weights_i`` argument points to
        ``weights``.  A buffer replaced by the caller (to place it in another memory)
        is checked before each run: a pynq buffer, the element type and at least the
        argument's size, :data:`ALIGN_BYTES`-aligned.
    memory : object or None
        ``target`` of ``pynq.allocate`` for the buffers; ``None``: the overlay's device.
    last_seconds : float or None
        Seconds the last image's run took, from its first register access to the
        observed ``ap_done`` (within one poll interval), on the board's clock
        (simulated seconds on the simulated board).
    """

    bindto = (register_map(EdgeMoEConfig()).vlnv,)
    pointer_alignment = ALIGN_BYTES
    memory = None
    DESIGN = "edgemoe"

    @classmethod
    def for_config(cls, cfg: EdgeMoEConfig) -> type[EdgeMoEDriver]:
        """A subclass bound to the VLNV of ``cfg.name``, with ``cfg``'s map built in.

        For kernels generated with another ``name`` (pynq binds drivers by VLNV), or to
        drive a bitstream without its ``regmap.json``;
        :meth:`~sparseforge.host.kernel.KernelDriver.for_regmap` does the same from
        ``regmap.json``.
        """
        return cls.for_regmap(register_map(cfg))

    def _setup(self, rmap, io) -> None:
        super()._setup(rmap, io)
        try:
            self.config = EdgeMoEConfig.from_dict(dict(rmap.config),
                                                  origin="regmap.json config")
        except ConfigError as exc:
            raise DriverError(f"register map of {rmap.kernel}: {exc}") from None
        self.numerics = Numerics.of(self.config)
        self._top = top_args(self.config)
        mine = [a.name for a in self._top]
        if [a.name for a in rmap.args] != mine:
            raise DriverError(f"register map of {rmap.kernel}: arguments "
                              f"{[a.name for a in rmap.args]}; the Edge-MoE contract for its "
                              f"config has {mine}")
        self.buffers: dict = {}
        self.last_seconds: float | None = None

    # ------------------------------------------------------------------ numpy API
    @property
    def tasks(self) -> int:
        """Tasks the kernel serves (``task`` 0 to ``tasks - 1``)."""
        return self.config.tasks

    @property
    def weights_loaded(self) -> bool:
        return bool(self.buffers)

    def load_weights(self, raw_weights) -> None:
        """Pack ``raw_weights`` into the four parameter buffers and copy them to the device.

        Parameters
        ----------
        raw_weights : ModelWeights
            Raw integer weights (:class:`sparseforge.sim.edgemoe.golden.ModelWeights`,
            e.g. from ``sparseforge.sim.edgemoe.weights.quantize``): each tensor's values
            in its format's raw range (weights ``weight_format``, biases
            ``bias_format``, LayerNorm scales ``norm_format``, position embeddings
            ``act_format``).

        The first call allocates every buffer (parameters, image, features, scratch)
        with ``pynq.allocate``; later calls reuse them.  Every gate is loaded, so
        switching task later needs no reload.

        Raises
        ------
        DriverError
            A missing tensor, a shape the config does not take, non-integers or a value
            outside its format (nothing is allocated or copied).
        """
        self._check_raw(raw_weights)
        try:
            packed = pack_params(self.config, raw_weights)
        except (ConfigError, AttributeError, TypeError, ValueError) as exc:
            raise DriverError(f"load_weights: {exc}") from None
        if self.buffers:
            self._check_buffers()  # a buffer the caller replaced must still fit
        else:
            self._allocate_buffers()
        for name, values in packed.items():
            buf = self.buffers[name]
            buf[:values.size] = values
            self.io.sync_to_device(buf)

    def infer(self, images, task: int, *, timeout: float = 10.0, poll_interval: float = 1e-4,
              interrupt: bool = False) -> np.ndarray:
        """The task's output features of one image or a batch, as raw int32.

        Parameters
        ----------
        images : array of integers
            Raw pixels (``ap_ufixed<8,0>``: value = raw / 256, raw 0 to 255), one image
            ``[C][H][W]`` or a batch ``[N][C][H][W]``; ``uint8`` or any integer dtype.
        task : int
            0 to ``tasks - 1``: which gate the MoE layers use.  Only ``task_id`` changes
            between tasks.
        timeout, poll_interval, interrupt :
            As for :meth:`~sparseforge.host.kernel.KernelDriver.wait`, per image.

        Returns
        -------
        ndarray of int32
            ``[T][D]`` for one image, ``[N][T][D]`` for a batch: the features of every
            token (token 0 the CLS token), raw values of the activation format
            (:meth:`to_float` converts).

        Raises
        ------
        DriverError
            No weights loaded, a shape or dtype other than the above, a pixel outside
            0 to 255, a task out of range, a buffer the kernel cannot take; all before
            any register is written.
        TimeoutError
            No ``ap_done`` within ``timeout`` seconds (the message holds ``CTRL``).
        """
        batch, single = self._check_images(images)
        task = self._check_task(task)
        if not self.buffers:
            raise DriverError(f"{self.regmap.kernel}: no weights loaded; call "
                              "load_weights(raw_weights) before infer")
        self._check_interrupt(interrupt)
        args = self._arguments(task)
        for name, value in args.items():
            self._encode_arg(name, value)  # every check before the first write
        cfg = self.config
        image, features = self.buffers["image"], self.buffers["features"]
        out = np.empty((len(batch), cfg.tokens, cfg.dim), np.int32)
        for i, pixels in enumerate(batch):
            image[:pixels.size] = pixels.ravel()
            self.io.sync_to_device(image)
            t0 = self.io.now()
            self.run(timeout=timeout, poll_interval=poll_interval, interrupt=interrupt,
                     sync=False, **args)
            self.last_seconds = self.io.now() - t0
            status = self.read_reg("STATUS")
            if status != STATUS["OK"]:
                text = next((c.message for c in STATUS_CODES if c.code == status),
                            "an unknown status code")
                raise KernelStatusError(f"{cfg.name} returned STATUS {status} on image {i}: "
                                        f"{text}", status)
            self.io.sync_from_device(features)
            rows = np.asarray(features[:cfg.tokens * self._features_width])
            out[i] = rows.reshape(cfg.tokens, -1)[:, :cfg.dim]
        return out[0] if single else out

    def to_float(self, features) -> np.ndarray:
        """Raw features (or any raw activations) as float64: ``raw * 2**-F_act``."""
        return self.numerics.act.to_float(np.asarray(features, np.int64))

    def free_buffers(self) -> None:
        """Free every device buffer; :meth:`load_weights` allocates them again."""
        for buf in {id(b): b for b in self.buffers.values()}.values():
            if hasattr(buf, "freebuffer"):
                buf.freebuffer()
        self.buffers = {}

    # ------------------------------------------------------------------ checks
    def _check_images(self, images) -> tuple[np.ndarray, bool]:
        """``(batch [N][C][H][W] uint8, whether one image was given)``."""
        cfg = self.config
        shape = (cfg.in_chans, cfg.image_h, cfg.image_w)
        arr = np.asarray(images)
        if arr.dtype.kind not in "iu":
            raise DriverError(f"images dtype {arr.dtype}; allowed: raw pixels as integers 0 "
                              f"to {_PIXEL_MAX} (uint8; ap_ufixed<8,0>: value = raw / 256), "
                              "e.g. np.floor(image * 256).astype(np.uint8) for floats in "
                              "[0, 1)")
        if arr.ndim not in (3, 4) or arr.shape[-3:] != shape or (arr.ndim == 4 and
                                                                  not arr.shape[0]):
            raise DriverError(f"images shape {arr.shape}; allowed: {shape} (one image "
                              f"[C][H][W]) or (N, {', '.join(map(str, shape))}) with N >= 1 "
                              "(a batch), the kernel's in_chans, image_h, image_w")
        if arr.size and (arr.min() < 0 or arr.max() > _PIXEL_MAX):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            idx = tuple(int(i) for i in np.argwhere(arr == bad)[0])
            raise DriverError(f"images{list(idx)} = {bad} is out of range; allowed: raw "
                              f"pixels 0 to {_PIXEL_MAX}")
        single = arr.ndim == 3
        return (arr[None] if single else arr).astype(np.uint8), single

    def _check_task(self, task) -> int:
        try:
            value = operator.index(task) if not isinstance(task, bool) else None
        except TypeError:
            value = None
        if value is None:
            raise DriverError(f"task = {task!r} ({type(task).__name__}); allowed: an integer "
                              f"0 to {self.tasks - 1}")
        if not 0 <= value < self.tasks:
            raise DriverError(f"task = {value} is out of range; allowed: 0 to "
                              f"{self.tasks - 1} (the kernel's tasks = {self.tasks}; the "
                              f"hardware would refuse it with STATUS BAD_TASK)")
        return value

    def _check_raw(self, w) -> None:
        """Every tensor of ``w`` integer and inside its format's raw range."""
        nx = self.numerics

        def check(where: str, value, role: str) -> None:
            if value is None:
                return
            arr = np.asarray(value)
            if arr.dtype.kind not in "iu":
                raise DriverError(f"load_weights: {where} has dtype {arr.dtype}; allowed: raw "
                                  "integers (quantise with sparseforge.sim.edgemoe.weights."
                                  "quantize, or FixedFormat.quantize)")
            fmt = getattr(nx, role)
            if arr.size and (arr.min() < fmt.min_raw or arr.max() > fmt.max_raw):
                bad = int(arr.min()) if arr.min() < fmt.min_raw else int(arr.max())
                raise DriverError(f"load_weights: {where} holds {bad}, outside {role} format "
                                  f"{fmt}; allowed: raw values {fmt.min_raw} to {fmt.max_raw}")

        layers = getattr(w, "layers", None)
        missing = [f for f in _MODEL_ROLES if not hasattr(w, f)]
        if missing or layers is None:
            raise DriverError(f"load_weights takes ModelWeights (raw integers); "
                              f"{type(w).__name__} lacks {missing or ['layers']}")
        if len(layers) != self.config.layers:
            raise DriverError(f"load_weights: {len(layers)} layers; the kernel has "
                              f"layers = {self.config.layers}")
        for field, role in _MODEL_ROLES.items():
            check(field, getattr(w, field), role)
        for i, lw in enumerate(layers):
            for field, role in _LAYER_ROLES.items():
                check(f"layers[{i}].{field}", getattr(lw, field, None), role)

    def _check_buffers(self) -> None:
        for arg in self._top:
            if arg.kind != "pointer":
                continue
            name = self._buffer_name(arg)
            buf = self.buffers.get(name)
            what = f"buffer {name!r} (argument {arg.name})"
            if buf is None or not self.io.is_buffer(buf):
                raise DriverError(f"{what} is {type(buf).__name__}; allowed: a device buffer "
                                  "from pynq.allocate")
            dtype = element_dtype(self.config, arg.role)
            need = arg.count * dtype.itemsize
            if buf.dtype != dtype or buf.nbytes < need:
                raise DriverError(f"{what}: {buf.nbytes} bytes of {buf.dtype}; allowed: at "
                                  f"least {arg.count} elements of {dtype} ({need} bytes)")
            address = self._buffer_address(what, buf)
            if address % ALIGN_BYTES:
                raise DriverError(f"{what} at {address:#x} is not aligned; allowed: a "
                                  f"multiple of {ALIGN_BYTES} bytes")

    # ------------------------------------------------------------------ internals
    @property
    def _features_width(self) -> int:
        """Columns of a features row in memory (the contract's widest layer output)."""
        arg = next(a for a in self._top if a.name == "features")
        return arg.count // self.config.tokens

    @staticmethod
    def _buffer_name(arg: TopArg) -> str:
        return "weights" if arg.name.startswith("weights_") else arg.name

    def _arguments(self, task: int) -> dict:
        """Every argument in the contract's order: pointers to buffers, ``task_id``."""
        self._check_buffers()
        return {a.name: (task if a.kind == "scalar" else self.buffers[self._buffer_name(a)])
                for a in self._top}

    def _allocate_buffers(self) -> None:
        cfg = self.config
        sizes = {}
        for arg in self._top:
            if arg.kind == "pointer":
                sizes.setdefault(self._buffer_name(arg), (arg.count, arg.role))
        buffers = {}
        try:
            for name, (count, role) in sizes.items():
                buffers[name] = self._allocate(count, element_dtype(cfg, role))
                buffers[name][:] = 0
                # scratch too: on a non-coherent port, dirty cache lines of the host's
                # zeroing could otherwise be written back over the kernel's data later
                self.io.sync_to_device(buffers[name])
        except BaseException:
            for buf in buffers.values():
                if hasattr(buf, "freebuffer"):
                    buf.freebuffer()
            raise
        self.buffers = buffers

    def _allocate(self, count: int, dtype: np.dtype):
        if hasattr(self.io, "allocate"):
            return self.io.allocate(count, dtype)
        target = self.memory if self.memory is not None else self.device
        return pynq.allocate(count, dtype, target=target)
