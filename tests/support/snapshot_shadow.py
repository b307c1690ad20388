"""Keep a test's own copy of every snapshot a meter captures (minute -> Snapshot), so what the
meter later serves from its history can be compared with what it captured while it ran."""


def shadow_snapshots(meter) -> dict:
    """Wrap ``meter.registers.add``; returns the dict it fills (the newest snapshot per minute)."""
    shadow = {}
    add = meter.registers.add

    def tracked(snap):
        shadow[snap.minute] = snap
        add(snap)
    meter.registers.add = tracked
    return shadow
