"""Every typed message Tocsin's actors exchange: pure data, no I/O."""

__all__: list[str] = []
