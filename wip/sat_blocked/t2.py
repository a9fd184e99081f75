import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run_dbg, shim
from sparseforge.sim.sat.engine_perf import gemm_cycles
import sys as _s, pathlib as _p; _s.path.insert(0, str(_p.Path(__file__).resolve().parent))
P = int(sys.argv[1]); st = sys.argv[2] == "1"
vec = eval(sys.argv[3]); cfgd = eval(sys.argv[4])
run_dbg.run(cfgd, [vec], stalls={} if st else None, tag=f"m{P}")
cfg = shim.Cfg(**cfgd)
sp = vec['mode'] != 'wu'
print("engine", gemm_cycles(cfg, vec['mg'], vec['k'], vec['ng'], sp))
from sparseforge.families.sat.schedule import tile_steps
S = tile_steps(cfg, vec['k'], sp); TI=-(-vec['mg']//cfg.rows); TJ=-(-vec['ng']//cfg.cols)
print("S", S, "TI", TI, "TJ", TJ, shim.plan_blocks(cfg, S, TI, TJ))
