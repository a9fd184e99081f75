"""BDWP (bidirectional weight pruning): golden training GEMMs (NumPy) and PyTorch training.

* :mod:`sparseforge.sim.bdwp.golden` — forward / backward-data / weight-gradient GEMMs
  with the row-wise and column-wise N:M masks, integer (exact accumulator semantics)
  and float; the SAT RTL is checked against these.
* :mod:`sparseforge.sim.bdwp.torch_sparse` — ``sparsify(model, n, m, mode=...)``
  (imports torch).
* :mod:`sparseforge.sim.bdwp.trace` — training GEMMs of a torch model (imports torch).
"""
