"""The Edge-MoE driver on the simulated board whose kernel is the C-sim build.

Fast tests put a stand-in function behind the same board (no g++): the driver's
register writes (offsets from the map, all before ``ap_start``), buffers, batches,
task switching and every refused input.  The ``slow`` ones compile the C-sim and
check the features bit-exact against the golden model.
"""

from __future__ import annotations

import numpy as np
import pytest

pynq = pytest.importorskip("pynq")

from sparseforge.families.edgemoe.config import EdgeMoEConfig  # noqa: E402
from sparseforge.families.edgemoe.contract import (  # noqa: E402
    max_features,
    pack_params,
    register_map,
    top_args,
)
from sparseforge.host.edgemoe import ALIGN_BYTES, EdgeMoEDriver, element_dtype  # noqa: E402
from sparseforge.host.kernel import DriverError  # noqa: E402
from sparseforge.sim.edgemoe import weights as W  # noqa: E402
from sparseforge.sim.edgemoe.board import edgemoe_board  # noqa: E402
from sparseforge.sim.edgemoe.golden import Golden  # noqa: E402
from sparseforge.sim.lib.board import (  # noqa: E402
    BufferArg,
    ControlRegisters,
    FunctionBoard,
    FunctionKernel,
    SimBoardError,
)

# 2 x 4 patches + CLS = 9 tokens, D = 48 in 3 heads, a dense and a MoE layer, 2 tasks
CFG = EdgeMoEConfig(image_h=32, image_w=64, dim=48, heads=3, layers=2, experts=4,
                    expert_hidden=32, mlp_hidden=64)
T, D, F = CFG.tokens, CFG.dim, max_features(CFG)
CTRL_OFFSETS = {0x00, 0x04, 0x08, 0x0C}


def _weights(seed: int = 1):
    return W.quantize(CFG, W.random_weights(CFG, seed))


def _images(n: int, seed: int = 2) -> np.ndarray:
    return np.stack([W.quantize_image(W.random_image(CFG, seed + i)) for i in range(n)]
                    ).astype(np.uint8)


class StandIn:
    """A kernel function with a known answer: feature ``[t][c] = 1000 task + 7 t + c +
    image[0]``; it records the raw values it was called with."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, values: dict) -> dict:
        self.calls.append({k: v.copy() for k, v in values.items()})
        task = int(values["task_id"][0])
        t, c = np.meshgrid(np.arange(T), np.arange(F), indexing="ij")
        return {"features": (1000 * task + 7 * t + c + values["image"][0]).ravel()}

    @staticmethod
    def expected(image: np.ndarray, task: int) -> np.ndarray:
        t, c = np.meshgrid(np.arange(T), np.arange(D), indexing="ij")
        return 1000 * task + 7 * t + c + int(image.ravel()[0])


@pytest.fixture
def stand_in():
    fn = StandIn()
    board = edgemoe_board(CFG, compute=fn, cycles=5000)
    return board, board.driver(), fn


# --------------------------------------------------------------------------- fast


def test_element_types_follow_the_contract():
    assert element_dtype(CFG, "pixel") == np.uint8
    assert element_dtype(CFG, "weight") == np.int16  # ap_fixed<16,2>
    assert element_dtype(CFG, "bias") == np.int16  # ap_fixed<16,7>
    assert element_dtype(CFG, "norm") == np.int16
    assert element_dtype(CFG, "act") == np.int32  # ap_fixed<32,10>
    wide = EdgeMoEConfig(weight_format="ap_fixed<18,2>", norm_format="ap_fixed<8,3>")
    assert element_dtype(wide, "weight") == np.int32 and element_dtype(wide, "norm") == np.int8


def test_the_driver_is_bound_by_vlnv_with_the_config_from_the_map():
    board = edgemoe_board(CFG, compute=StandIn(), cycles=10)
    drv = board.driver()
    assert isinstance(drv, EdgeMoEDriver) and drv.config == CFG and drv.tasks == 2
    # without the map in the description (as on hardware): a class with the map built in
    renamed = EdgeMoEConfig(**{**CFG.to_dict(), "name": "moe_small"})
    bound = EdgeMoEDriver.for_config(renamed)
    board = edgemoe_board(renamed, compute=StandIn(), cycles=10)
    drv = board.driver(pass_regmap=False)
    assert type(drv) is bound and drv.config == renamed
    assert bound.bindto == ("sparseforge.org:kernel:moe_small:1.0",)


def test_weights_load_once_and_every_register_is_written_before_ap_start(stand_in):
    board, drv, fn = stand_in
    raw = _weights()
    drv.load_weights(raw)
    packed = pack_params(CFG, raw)
    assert sorted(drv.buffers) == sorted(["image", "features", "x", "h", "wide", "y", "scores",
                                          "weights", "biases", "norms", "pos_embed"])
    for name, values in packed.items():
        dev = np.frombuffer(board.memory.read(drv.buffers[name].device_address,
                                              values.nbytes), values.dtype)
        assert drv.buffers[name].dtype == values.dtype and np.array_equal(dev, values)
    regions = list(board.memory.regions)
    assert len(regions) == 11
    images = _images(2)
    rmap = register_map(CFG)
    registers = {r.offset for r in rmap.registers}  # ap_ctrl_hs and STATUS
    arg_words = {w["offset"]: w["name"] for w in rmap.words() if w["offset"] not in registers}
    for task in (1, 0, 1):
        first = len(board.accesses)
        out = drv.infer(images, task)
        assert out.shape == (2, T, D) and out.dtype == np.int32
        for i in range(2):
            assert np.array_equal(out[i], StandIn.expected(images[i], task))
        writes = [a for a in board.accesses[first:] if a.op == "write"]
        starts = [i for i, a in enumerate(writes) if a.offset == 0x00 and a.value & 1]
        assert len(starts) == 2  # one start per image
        assert all(a.offset in CTRL_OFFSETS for a in writes[starts[1] + 1:])  # none after
        for lo, hi in ((0, starts[0]), (starts[0] + 1, starts[1])):
            run = {a.offset: a.value for a in writes[lo:hi]}
            assert set(run) == set(arg_words)  # exactly the map's argument words
            assert run[rmap.arg("task_id").offset] == task
            for arg in rmap.args:
                if arg.kind != "pointer":
                    continue
                buf = drv.buffers["weights" if arg.name.startswith("weights_") else arg.name]
                assert run[arg.offset] | run[arg.offset + 4] << 32 == buf.device_address
    assert board.memory.regions == regions  # nothing allocated again
    assert board.starts == 6 and [int(c["task_id"][0]) for c in fn.calls] == [1, 1, 0, 0, 1, 1]
    # the kernel read the image the driver wrote, and the same weights every time
    assert np.array_equal(fn.calls[1]["image"], images[1].ravel())
    assert all(np.array_equal(c["weights_1"], packed["weights"]) for c in fn.calls)


def test_one_image_gives_tokens_by_dim_and_to_float_uses_the_act_format(stand_in):
    board, drv, _ = stand_in
    drv.load_weights(_weights())
    img = _images(1)[0]
    first = len(board.accesses)
    out = drv.infer(img, 1, interrupt=True)
    assert out.shape == (T, D) and np.array_equal(out, StandIn.expected(img, 1))
    assert np.array_equal(drv.to_float(out), out / 2.0 ** 22)  # ap_fixed<32,10>
    # the kernel's 5000 cycles at 300 MHz (a 3.334 ns period: whole picoseconds), and
    # the run's register accesses (8 cycles each)
    accesses = len(board.accesses) - first
    assert board.period_ps == 3334
    assert 5000 * 3334e-12 < drv.last_seconds <= (5000 + 8 * accesses) * 3334e-12


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: d.infer(_images(1)[0], 0), r"no weights loaded; call load_weights"),
    (lambda d: d.infer(np.zeros((3, 64, 32), np.uint8), 0),
     r"images shape \(3, 64, 32\); allowed: \(3, 32, 64\) .* or \(N, 3, 32, 64\)"),
    (lambda d: d.infer(np.zeros((0, 3, 32, 64), np.uint8), 0), r"images shape \(0, 3, 32, 64\)"),
    (lambda d: d.infer(np.zeros((1, 1, 3, 32, 64), np.uint8), 0), r"images shape"),
    (lambda d: d.infer(np.zeros((3, 32, 64)), 0), r"images dtype float64; allowed: raw pixels"),
    (lambda d: d.infer(np.full((3, 32, 64), 256), 0),
     r"images\[0, 0, 0\] = 256 is out of range; allowed: raw pixels 0 to 255"),
    (lambda d: d.infer(-np.ones((2, 3, 32, 64), np.int16), 0), r"= -1 is out of range"),
    (lambda d: d.infer(_images(1), 2),
     r"task = 2 is out of range; allowed: 0 to 1 \(the kernel's tasks = 2; the hardware "
     r"would refuse it with STATUS BAD_TASK\)"),
    (lambda d: d.infer(_images(1), -1), r"task = -1 is out of range; allowed: 0 to 1"),
    (lambda d: d.infer(_images(1), 1.0), r"task = 1.0 \(float\); allowed: an integer 0 to 1"),
    (lambda d: d.infer(_images(1), True), r"task = True \(bool\)"),
])
def test_bad_input_is_refused_before_any_register_access(call, message):
    board = edgemoe_board(CFG, compute=StandIn(), cycles=10)
    drv = board.driver()
    if "no weights" not in message:
        drv.load_weights(_weights())
    before = board.device.register_accesses
    with pytest.raises(DriverError, match=message):
        call(drv)
    assert board.device.register_accesses == before == 0 and board.starts == 0


def test_buffers_the_kernel_cannot_take_are_refused(stand_in):
    board, drv, _ = stand_in
    drv.load_weights(_weights())
    good = dict(drv.buffers)
    cases = [
        ("x", np.zeros(T * F, np.int32), r"buffer 'x' \(argument x\) is ndarray; allowed: a "
         r"device buffer"),
        ("wide", board.allocate(T * F - 1, np.int32),
         rf"buffer 'wide' \(argument wide\): {4 * (T * F - 1)} bytes of int32; allowed: at "
         rf"least {T * F} elements of int32"),
        ("weights", board.allocate(len(good["weights"]), np.int32),
         r"buffer 'weights' \(argument weights_0\): .* of int32; allowed: .* of int16"),
        ("y", board.allocate(T * F + 16, np.int32)[4:],
         rf"buffer 'y' \(argument y\) at 0x[0-9a-f]+ is not aligned; allowed: a multiple of "
         rf"{ALIGN_BYTES} bytes"),
    ]
    for name, buf, message in cases:
        drv.buffers = {**good, name: buf}
        before = board.device.register_accesses
        with pytest.raises(DriverError, match=message):
            drv.infer(_images(1), 0)
        assert board.device.register_accesses == before
    freed = board.allocate(T * F, np.int32)
    freed.freebuffer()
    drv.buffers = {**good, "h": freed}
    with pytest.raises(DriverError, match=r"buffer 'h' \(argument h\): the buffer was freed"):
        drv.infer(_images(1), 0)
    with pytest.raises(DriverError, match=r"buffer 'h' \(argument h\): the buffer was freed"):
        drv.load_weights(_weights())  # new weights go into the buffers as they are
    assert board.starts == 0


def test_weights_the_kernel_cannot_take_are_refused():
    board = edgemoe_board(CFG, compute=StandIn(), cycles=10)
    drv = board.driver()
    floats = W.random_weights(CFG, 1)
    with pytest.raises(DriverError, match=r"patch_w has dtype float64; allowed: raw integers"):
        drv.load_weights(floats)
    raw = _weights()
    raw.layers[1].gate_w = raw.layers[1].gate_w.copy()
    raw.layers[1].gate_w[0, 0, 0] = 1 << 15  # ap_fixed<16,2>: -32768 to 32767
    with pytest.raises(DriverError, match=r"layers\[1\].gate_w holds 32768, outside weight "
                                          r"format .*; allowed: raw values -32768 to 32767"):
        drv.load_weights(raw)
    raw = _weights()
    raw.layers = raw.layers[:1]
    with pytest.raises(DriverError, match=r"1 layers; the kernel has layers = 2"):
        drv.load_weights(raw)
    raw = _weights()
    raw.pos_embed = raw.pos_embed[:-1]
    with pytest.raises(DriverError, match=r"weight pos: shape \(8, 48\); the config needs "
                                          r"\(9, 48\)"):
        drv.load_weights(raw)
    assert board.memory.regions == [] and board.device.register_accesses == 0


def test_the_device_stops_a_pointer_outside_every_buffer(stand_in):
    board, drv, fn = stand_in
    drv.load_weights(_weights())
    drv.infer(_images(1), 0)  # every argument register set
    del fn.calls[:]
    # x outside device memory, written register by register
    drv.write_reg("x_lo", 0x3000_0040)
    drv.write_reg("x_hi", 0)
    with pytest.raises(SimBoardError, match=r"argument x = 0x30000040 \(\d+ elements of 4 "
                                            r"bytes = \d+ bytes\) points outside device memory"):
        drv.start()
    assert fn.calls == [] and drv.is_idle and board.starts == 1
    [fault] = board.memory.take_faults()
    assert fault.address == 0x3000_0040 and fault.length == 4 * T * F
    # features into a buffer too small for T x F activations: stopped, nothing written
    small = board.allocate(T * F // 2, np.int32)
    drv.set_arg("x", drv.buffers["x"])
    drv.set_arg("features", small)
    with pytest.raises(SimBoardError, match=rf"argument features = {small.device_address:#x} "
                                            r".* runs past the end of the \d+-byte buffer"):
        drv.start()
    assert fn.calls == [] and board.memory.take_faults()[0].op == "write"
    # a freed buffer: its address is outside every live buffer now
    drv.set_arg("features", drv.buffers["features"])
    scores = drv.buffers["scores"]
    drv.buffers["scores"] = None
    scores.freebuffer()
    with pytest.raises(SimBoardError, match=r"argument scores = .* outside every live buffer"):
        drv.start()
    assert fn.calls == [] and board.starts == 1


def test_timeout_names_ctrl_and_the_kernel_still_finishes():
    fn = StandIn()
    board = edgemoe_board(CFG, compute=fn, cycles=3_000_000)  # 10 ms at 300 MHz
    drv = board.driver()
    drv.load_weights(_weights())
    with pytest.raises(TimeoutError, match=r"CTRL = 0x00000001 \(ap_start\).*still running"):
        drv.infer(_images(1), 0, timeout=1e-3)
    board.sleep(10e-3)
    assert drv.wait(timeout=0) & 0x2
    assert np.array_equal(drv.infer(_images(1)[0], 1, timeout=0.1),
                          StandIn.expected(_images(1)[0], 1))


def test_control_registers_follow_ap_ctrl_hs():
    regs = ControlRegisters(register_map(CFG))
    assert regs.read(0x00) == 0x04  # idle
    assert regs.write(0x00, 1) and regs.read(0x00) == 0x05
    regs.running = True
    assert not regs.write(0x00, 1)  # already running: no second start
    regs.write(0x08, 1)  # IER: ap_done
    regs.finish()
    assert regs.isr == 1 and not regs.interrupt  # GIE off
    regs.write(0x04, 1)
    assert regs.interrupt
    assert regs.read(0x00) == 0x0E and regs.read(0x00) == 0x04  # ap_done, ap_ready clear on read
    regs.write(0x0C, 1)  # toggle clears
    assert regs.isr == 0 and not regs.interrupt
    off = register_map(CFG).arg("task_id").offset
    regs.write(off, 7)
    assert regs.arg_value(register_map(CFG).arg("task_id")) == 7


def test_a_function_board_refuses_what_the_kernel_function_returns_wrongly():
    rmap = register_map(CFG)
    specs = tuple(BufferArg(a.name, element_dtype(CFG, a.role).str, a.count, a.direction)
                  for a in top_args(CFG) if a.kind == "pointer")
    for bad, message in ((lambda v: {"image": v["image"]}, r"returned 'image'; allowed"),
                         (lambda v: {"features": np.ones(3, np.int64)},
                          r"returned 3 values of int64 for features")):
        board = FunctionBoard(rmap, FunctionKernel(specs, bad, 10), clock_mhz=300)
        drv = board.driver()
        drv.load_weights(_weights())
        with pytest.raises(SimBoardError, match=message):
            drv.infer(_images(1), 0)
        assert drv.is_idle
    with pytest.raises(ValueError, match=r"do not match edgemoe_vit's pointer arguments"):
        FunctionBoard(rmap, FunctionKernel(specs[:-1], bad, 10))


# --------------------------------------------------------------------------- slow: C-sim


@pytest.fixture(scope="module")
def csim_board(tmp_path_factory):
    return edgemoe_board(CFG, tmp_path_factory.mktemp("edgemoe_csim"))


@pytest.mark.slow
def test_features_are_bit_exact_with_the_golden_model_for_two_tasks_and_a_batch(csim_board):
    board = csim_board
    drv = board.driver()
    raw = _weights(5)
    drv.load_weights(raw)
    regions = list(board.memory.regions)
    images = _images(2, seed=7)
    golden = Golden(CFG)
    results = {}
    for task in (0, 1):
        out = drv.infer(images, task)
        assert out.shape == (2, T, D) and out.dtype == np.int32
        for i in range(2):
            assert np.array_equal(out[i], golden.forward(images[i], raw, task)), (task, i)
        results[task] = out
    assert not np.array_equal(results[0], results[1])  # the tasks' gates route differently
    # one image, back to task 0: the same weights, only task_id changed
    one = drv.infer(images[1], 0)
    assert np.array_equal(one, results[0][1])
    assert board.memory.regions == regions and board.starts == 5
    assert np.array_equal(drv.to_float(one), golden.nx.act.to_float(results[0][1]))
    assert not board.memory.take_faults()


@pytest.mark.slow
def test_new_weights_reuse_the_buffers_and_change_the_features(csim_board):
    board = csim_board
    drv = board.driver()
    images = _images(1, seed=11)
    drv.load_weights(_weights(1))
    first = drv.infer(images, 1, interrupt=True)
    kept = {k: v.device_address for k, v in drv.buffers.items()}
    raw = _weights(2)
    drv.load_weights(raw)
    second = drv.infer(images, 1)
    assert {k: v.device_address for k, v in drv.buffers.items()} == kept
    assert np.array_equal(second[0], Golden(CFG).forward(images[0], raw, 1))
    assert not np.array_equal(first, second)


@pytest.mark.slow
def test_the_kernel_refuses_a_task_it_does_not_have(csim_board):
    """Past the driver's check (registers written directly): the top function returns
    STATUS BAD_TASK without computing, and the driver reports a STATUS that is not OK."""
    from sparseforge.families.edgemoe.contract import STATUS
    from sparseforge.host.edgemoe import KernelStatusError

    board = csim_board
    drv = board.driver()
    drv.load_weights(_weights(3))
    feats = drv.buffers["features"]
    feats[:] = 7
    drv.io.sync_to_device(feats)
    args = drv._arguments(0)
    args["task_id"] = CFG.tasks  # one past the last task
    drv.run(sync=False, **args)
    assert drv.read_reg("STATUS") == STATUS["BAD_TASK"]
    drv.io.sync_from_device(feats)
    assert (np.asarray(feats) == 7).all()  # nothing written
    drv.infer(_images(1), 0)  # a good run afterwards: STATUS OK again
    assert drv.read_reg("STATUS") == STATUS["OK"]
    board.regs.words[register_map(CFG).register("STATUS").offset] = STATUS["BAD_TASK"]
    orig = board.kernel.compute
    object.__setattr__(board.kernel, "compute",
                       lambda values: {**orig(values), "STATUS": STATUS["BAD_TASK"]})
    try:
        with pytest.raises(KernelStatusError, match="STATUS 1 on image 0: task_id"):
            drv.infer(_images(1), 0)
    finally:
        object.__setattr__(board.kernel, "compute", orig)
