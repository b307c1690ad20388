"""sumame.drivers."""
