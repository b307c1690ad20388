"""sumame.tools."""
