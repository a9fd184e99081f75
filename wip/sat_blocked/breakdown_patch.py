from pathlib import Path
p = Path("/work/main/sim/sat/kernel_perf.py"); s = p.read_text()
# 1. _gemm_cycles takes parts
s = s.replace('''def _gemm_cycles(cfg: SatConfig, desc: Descriptor, port: MemoryPort, k: GemmConstants) -> float:
    """Cycles of one GEMM command (see the module docstring)."""''',
'''def _gemm_cycles(cfg: SatConfig, desc: Descriptor, port: MemoryPort, k: GemmConstants,
                 parts: dict | None = None) -> float:
    """Cycles of one GEMM command (see the module docstring); ``parts``, if given, gets
    them added by :data:`PARTS`."""''')
s = s.replace('''    if desc.tiles == 0:
        return fixed
    mode = desc.out_mode''', '''    if desc.tiles == 0:
        _add(parts, fill_drain=fixed)
        return fixed
    mode = desc.out_mode''')
old = '''        spacing = max(cfg.tile_period(sc), out_gap if last else 0)
        first_e = done + k.feed + max(sc, 1) - 1
        if e is not None:
            first_e = max(first_e, e + spacing, e + sc + 1 + BLOCK_GAP)
        e = first_e + (rows * cols - 1) * spacing
'''
new = '''        period = cfg.tile_period(sc)
        spacing = max(period, out_gap if last else 0)
        first_e = done + k.feed + max(sc, 1) - 1
        if e is None:
            _add(parts, fill_drain=first_e - spacing)
        else:
            turn = max(e + spacing, e + sc + 1 + BLOCK_GAP)
            _add(parts, block_switch=turn - e - spacing, block_load=max(0.0, first_e - turn))
            first_e = max(first_e, turn)
        _add(parts, engine=rows * cols * period, result_write=rows * cols * (spacing - period))
        e = first_e + (rows * cols - 1) * spacing
'''
assert old in s; s = s.replace(old, new)
old = '''    drain = C + R + 1 + (REQUANT_LATENCY if mode else 0)  # last step -> last result beat
    end = e + drain + k.tail * sd
    for beats in port_beats(cfg):
        words = desc.tiles * beats * r_words
        if words:
            last_burst = burst_plan(desc.c_addr, words, geo.word_bytes, cfg.max_burst, 1)[1][-1]
            end = max(end, e + drain + (k.tail + last_burst) * sd,
                      _write_bound(written, beats * r_words, words, cfg, desc.c_addr,
                                   geo.word_bytes, port)
                      + drain + (k.tail - 1) * sd)
    return fixed + end
'''
new = '''    drain = C + R + 1 + (REQUANT_LATENCY if mode else 0)  # last step -> last result beat
    end = tail = e + drain + k.tail * sd
    for beats in port_beats(cfg):
        words = desc.tiles * beats * r_words
        if words:
            last_burst = burst_plan(desc.c_addr, words, geo.word_bytes, cfg.max_burst, 1)[1][-1]
            tail = max(tail, e + drain + (k.tail + last_burst) * sd)
            end = max(end, tail, _write_bound(written, beats * r_words, words, cfg, desc.c_addr,
                                              geo.word_bytes, port) + drain + (k.tail - 1) * sd)
    _add(parts, fill_drain=fixed + tail - e, result_write=end - tail)
    return fixed + end


#: The parts :func:`command_parts` splits a command's cycles into.
PARTS = {
    "engine": "the engine's tiles back to back (tile_period of each tile's steps)",
    "fill_drain": "per command: descriptor, decode, Q table, the first block's loads, the "
                  "array's fill, the last results' drain and write",
    "block_switch": "the feeder's turn-around from one block to the next",
    "block_load": "the engine waiting for a block's operands (loads, reloads of B)",
    "result_write": "tiles spaced by their result beats, or the writer behind",
    "weight_gen": "weight generation commands",
}


def _add(parts: dict | None, **cycles: float) -> None:
    if parts is not None:
        for key, n in cycles.items():
            parts[key] = parts.get(key, 0.0) + n
'''
assert old in s; s = s.replace(old, new)
old = '''def command_cycles(cfg: SatConfig, desc: Descriptor, port: MemoryPort | None = None,
                   constants: GemmConstants = GEMM) -> float:
    """Cycles of one command on the kernel (see the module docstring)."""
    port = port or MemoryPort()
    if desc.is_wgen:
        return _wgen_cycles(cfg, desc, port)
    return _gemm_cycles(cfg, desc, port, constants)
'''
new = old + '''

def command_parts(cfg: SatConfig, desc: Descriptor, port: MemoryPort | None = None,
                  constants: GemmConstants = GEMM) -> dict[str, float]:
    """:func:`command_cycles` split into :data:`PARTS` (cycles; they add up to it)."""
    port = port or MemoryPort()
    if desc.is_wgen:
        return {"weight_gen": _wgen_cycles(cfg, desc, port)}
    parts: dict[str, float] = {}
    _gemm_cycles(cfg, desc, port, constants, parts)
    return parts
'''
assert old in s; s = s.replace(old, new)
s = s.replace('''__all__ = ["BLOCK_GAP", "FIXED_CYCLES", "GEMM", "LIST_CYCLES", "READ_LOOP_CYCLES",
           "GemmConstants", "MemoryPort", "block_walk", "burst_plan", "command_cycles",''',
'''__all__ = ["BLOCK_GAP", "FIXED_CYCLES", "GEMM", "LIST_CYCLES", "PARTS", "READ_LOOP_CYCLES",
           "GemmConstants", "MemoryPort", "block_walk", "burst_plan", "command_cycles",
           "command_parts",''')
p.write_text(s)
print("patched")
