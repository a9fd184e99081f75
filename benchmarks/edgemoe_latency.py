"""Edge-MoE latency per image on ZCU102, ZCU104 and KV260, and the C-sim and render times.

Usage::

    python benchmarks/edgemoe_latency.py [--csim] [--top 3]

For each board: the modelled latency (:func:`sparseforge.sim.edgemoe.perf.latency`) of
the published defaults (4 lanes, 16x16 linear unit, the public design's choices),
then the fastest choices of lanes, linear tile, weight ports and weight-buffer memory that fit the
board's DSP, BRAM and UltraRAM budget (:func:`~sparseforge.sim.edgemoe.perf.check_fits`), or
why nothing fits.  ``--csim`` also times the rendering and one C-simulated image of
M3ViT-tiny (g++ build excluded, then included).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

from sparseforge.board_registry import get_board
from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.sim.edgemoe.perf import check_fits, latency, resources

BOARDS = ("zcu102", "zcu104", "kv260")
TARGET_MS = 15.0


def _row(board, cfg, note: str = "") -> str:
    lat = latency(cfg, board)
    res = resources(cfg)
    return (f"| {board.name} | {cfg.lanes}{note} | {cfg.tile_in}x{cfg.tile_out} | "
            f"{cfg.weight_ports} | {cfg.weight_storage} | {cfg.kv_storage} "
            f"| {lat.ms:.2f} | {res.dsp:,} / {board.resources.dsp:,} | {res.bram36} / "
            f"{board.resources.bram36} | {res.uram} / {board.resources.uram} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csim", action="store_true", help="also time render and C-sim")
    parser.add_argument("--top", type=int, default=3, help="fastest fitting choices per board")
    args = parser.parse_args(argv)
    print("| board | lanes P | tile in x out | weight ports | weight buffers | K, V | "
          "ms per image | DSP48E2 | BRAM36 | URAM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    status = 0
    for name in BOARDS:
        board = get_board(name)
        base = EdgeMoEConfig()
        print(_row(board, base, " (defaults)"))
        found = []
        for lanes, ti, to, wp, ws, kv in itertools.product(
                range(2, 17), (8, 16, 32), (8, 16, 32), (1, 2, 3, 4), ("bram", "uram"),
                ("bram", "uram")):
            cfg = EdgeMoEConfig(lanes=lanes, tile_in=ti, tile_out=to, weight_ports=wp,
                                weight_storage=ws, kv_storage=kv)
            try:
                check_fits(cfg, board)
                found.append((latency(cfg, board).ms, cfg))
            except ConfigError:
                continue
        found.sort(key=lambda x: (x[0], x[1].lanes, x[1].tile_in * x[1].tile_out))
        if not found:
            try:
                check_fits(EdgeMoEConfig(lanes=2, tile_in=8, tile_out=8, weight_ports=1), board)
            except ConfigError as exc:
                print(f"| {name} | nothing fits: {exc} | | | | | | | | |")
            continue
        for _, cfg in found[:args.top]:
            print(_row(board, cfg))
        if name == "zcu102" and found[0][0] > TARGET_MS:
            status = 1
    if args.csim:
        from sparseforge.hwgen.edgemoe.design import render_design
        from sparseforge.sim.edgemoe import weights as W
        from sparseforge.sim.edgemoe.csim import EdgeMoECsim

        cfg = EdgeMoEConfig()
        start = time.perf_counter()
        render_design(cfg, testbench=True)
        render_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            sim = EdgeMoECsim(cfg, tmp)
            build_s = time.perf_counter() - start
            raw = W.quantize(cfg, W.random_weights(cfg, 0))
            img = W.quantize_image(W.random_image(cfg, 0))
            start = time.perf_counter()
            sim.forward(img, raw, 0)
            run_s = time.perf_counter() - start
        print(f"\nrender {render_s * 1e3:.0f} ms; g++ build {build_s:.1f} s; one M3ViT-tiny "
              f"image in C-sim {run_s:.1f} s (inputs written, outputs read)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
