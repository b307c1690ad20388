"""Storage: the append-only journal on NOR flash, its index, and the store above it."""
