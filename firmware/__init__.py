"""sumame.firmware."""
