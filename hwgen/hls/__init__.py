"""Jinja2 HLS C++ rendering and Vitis HLS project emission (shared by the HLS families).

Empty until the first HLS family (Edge-MoE) lands; templates will live in
``templates/hls/<family>/``.
"""
