"""Design configurations, one frozen and validated dataclass per design family."""

from .sat import SatConfig

__all__ = ["SatConfig"]
