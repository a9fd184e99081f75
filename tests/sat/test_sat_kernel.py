"""SAT kernel: register map, command format, memory layouts, AXI shell RTL, cycle model.

Weight generation (``wgen_row`` / ``wgen_col``): golden is ``sparseforge.nm.compress``
and, for a GEMM on the generated weight, ``A · decompress(compress(W))`` in NumPy.
"""

import itertools
import json

import numpy as np
import pytest

from sparseforge import nm
from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    DESC_BYTES,
    OPCODES,
    STATUS,
    CommandList,
    Descriptor,
    Geometry,
    command_ranges,
    pack_a_stream,
    pack_b_stream,
    pack_wgen_stream,
    plan_wgen,
    register_map,
    result_bytes,
    unpack_b_stream,
    unpack_results,
    unpack_wgen_result,
    wgen_bytes,
)
from sparseforge.families.sat.schedule import pack_data_beats, plan_gemm, unpack_result_beat
from sparseforge.formats.integer import wrap
from sparseforge.regmap import CONTROL_PORTS, MASTER_PORTS, RegisterMap
from sparseforge.sim.sat.kernel_perf import MemoryPort, burst_plan, command_cycles, write_bursts

# --------------------------------------------------------------------------- register map


def test_register_map_json_round_trip_and_layout():
    rmap = register_map(SatConfig())
    text = rmap.to_json()
    assert RegisterMap.from_json(text).to_json() == text
    doc = json.loads(text)
    assert doc["vlnv"] == "sparseforge.org:kernel:sat_kernel:1.0"
    offsets = {w["name"]: w["offset"] for w in rmap.words()}
    # Vitis ap_ctrl_hs block, then a 64-bit pointer at 0x10 and a scalar at 0x1C
    assert [offsets[n] for n in ("CTRL", "GIE", "IER", "ISR")] == [0, 4, 8, 12]
    assert (offsets["cmd_list_lo"], offsets["cmd_list_hi"], offsets["n_cmds"]) == (
        0x10, 0x14, 0x1C)
    assert len(set(offsets.values())) == len(offsets)
    assert rmap.arg("cmd_list").port == "m_axi_gmem"


def test_register_map_rejects_overlaps_and_bad_names():
    rmap = register_map(SatConfig())
    d = rmap.to_dict()
    d["registers"][5]["offset"] = 0x10  # on top of cmd_list_lo
    with pytest.raises(ConfigError, match="overlaps"):
        RegisterMap.from_dict(d)
    d = rmap.to_dict()
    d["registers"][4]["name"] = "STATUS; exec rm"
    with pytest.raises(ConfigError, match="not a valid identifier"):
        RegisterMap.from_dict(d)
    d = rmap.to_dict()
    d["schema"] = "other/9"
    with pytest.raises(ConfigError, match="schema"):
        RegisterMap.from_dict(d)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("kernel_name", "sat kernel", "kernel_name"),
    ("kernel_name", "sat_engine", "equals name"),
    ("axi_data_bits", 64, "axi_data_bits = 64"),
    ("max_burst", 100, "max_burst = 100"),
])
def test_kernel_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        SatConfig(**{key: value})


# --------------------------------------------------------------------------- formats


def test_descriptor_round_trip_and_range_checks():
    d = Descriptor("bp", 2, 8, 17, 3, 5, 0x1_2345_6780, 0x40, 0xFFFF_FFFF_FFFF_FFC0, 544, 96)
    raw = d.pack()
    assert len(raw) == DESC_BYTES
    assert Descriptor.unpack(raw) == d
    assert raw[:4] == bytes([3, 2, 8, 0])  # op, n, m
    with pytest.raises(ConfigError, match="op = 'sparse'"):
        Descriptor("sparse", 2, 8, 1, 1, 1, 0, 0, 0, 0, 0).pack()
    with pytest.raises(ConfigError, match="steps = -1"):
        Descriptor("ff", 2, 8, -1, 1, 1, 0, 0, 0, 0, 0).pack()


@pytest.mark.parametrize("cfg", [SatConfig(), SatConfig(rows=8, cols=4, drain_rows=2,
                                                        axi_data_bits=256),
                                 SatConfig(n=1, m=4, width=16, axi_data_bits=512)])
@pytest.mark.parametrize("sparse", [False, True])
def test_operand_streams_are_the_engine_beats(cfg, sparse):
    """A record ++ B record of step s of tile (ti, tj) is the engine's data beat."""
    rng = np.random.default_rng(3)
    a = rng.integers(-100, 100, (2 * cfg.rows + 1, 3 * cfg.m + 2))
    b = rng.integers(-100, 100, (3 * cfg.m + 2, cfg.cols + 3))
    plan = plan_gemm(cfg, a, b, sparse)
    geo = Geometry.of(cfg)
    a_raw, b_raw = pack_a_stream(cfg, plan), pack_b_stream(cfg, plan)
    row_tiles, col_tiles = 3, 2
    S, wb = plan.steps, geo.word_bytes
    assert a_raw.size == row_tiles * S * geo.a_words * wb
    assert b_raw.size == col_tiles * S * geo.b_words * wb
    for idx, tile in enumerate(plan.tiles):
        ti, tj = divmod(idx, col_tiles)
        for s, beat in enumerate(pack_data_beats(cfg, tile)):
            ao = (ti * S + s) * geo.a_words * wb
            bo = (tj * S + s) * geo.b_words * wb
            a_int = int.from_bytes(a_raw[ao:ao + geo.a_words * wb].tobytes(), "little")
            b_int = int.from_bytes(b_raw[bo:bo + geo.b_words * wb].tobytes(), "little")
            assert a_int | (b_int << geo.a_bits) == beat


def test_unpack_results_matches_beat_unpacking():
    cfg = SatConfig(rows=4, cols=3, drain_rows=2, acc_bits=24)
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (7, 16))
    b = rng.integers(-128, 128, (16, 5))
    plan = plan_gemm(cfg, a, b, sparse=False)
    geo = Geometry.of(cfg)
    want = rng.integers(-(1 << 23), 1 << 23, (len(plan.tiles), cfg.rows, cfg.cols))
    raw = bytearray()
    for tile in want:
        for q in range(cfg.rows // 2):
            word = 0
            for r in range(2):
                for j in range(cfg.cols):
                    v = int(tile[2 * q + r, j]) & ((1 << 24) - 1)
                    word |= v << ((r * cfg.cols + j) * 24)
            assert unpack_result_beat(cfg, word) == tile[2 * q:2 * q + 2].tolist()
            raw += word.to_bytes(geo.r_words * geo.word_bytes, "little")
    assert len(raw) == result_bytes(cfg, len(plan.tiles))
    got = unpack_results(cfg, plan, np.frombuffer(bytes(raw), np.uint8))
    full = np.zeros((8, 6), np.int64)
    for idx, tile in enumerate(want):
        ti, tj = divmod(idx, 2)
        full[4 * ti:4 * ti + 4, 3 * tj:3 * tj + 3] = tile
    np.testing.assert_array_equal(got, full[:7, :5])
    with pytest.raises(ValueError, match="result buffer holds"):
        unpack_results(cfg, plan, np.zeros(10, np.uint8))


def test_bursts_never_cross_4k_and_respect_max_burst():
    for addr in (0, 0x40, 0xFC0, 0x1FF0, 0x12340):
        for words in (1, 3, 64, 65, 300, 1000):
            got = write_bursts(addr, words, 16, 64)
            assert sum(got) == words and max(got) <= 64
            a = addr
            for n in got:
                assert a // 4096 == (a + 16 * n - 1) // 4096
                a += 16 * n


def _bursts_word_by_word(addr, words, word_bytes, max_burst):
    """AXI4 burst cutting from the rule, one word at a time: a burst ends at
    ``max_burst`` beats or when the next word starts a new 4 KiB page."""
    out, n = [], 0
    for i in range(words):
        a = addr + i * word_bytes
        if n and (n == max_burst or a % 4096 == 0):
            out.append(n)
            n = 0
        n += 1
    return [*out, n] if n else out


def test_burst_plan_counts_pages_without_stepping_them():
    rng = np.random.default_rng(7)
    for _ in range(300):
        word_bytes = int(rng.choice([4, 8, 16, 32, 64]))
        max_burst = int(rng.choice([1, 3, 16, 64, 100, 256]))
        addr = int(rng.integers(0, 1 << 20)) // word_bytes * word_bytes
        words = int(rng.integers(0, 20000))
        want = _bursts_word_by_word(addr, words, word_bytes, max_burst)
        count, tail = burst_plan(addr, words, word_bytes, max_burst)
        assert (count, tail) == (len(want), want[-16:]), (addr, words, word_bytes, max_burst)


def test_model_memory_side_bounds():
    """A faster port never makes a command slower; a read-bound GEMM tracks its words."""
    cfg = SatConfig()
    d = Descriptor("dense", 2, 8, 64, 4, 4, 0x1000, 0x9000, 0x20000, 2048, 1024)
    slow = command_cycles(cfg, d, MemoryPort(0.5, 0.5))
    fast = command_cycles(cfg, d, MemoryPort(1.0, 1.0))
    assert slow > fast
    words = 16 * 64 * (2 + 1)
    assert words < fast < words * 1.1
    assert slow == pytest.approx(2 * words, rel=0.1)


def test_kernel_ports_follow_the_vitis_convention():
    from sparseforge.hwgen.sat.kernel import SatKernel

    top = SatKernel(SatConfig())
    names = [s.name for s in top.ports()]
    assert names[:3] == ["ap_clk", "ap_rst_n", "interrupt"]
    assert names[3:3 + len(CONTROL_PORTS)] == [f"s_axi_control_{n}" for n, _, _ in CONTROL_PORTS]
    assert names[3 + len(CONTROL_PORTS):] == [f"m_axi_gmem_{n}" for n, _, _ in MASTER_PORTS]


# --------------------------------------------------------------------------- RTL


def _link(vectors):
    """Replace ``"wgen_of": id`` by the index ``"wgen"`` the bench wants."""
    pos = {v["id"]: i for i, v in enumerate(vectors)}
    out = []
    for v in vectors:
        v = dict(v)
        if "wgen_of" in v:
            v["wgen"] = pos[v.pop("wgen_of")]
        out.append(v)
    return out


def _runs(cfg, seed):
    from sparseforge.sim.sat.vectors import default_vectors, wgen_vectors

    vecs = default_vectors(cfg, count=1, seed=seed)
    rng = np.random.default_rng(seed)
    big = [{"id": f"big-{mode}", "mg": int(rng.integers(9, 30)), "k": int(rng.integers(20, 200)),
            "ng": int(rng.integers(9, 40)), "mode": mode, "kind": "random",
            "seed": int(rng.integers(1 << 30))} for mode in ("ff", "bp", "wu")]
    wv = wgen_vectors(cfg, seed=seed + 1)
    wbig = [{"id": f"big-{mode}", "mode": mode, "kind": "random",
             "rows": int(rng.integers(9, 60)), "cols": int(rng.integers(20, 200)),
             "seed": int(rng.integers(1 << 30))} for mode in ("wgen_row", "wgen_col")]
    on_w = [{"id": f"{mode}-on-{w['id']}", "mode": mode, "wgen_of": w["id"],
             "mg": int(rng.integers(1, 3 * cfg.rows + 2)), "kind": "random",
             "seed": int(rng.integers(1 << 30))} for mode, w in zip(("ff", "bp"), wbig)]
    runs = [{"id": v["id"], "vectors": [v]} for v in vecs + big + wv + wbig]
    runs.append({"id": "pruned", "vectors": _link([wbig[0], on_w[0], wbig[1], on_w[1]])})
    runs.append({"id": "list", "base": 0x7FC0, "vectors": _link(
        [wbig[0], on_w[0], *vecs, wbig[1], *big, on_w[1], *wv])})
    runs.append({"id": "bad-op", "vectors": vecs[:3], "expect_status": STATUS["BAD_OPCODE"],
                 "corrupt": {"index": 1, "field": "op", "value": 9}})
    runs.append({"id": "bad-nm", "vectors": vecs[:3], "expect_status": STATUS["BAD_NM"],
                 "corrupt": {"index": 2, "field": "m", "value": cfg.m // 2}})
    runs.append({"id": "bad-steps", "vectors": vecs[:2], "expect_status": STATUS["BAD_STEPS"],
                 "corrupt": {"index": 0, "field": "steps", "value": cfg.max_steps + 1}})
    # the same checks stop a list at a weight generation; opcode 6 is the first unknown one
    runs.append({"id": "bad-op-6", "vectors": [wv[0], vecs[0], wv[3]],
                 "expect_status": STATUS["BAD_OPCODE"],
                 "corrupt": {"index": 2, "field": "op", "value": 6}})
    runs.append({"id": "bad-nm-wgen", "vectors": [vecs[0], wv[1], vecs[1]],
                 "expect_status": STATUS["BAD_NM"],
                 "corrupt": {"index": 1, "field": "m", "value": 2 * cfg.m}})
    runs.append({"id": "bad-steps-wgen", "vectors": [wv[2], vecs[0]],
                 "expect_status": STATUS["BAD_STEPS"],
                 "corrupt": {"index": 0, "field": "steps", "value": cfg.max_steps + 1}})
    runs.append({"id": "read-fault-wgen", "vectors": [vecs[0], wbig[0], vecs[1]],
                 "expect_status": STATUS["AXI_READ"], "fault": {"index": 1, "kind": "read"}})
    runs.append({"id": "write-fault-wgen", "vectors": [vecs[1], wbig[1], vecs[0]],
                 "expect_status": STATUS["AXI_WRITE"], "fault": {"index": 1, "kind": "write"}})
    runs += _hardening_runs(cfg, vecs, wv)
    return runs


def _hardening_runs(cfg, vecs, wv):
    """Issue 10 defects 2 and 3: descriptors with an address or stride off the AXI word
    (half a word: 0x1FF8-like addresses made the reader livelock), an unaligned
    ``cmd_list``, and a read error on a descriptor's own fetch.  Each must stop the list
    at that command with no data burst for it (``"bursts"``: the test checks the
    traffic)."""
    half = cfg.axi_data_bits // 16  # bytes: half an AXI word
    bad = STATUS["BAD_ADDRESS"]
    runs = []
    value = {"a_addr": 0x1FF8, "b_addr": 0x1FF8, "c_addr": 0x2000 + half,
             "a_stride": 4096 + half, "b_stride": half}
    for field, vectors, index in [
            ("a_addr", [vecs[0], vecs[1], vecs[2]], 0), ("b_addr", [vecs[1], vecs[0]], 1),
            ("c_addr", [vecs[2], vecs[0], vecs[1]], 2), ("a_stride", [vecs[3], vecs[1]], 1),
            ("b_stride", [vecs[0], vecs[3], vecs[2]], 1),
            # weight generations: their source and destination, and an unused field
            ("a_addr", [vecs[0], wv[0], vecs[1]], 1), ("c_addr", [wv[1], vecs[0]], 0),
            ("b_addr", [vecs[1], wv[2]], 1)]:
        runs.append({"id": f"bad-{field}-{vectors[index]['id']}", "vectors": vectors,
                     "expect_status": bad, "bursts": True,
                     "corrupt": {"index": index, "field": field, "value": value[field]}})
    runs.append({"id": "unaligned-cmd-list", "vectors": vecs[:2], "expect_status": bad,
                 "cmd_list_offset": half, "expect_err_cmd": 0, "expect_done": 0,
                 "bursts": True})
    # SLVERR on the beat(s) of command 1's result address: decoding them anyway wrote
    # to address 0 before the fix; SLVERR on all of command 0's descriptor
    runs.append({"id": "desc-fault-c-addr", "vectors": vecs[:3],
                 "expect_status": STATUS["AXI_READ"], "bursts": True,
                 "fault": {"index": 1, "kind": "desc", "field": "c_addr"}})
    runs.append({"id": "desc-fault-wgen", "vectors": [wv[0], vecs[0]],
                 "expect_status": STATUS["AXI_READ"], "bursts": True,
                 "fault": {"index": 0, "kind": "desc"}})
    return runs


def _check_stopped_before_traffic(cfg, run, got):
    """A list stopped at command ``ERR_CMD`` by its descriptor: the last burst of the run
    is that descriptor's fetch (no data read or written for it), or there is no burst
    at all when ``cmd_list`` itself was refused."""
    from sparseforge.sim.sat.kernel_bench import layout_run

    bursts = [tuple(b) for b in got["bursts"]]
    if run.get("cmd_list_offset"):
        assert bursts == [], run["id"]
        return
    _, _, cmd_addr = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
    fetch = ("r", cmd_addr + DESC_BYTES * got["err_cmd"], DESC_BYTES * 8 // cfg.axi_data_bits)
    assert fetch in bursts, run["id"]
    after = bursts[len(bursts) - bursts[::-1].index(fetch):]
    assert after == [], f"{run['id']}: traffic after the stopping descriptor: {after[:4]}"
    assert all(b[0] == "r" for b in bursts[bursts.index(fetch):]), run["id"]


def _training_list(cfg, seed):
    """A CommandList of one layer's step on the kernel's own pruned weights: W pruned
    row-wise and column-wise on chip, Y = X·Wfᵀ and dX = dY·Wb on the results, and
    the dense dW = dYᵀ·X."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.width - 1)), 1 << (cfg.width - 1)
    out, inn, batch = (int(v) for v in rng.integers(3, 5 * cfg.m, 3))
    w = rng.integers(lo, hi, (out, inn)).astype(np.int16 if cfg.width == 16 else np.int8)
    x = rng.integers(lo, hi, (batch, inn))
    dy = rng.integers(lo, hi, (batch, out))
    cl = CommandList(cfg)
    wf = cl.add_wgen(w, colwise=False)
    y = cl.add_pruned(x, wf)
    wb = cl.add_wgen(w, colwise=True)
    dx = cl.add_pruned(dy, wb)
    dw = cl.add(dy.T, x, "wu")
    return cl, (w, x, dy), (wf, y, wb, dx, dw)


def _wrap(c, cfg):
    return wrap(c, cfg.acc_bits)


KERNEL_CONFIGS = [
    SatConfig(),
    SatConfig(rows=8, cols=4, drain_rows=2, axi_data_bits=256, kernel_name="k8x4"),
    SatConfig(rows=4, cols=8, n=1, m=4, axi_data_bits=512, max_burst=16,
              steps_bits=8, kernel_name="k4x8"),
    # dense W records of 4 words for C = 2 groups: weight generation is read-bound
    SatConfig(rows=2, cols=2, n=4, m=16, width=16, max_burst=8, kernel_name="k2x2"),
]
KERNEL_IDS = ["4x4-2of8-128b", "8x4-drain2-256b", "4x8-1of4-512b", "2x2-4of16-w16-128b"]


@pytest.mark.slow
@pytest.mark.parametrize("cfg", KERNEL_CONFIGS, ids=KERNEL_IDS)
def test_kernel_bit_exact_and_cycle_model(cfg, tmp_path_factory):
    """Command lists through the AXI shell: bit-exact, errors reported, model within 2 %.

    Lists mix GEMMs, weight generations and GEMMs on the weights the kernel just
    generated; the last run is a :class:`CommandList` image (one layer's training step
    on one dense W) checked through ``CommandList.results``.  With the memory always
    ready the bound is ``max(2 %, 3 cycles)`` (as on the sampled configurations of
    ``test_sat_model_space.py``).  The long lists, an error run and the image run again
    with every AXI channel stalling (``Stalls()``, duty 0.25): still bit-exact with the
    same status, never faster than without stalls, and at most 30 % above the model of
    a stalled port (``MemoryPort.stalled(0.25)``).
    """
    from sparseforge.families.sat.contract import Descriptor as D
    from sparseforge.sim.lib.stalls import Stalls
    from sparseforge.sim.sat.kernel_bench import layout_run
    from sparseforge.sim.sat.kernel_perf import MemoryPort, list_cycles
    from sparseforge.sim.sat.verify import run_kernel_runs, with_stalls

    tmp = tmp_path_factory.mktemp("kernel")
    runs = _runs(cfg, seed=cfg.rows * 10 + cfg.cols)
    cl, (w, x, dy), (wf, y, wb, dx, dw) = _training_list(cfg, seed=cfg.cols)
    base = 0x40_0000
    img = cl.image(base)
    h = cl.header_bytes
    for job in cl.jobs:  # poison every result area: the kernel must write it all
        img[h + job.c_off:h + job.c_off + job.c_nbytes(cfg)] = 0xA5
    np.save(tmp / "cl.npy", img)
    runs.append({"id": "command-list", "image": {"path": str(tmp / "cl.npy"), "base": base,
                                                 "n_cmds": len(cl.jobs),
                                                 "dump": str(tmp / "cl_after.npy")}})
    stalls = Stalls()
    again = ("pruned", "list", "read-fault-wgen", "bad-nm", "command-list")
    runs = runs + with_stalls([r for r in runs if r["id"] in again], stalls,
                              seed=cfg.rows)[len(again):]
    dumps = [tmp / "cl_after.npy", tmp / "cl_after_stall.npy"]
    runs[-1]["image"] = {**runs[-1]["image"], "dump": str(dumps[1])}  # the image, stalled
    stalled_port = MemoryPort.stalled(stalls.duty)
    report = run_kernel_runs(cfg, tmp, runs)
    by_id = {r["id"]: r for r in report["runs"]}
    errors = []
    for run in runs:
        got = by_id[run["id"]]
        assert got["passed"], got
        assert got["ctrl_at_done"] & 0b1110 == 0b1110  # ap_done, ap_idle, ap_ready
        assert got["ctrl_after_read"] & 0b1010 == 0  # done / ready cleared on read
        if run.get("bursts"):
            _check_stopped_before_traffic(cfg, run, got)
        if "corrupt" in run:
            assert got["cmds_done"] == run["corrupt"]["index"]
            continue
        if "fault" in run:
            f = run["fault"]
            assert got["cmds_done"] == f["index"] + (f["kind"] != "desc")
            continue
        if "expect_done" in run:
            assert got["cmds_done"] == run["expect_done"]
            continue
        if "image" in run:
            descs = cl.descriptors(base)
        else:
            image, jobs, b0 = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
            raw = dict(image)[b0]
            descs = [D.unpack(raw[i * DESC_BYTES:(i + 1) * DESC_BYTES])
                     for i in range(len(jobs))]
        if "stalls" in run:  # memory back-pressure: slower, but bounded
            free = by_id[run["id"].removesuffix("@stall")]["cycles"]
            assert free <= got["cycles"] <= 1.3 * list_cycles(cfg, descs, stalled_port), got
            continue
        model = list_cycles(cfg, descs)
        errors.append((run["id"], model - got["cycles"], got["cycles"]))
        assert abs(model - got["cycles"]) <= max(0.02 * model, 3), run["id"]

    n, m = cfg.n, cfg.m
    w64 = w.astype(np.int64)
    wf_dense = nm.decompress(nm.compress(w64, n, m, axis=1))
    wb_dense = nm.decompress(nm.compress(w64, n, m, axis=0))
    for dump in dumps:  # the image run without and with stalls
        res = cl.results(np.load(dump))
        for idx, axis in ((wf, 1), (wb, 0)):
            want = nm.compress(w, n, m, axis=axis)
            assert res[idx].axis == axis and res[idx].shape == w.shape
            np.testing.assert_array_equal(res[idx].values, want.values)
            np.testing.assert_array_equal(res[idx].indices, want.indices)
            assert res[idx].values.dtype == w.dtype
        np.testing.assert_array_equal(res[y], _wrap(x @ wf_dense.T, cfg))
        np.testing.assert_array_equal(res[dx], _wrap(dy @ wb_dense, cfg))
        np.testing.assert_array_equal(res[dw], _wrap(dy.T @ x, cfg))
    print("model - RTL cycles:", ", ".join(f"{i} {e:+.1f}/{c}" for i, e, c in errors))


def test_command_list_layout():
    from sparseforge.families.sat.contract import CommandList

    cfg = SatConfig()
    rng = np.random.default_rng(1)
    cl = CommandList(cfg)
    shapes = [((9, 40), (40, 6), "ff"), ((5, 17), (17, 11), "wu"), ((4, 8), (8, 4), "bp")]
    for sa, sb, mode in shapes:
        cl.add(rng.integers(-128, 128, sa), rng.integers(-128, 128, sb), mode)
    base = 0x4000_0040
    img = cl.image(base)
    assert img.size == cl.nbytes and cl.nbytes % 64 == 0
    descs = cl.descriptors(base)
    assert [d.op for d in descs] == ["ff", "dense", "bp"]
    spans = []
    for d, job in zip(descs, cl.jobs):
        assert Descriptor.unpack(img[:64 * 3].tobytes()[64 * cl.jobs.index(job):]) == d
        a0, b0 = d.a_addr - base, d.b_addr - base
        np.testing.assert_array_equal(img[a0:a0 + job.a_bytes.size], job.a_bytes)
        np.testing.assert_array_equal(img[b0:b0 + job.b_bytes.size], job.b_bytes)
        spans += [(a0, a0 + job.a_bytes.size), (b0, b0 + job.b_bytes.size),
                  (d.c_addr - base, d.c_addr - base + result_bytes(cfg, d.tiles))]
    spans.sort()
    assert spans[0][0] >= 64 * 3 and spans[-1][1] <= cl.nbytes
    assert all(x[1] <= y[0] for x, y in itertools.pairwise(spans))  # no overlaps
    with pytest.raises(ValueError, match="not 64-byte aligned"):
        cl.descriptors(0x1004)
    with pytest.raises(ValueError, match="mode = 'sparse'"):
        cl.add(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8), "sparse")
    with pytest.raises(ValueError, match="outside -128..127"):
        cl.add(np.full((2, 2), 300), np.zeros((2, 2), np.int64), "wu")
    with pytest.raises(ValueError, match="buffer holds"):
        cl.results(np.zeros(64, np.uint8))


# --------------------------------------------------------------------------- weight generation

WGEN_CFGS = [SatConfig(), SatConfig(rows=8, cols=4, drain_rows=2, axi_data_bits=256),
             SatConfig(rows=4, cols=8, n=1, m=4, axi_data_bits=512, steps_bits=8),
             SatConfig(cols=3, n=3, m=4, width=16),
             SatConfig(rows=2, cols=2, n=4, m=16, width=16),
             # one column: the record reshape is a strided view (found by the config sampler)
             SatConfig(rows=1, cols=1, n=15, m=16, width=16, axi_data_bits=512)]


def test_opcodes_are_stable_and_wgen_descriptors_round_trip():
    assert OPCODES == {"dense": 1, "ff": 2, "bp": 3, "wgen_row": 4, "wgen_col": 5}
    cfg = SatConfig()
    w = np.zeros((9, 21), np.int8)
    for colwise, op, steps, tiles in ((False, "wgen_row", 3, 3), (True, "wgen_col", 2, 6)):
        plan = plan_wgen(cfg, w, colwise)
        assert (plan.steps, plan.col_tiles) == (steps, tiles)
        d = Descriptor.for_wgen(cfg, plan, 0x1_0000_0040, 0x2000)
        raw = d.pack()
        assert Descriptor.unpack(raw) == d and d.is_wgen
        words = np.frombuffer(raw, "<u4")
        assert list(raw[:4]) == [OPCODES[op], 2, 8, 0]  # op, n, m of the default 2:8
        assert list(words[1:4]) == [steps, 0, tiles]
        assert list(words[4:10]) == [0x40, 1, 0, 0, 0x2000, 0] and not words[10:].any()
    assert not Descriptor("ff", 2, 8, 1, 1, 1, 0, 0, 0, 0, 0).is_wgen


def _record_values(cfg, raw, records):
    """Dense records back to ``(records, C·M)`` signed values (the documented layout)."""
    geo = Geometry.of(cfg)
    rec = raw.reshape(records, geo.d_words * geo.word_bytes)[:, :geo.d_bits // 8]
    return rec.copy().view(f"<i{cfg.width // 8}").astype(np.int64)


@pytest.mark.parametrize("cfg", WGEN_CFGS, ids=lambda c: f"{c.rows}x{c.cols}-{c.n}of{c.m}"
                         f"-w{c.width}-{c.axi_data_bits}b")
@pytest.mark.parametrize("colwise", [False, True])
def test_wgen_records_are_tiles_of_w(cfg, colwise):
    """Record (tj, s) is W[tj·C:, s·M:] (C x M) row-wise, W[s·M:, tj·C:] (M x C)
    column-wise, row-major, zero-padded."""
    rng = np.random.default_rng(cfg.cols)
    w = rng.integers(-100, 100, (2 * cfg.cols + 1, 2 * cfg.m + 3))
    if colwise:
        w = w.T.copy()
    plan = plan_wgen(cfg, w, colwise)
    raw = pack_wgen_stream(cfg, w, colwise)
    assert raw.size == wgen_bytes(cfg, plan)[0]
    vals = _record_values(cfg, raw, plan.records)
    C, M = cfg.cols, cfg.m
    for tj in range(plan.col_tiles):
        for s in range(plan.steps):
            got = vals[tj * plan.steps + s]
            if colwise:
                want = np.zeros((M, C), np.int64)
                blk = w[s * M:(s + 1) * M, tj * C:(tj + 1) * C]
            else:
                want = np.zeros((C, M), np.int64)
                blk = w[tj * C:(tj + 1) * C, s * M:(s + 1) * M]
            want[:blk.shape[0], :blk.shape[1]] = blk
            np.testing.assert_array_equal(got, want.reshape(-1))


@pytest.mark.parametrize("cfg", WGEN_CFGS, ids=lambda c: f"{c.rows}x{c.cols}-{c.n}of{c.m}"
                         f"-w{c.width}-{c.axi_data_bits}b")
@pytest.mark.parametrize("colwise", [False, True])
def test_wgen_output_is_the_gemm_b_stream(cfg, colwise):
    """Pruning each record's C dense groups (rows row-wise, columns column-wise) with
    nm's rule gives the B stream a sparse GEMM on ``B = Wᵀ`` / ``B = W`` packs, and
    ``unpack_wgen_result`` reads back ``nm.compress``."""
    rng = np.random.default_rng(7)
    lo, hi = -(1 << (cfg.width - 1)), 1 << (cfg.width - 1)
    for shape in ((1, 1), (cfg.cols + 1, 3 * cfg.m - 1), (4 * cfg.m + 1, cfg.cols * 2)):
        w = rng.integers(lo, hi, shape)
        w[rng.random(shape) < 0.3] = 0
        plan = plan_wgen(cfg, w, colwise)
        vals = _record_values(cfg, pack_wgen_stream(cfg, w, colwise), plan.records)
        C, M = cfg.cols, cfg.m
        tiles = vals.reshape(plan.records, M, C).transpose(0, 2, 1) if colwise else \
            vals.reshape(plan.records, C, M)
        comp = nm.compress(tiles, cfg.n, M, axis=-1)  # (records, C, 1, N): one group each
        got_v = comp.values[:, :, 0].reshape(plan.col_tiles, plan.steps, C, cfg.n)
        got_i = comp.indices[:, :, 0].reshape(plan.col_tiles, plan.steps, C, cfg.n)
        b = w if colwise else w.T
        gemm = plan_gemm(cfg, np.zeros((1, b.shape[0]), np.int64), b, sparse=True)
        stream = pack_b_stream(cfg, gemm)
        assert stream.size == wgen_bytes(cfg, plan)[1]
        want_v, want_i = unpack_b_stream(cfg, stream, plan.col_tiles, plan.steps)
        np.testing.assert_array_equal(got_v.transpose(0, 2, 1, 3).reshape(want_v.shape), want_v)
        np.testing.assert_array_equal(got_i.transpose(0, 2, 1, 3).reshape(want_i.shape), want_i)
        back = unpack_wgen_result(cfg, plan, stream)
        ref = nm.compress(w, cfg.n, cfg.m, axis=0 if colwise else 1)
        np.testing.assert_array_equal(back.values, ref.values)
        np.testing.assert_array_equal(back.indices, ref.indices)
        assert (back.axis, back.shape) == (ref.axis, ref.shape)


@pytest.mark.parametrize(("w", "colwise", "match"), [
    (np.zeros((4, 8), np.float32), False, "dtype float32; allowed: an integer dtype"),
    (np.zeros((4, 8), bool), True, "dtype bool"),
    (np.zeros((2, 4, 8), np.int8), False, r"shape \(2, 4, 8\); allowed: a 2-D"),
    (np.zeros(8, np.int8), True, r"shape \(8,\); allowed: a 2-D"),
    (np.zeros((0, 8), np.int8), False, "allowed: at least one row and one column"),
    (np.full((2, 8), 128), False, r"outside -128..127 \(width = 8\)"),
    (np.zeros((2, 8), np.int8), 1, "colwise = 1; allowed: True"),
    (np.zeros((2, 255 * 8 + 1), np.int8), False, r"in \(w.shape\[1\]\) = 2041 needs "
     r"steps = 256 groups of m = 8; allowed: at most 255 \(steps_bits = 8\)"),
    (np.zeros((255 * 8 + 1, 2), np.int8), True, r"out \(w.shape\[0\]\) = 2041"),
])
def test_wgen_validation(w, colwise, match):
    cfg = SatConfig(steps_bits=8)
    cl = CommandList(cfg)
    with pytest.raises(ValueError, match=match):
        cl.add_wgen(w, colwise)
    assert not cl.jobs
    # the same W with a legal K and any other shape is taken, also not multiples of m
    cl.add_wgen(np.ones((3, 5), np.int8), True)


def test_command_list_with_weight_generation():
    """Offsets, descriptors and results of wgen jobs and GEMMs on their output."""
    cfg = SatConfig()
    geo = Geometry.of(cfg)
    rng = np.random.default_rng(5)
    w = rng.integers(-128, 128, (10, 27)).astype(np.int8)
    x, dy = rng.integers(-128, 128, (6, 27)), rng.integers(-128, 128, (6, 10))
    cl = CommandList(cfg)
    g0 = cl.add(x, w.T, "ff")
    wf = cl.add_wgen(w, colwise=False)
    y = cl.add_pruned(x, wf)
    wb = cl.add_wgen(w, colwise=True)
    dx = cl.add_pruned(dy, wb)
    base = 0x8000_0000
    descs = cl.descriptors(base)
    assert [d.op for d in descs] == ["ff", "wgen_row", "ff", "wgen_col", "bp"]
    h = base + cl.header_bytes
    for gen, gemm in ((wf, y), (wb, dx)):
        dg, dm = descs[gen], descs[gemm]
        assert dg.a_addr == h + cl.jobs[gen].a_off and dg.c_addr == h + cl.jobs[gen].c_off
        assert dm.b_addr == dg.c_addr and cl.jobs[gemm].source == gen
        assert (dm.steps, dm.col_tiles) == (dg.steps, dg.col_tiles)
        assert dm.b_stride == dg.steps * geo.b_words * geo.word_bytes
    img = cl.image(base)
    spans = []
    generated = {descs[g].c_addr: command_ranges(cfg, descs[g])["c"] for g in (wf, wb)}
    for d in descs:
        for key, (lo, hi) in command_ranges(cfg, d).items():
            assert base + cl.header_bytes <= lo < hi <= base + cl.nbytes
            if key == "b" and lo in generated:  # reads exactly what the wgen wrote
                assert (lo, hi) == generated[lo]
                continue
            spans.append((lo, hi))
        if d.is_wgen:
            lo, hi = command_ranges(cfg, d)["a"]
            j = cl.jobs[descs.index(d)]
            np.testing.assert_array_equal(img[lo - base:hi - base], j.a_bytes)
    spans = sorted(set(spans))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "ranges overlap"
    # a software kernel: write the golden outputs where the kernel would, then read back
    for j, d in zip(cl.jobs, descs):
        if j.wgen is not None:
            b = w if j.wgen.colwise else w.T
            stream = pack_b_stream(cfg, plan_gemm(cfg, np.zeros((1, b.shape[0]), int), b, True))
            img[d.c_addr - base:d.c_addr - base + stream.size] = stream
    res = cl.results(img)
    for idx, axis in ((wf, 1), (wb, 0)):
        ref = nm.compress(w, cfg.n, cfg.m, axis=axis)
        assert isinstance(res[idx], nm.NMTensor) and res[idx].values.dtype == np.int8
        np.testing.assert_array_equal(res[idx].values, ref.values)
        np.testing.assert_array_equal(res[idx].indices, ref.indices)
    assert res[g0].shape == res[y].shape == (6, 10) and res[dx].shape == (6, 27)
    with pytest.raises(ValueError, match=r"wgen = 0; allowed: the index of a weight "
                       r"generation of this list \(\[1, 3\]\)"):
        cl.add_pruned(x, g0)
    with pytest.raises(ValueError, match="wgen = 9"):
        cl.add_pruned(x, 9)
    with pytest.raises(ValueError, match="wgen = True"):
        cl.add_pruned(x, True)
    with pytest.raises(ValueError, match=r"A is \(6, 10\) and B is \(27, 10\)"):
        cl.add_pruned(dy, wf)  # the forward GEMM takes X[batch, in]
    with pytest.raises(ValueError, match="none yet"):
        CommandList(cfg).add_pruned(x, 0)


def test_wgen_model():
    """Generator-bound: C cycles a record; read-bound: d_words a record; monotone."""
    from sparseforge.sim.sat.kernel_perf import fixed_cycles

    cfg = SatConfig()  # d_words = 2 < C = 4
    d = Descriptor("wgen_row", 2, 8, 50, 0, 20, 0x1000, 0, 0x40000, 0, 0)
    cyc = command_cycles(cfg, d)
    assert 1000 * cfg.cols < cyc < 1000 * cfg.cols * 1.05
    assert command_cycles(cfg, d, MemoryPort(0.25, 0.25)) > 1000 * 2 / 0.25
    assert command_cycles(cfg, Descriptor("wgen_col", 2, 8, 0, 0, 0, 0, 0, 0, 0, 0)) == \
        fixed_cycles(cfg)
    rb = SatConfig(rows=2, cols=2, n=4, m=16, width=16)  # d_words = 4 > C = 2
    assert Geometry.of(rb).d_words == 4
    cyc = command_cycles(rb, Descriptor("wgen_col", 4, 16, 50, 0, 20, 0, 0, 0x40000, 0, 0))
    assert 4000 < cyc < 4000 * 1.05
