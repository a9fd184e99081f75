"""Board-side drivers (PYNQ ``DefaultIP`` subclasses) and the simulated board.

This package must import on a PYNQ image with only numpy and pynq installed:
it never imports amaranth, jinja2, cocotb or torch.
"""
