"""The PIM core shared by the PIM families: golden FP arithmetic, the MAC unit."""
