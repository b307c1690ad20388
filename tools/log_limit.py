"""Rate-limited warnings: a flood of one kind of bad input (garbage datagrams, pushes from
unknown meters) costs one log line per ``every_s`` wall seconds, not one per datagram."""
from __future__ import annotations

import logging
import time
from typing import Callable


class LogLimit:
    """Log each ``kind`` at most once per ``every_s`` wall seconds; the next line that is logged
    says how many like it were held back in between."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.every_s, self.clock = logger, every_s, clock
        self._logged: dict[str, tuple[float, int]] = {}

    def warning(self, kind: str, message: str) -> bool:
        """Log ``message`` (WARNING) unless ``kind`` was logged less than ``every_s`` ago;
        True when it was logged."""
        now = self.clock()
        last, held = self._logged.get(kind, (now - self.every_s, 0))
        if now - last < self.every_s:
            self._logged[kind] = (last, held + 1)
            return False
        self._logged[kind] = (now, 0)
        self.logger.warning("%s%s", message, f" ({held} more like it not logged)" if held else "")
        return True
