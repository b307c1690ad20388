"""Emulated non-volatile parts: NOR flash with wear and tears, compact fleet Nvm, monotonic counter."""
