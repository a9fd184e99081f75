"""The kernel shell: AXI4-Lite ap_ctrl_hs control slave, AXI4 burst master, SAT kernel top."""
