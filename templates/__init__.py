"""Jinja2 templates (package data): HLS C++, TCL, Makefiles, XML, notebooks."""
