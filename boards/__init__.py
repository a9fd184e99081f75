"""Board data files (one TOML file per board); loaded by :mod:`sparseforge.board_registry`."""
