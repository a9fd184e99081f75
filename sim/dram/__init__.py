"""The DRAM / PIM core: devices as data, timing, controller, traces, checker.

See docs/designs/dram.md.  Everything is in cycles of the command clock tCK.
"""
