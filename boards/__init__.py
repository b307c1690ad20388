"""sumame.boards."""
