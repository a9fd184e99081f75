import json, sys, time
from pathlib import Path
import shim
kernel_verilog = shim.k.kernel_verilog
HERE = str(Path(__file__).resolve().parent)
from sparseforge.sim.lib.cocotb_runner import run_cocotb
from sparseforge.sim.sat.verify import KERNEL_WAIVERS
from sparseforge.sim.lib.verilator_lint import amaranth_waivers
def run(cfgd, vectors, stalls=None, tag="d"):
    cfg = shim.Cfg(**cfgd)
    bd = Path(f"/tmp/dbg_{tag}"); (bd / "rtl").mkdir(parents=True, exist_ok=True)
    src = bd / "rtl" / f"{cfg.kernel_name}.v"
    t = kernel_verilog(cfg)
    if not src.exists() or src.read_text() != t: src.write_text(t)
    spec = bd / "spec.json"; rep = bd / "rep.json"
    if rep.exists(): rep.unlink()
    spec.write_text(json.dumps({"config": cfgd, "vectors": vectors, "stalls": stalls, "report": str(rep)}))
    t0 = time.time()
    r = run_cocotb(sources=[src], toplevel=cfg.kernel_name, test_module="dbg_bench", build_dir=bd / "sim", test_dir=HERE,
                   simulator="verilator", extra_env={"DBG_SPEC": str(spec), "PYTHONPATH": HERE},
                   waivers=amaranth_waivers(src, KERNEL_WAIVERS))
    print(tag, time.time() - t0, rep.read_text() if rep.exists() else "NO REPORT", r.failures)
