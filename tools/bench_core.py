"""Core benchmarks: virtual-time simulation speed and scheduler overhead."""
BENCHES = []
