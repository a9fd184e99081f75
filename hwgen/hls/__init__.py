"""HLS C++ rendering shared by the HLS families (Edge-MoE first, FlightLLM later).

A family's templates live in ``templates/hls/<family>/``; :class:`HlsDesign` renders
them from a checked context (every name a safe C++ identifier, numbers exact
integers).  ``templates/hls/common/`` holds sparseforge's own ``hls_stream.h`` (the
``hls::stream`` of C simulation) and ``sf_csim_io.h`` (testbench I/O, trip counters);
the C-simulation runner is :mod:`sparseforge.sim.lib.csim`.  Guide: ``docs/hls.md``.
"""

from .render import (
    COMMON_HEADERS,
    CppComment,
    CppType,
    HlsDesign,
    check_context,
    common_headers,
    render_hls,
)

__all__ = ["COMMON_HEADERS", "CppComment", "CppType", "HlsDesign", "check_context",
           "common_headers", "render_hls"]
