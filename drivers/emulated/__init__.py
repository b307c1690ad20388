"""sumame.drivers.emulated."""
