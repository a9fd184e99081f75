"""SAT: test vectors, cocotb benches, cycle models, workload models, the regression.

======================  ===============================================================
module                  what it holds
======================  ===============================================================
``vectors``             random GEMM / weight-generation vectors with golden results
``engine_bench``        cocotb bench of the engine (``hwgen.sat.engine``)
``wgen_bench``          cocotb bench of the weight generator
``kernel_bench``        cocotb bench of the whole AXI kernel (``hwgen.sat.kernel``)
``engine_perf``         cycle model of the engine (tile period, GEMM cycles)
``kernel_perf``         cycle model of the kernel (command lists over AXI)
``workload``            architecture model of a training step on a board
``kernel_workload``     the generated kernel's step time on the board's memory
``verify``              the regression ``sparseforge verify sat`` runs
======================  ===============================================================

The golden model is :mod:`sparseforge.sim.bdwp` (BDWP arithmetic, written from the maths).
"""
