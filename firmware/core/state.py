"""StateStore: small named records that must survive a reboot (breaker state, settings).

``save`` is durable when it returns (the record is committed to NVM); ``load`` gives the last
committed value or None. The storage journal implements it; MemoryStateStore is for tests.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class StateStore(Protocol):
    def load(self, name: str) -> bytes | None: ...

    def save(self, name: str, data: bytes) -> None: ...


class MemoryStateStore:
    """Volatile StateStore (tests, tools): a dict."""

    def __init__(self):
        self._data: dict[str, bytes] = {}

    def load(self, name: str) -> bytes | None:
        return self._data.get(name)

    def save(self, name: str, data: bytes) -> None:
        self._data[name] = bytes(data)
