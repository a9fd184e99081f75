"""Generators: design config -> Amaranth RTL / rendered HLS C++ / project files."""
