"""CLI glue of each design family (imports generators and simulators lazily)."""
