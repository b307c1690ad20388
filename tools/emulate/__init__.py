"""``sumame emulate``: the runtime that puts the firmware on emulated hardware and serves it."""
