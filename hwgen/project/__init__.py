"""Vivado / Vitis project emission from a kernel's register map (Jinja2 templates)."""
