import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run_dbg
vecs = [{'id':'a','mg':21,'k':150,'ng':19,'mode':'ff','kind':'random','seed':1},
        {'id':'b','mg':13,'k':77,'ng':30,'mode':'wu','kind':'random','seed':2},
        {'id':'c','mg':9,'k':200,'ng':9,'mode':'bp','kind':'random','seed':3, 'blocks':[2,1,8]},
        {'id':'w','mode':'wgen_row','kind':'random','rows':13,'cols':70,'seed':4},
        {'id':'w2','mode':'wgen_col','kind':'random','rows':30,'cols':21,'seed':5},
        {'id':'z','mg':5,'k':3,'ng':5,'mode':'wu','kind':'random','seed':6}]
import sys as _s, pathlib as _p; _s.path.insert(0, str(_p.Path(__file__).resolve().parent))
P = int(sys.argv[1]); st = sys.argv[2] == "1"
cfg = {"mem_ports": P, "a_buf": 8 * P if P > 1 else 16, "b_buf": 12 * P if P > 1 else 16, "c_buf": 3}
if len(sys.argv) > 3: cfg.update(eval(sys.argv[3]))
run_dbg.run(cfg, vecs, stalls={} if st else None, tag=f"p{P}{'s' if st else ''}{len(sys.argv)}")
