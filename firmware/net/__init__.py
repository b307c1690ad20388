"""sumame.firmware.net."""
