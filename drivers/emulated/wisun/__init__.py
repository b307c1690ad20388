"""Emulated Wi-SUN dongles (SKSTACK IP dialects, BP35C0-J11), their stack on the virtual air, ptys."""
