"""Golden models, cycle-accurate performance models, cocotb benches and runners."""
