"""uvicorn's h11 protocol with a request deadline against slow clients (slowloris).

uvicorn closes a connection that is idle *after* a response (keep-alive timeout), but waits
forever for the first request's headers, and a client that trickles a header line every few
seconds resets even the keep-alive timer. Here each connection must deliver a complete request
head within ``HEADER_TIMEOUT_S`` s of connecting or of its previous response, or it is closed.
"""
from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("sumame.mdms")
HEADER_TIMEOUT_S = 10.0


class DeadlineH11Protocol(H11Protocol):
    header_timeout_s = HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:   # type: ignore[override]
        super().connection_made(transport)
        self._deadline = None
        self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired, self.cycle)

    def _expired(self, cycle_then) -> None:
        # no new request head since armed (the cycle object is the same) and nothing running
        if self.cycle is cycle_then and (self.cycle is None or self.cycle.response_complete):
            if not self.transport.is_closing():
                log.info("closing %s: no complete request within %.0f s", self.client, self.header_timeout_s)
                self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)


def protocol(header_timeout_s: float) -> type[DeadlineH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline (s)."""
    return type("DeadlineH11", (DeadlineH11Protocol,), {"header_timeout_s": float(header_timeout_s)})
