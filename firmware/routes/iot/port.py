"""What the IoT-route application needs from the meter's Enhanced HAN radio (a HAL port).

The radio module (a dual-stack B-route + Enhanced HAN part, emulated in
``drivers/emulated/iot/ehan.py``) does the MAC, 6LoWPAN, PANA/EAP-PSK and CCM* link security
itself, as such modules do; the firmware decides *who* may join and what their datagrams mean.
Addresses are terminal EUI-64s (8 bytes).
"""
from __future__ import annotations

from typing import Protocol


class IotRadioHost(Protocol):
    def iot_credential(self, addr: bytes) -> tuple[bytes, bytes] | None:
        """(terminal ID ASCII, 16-octet PSK) for a terminal asking to join, or None to refuse."""

    def iot_joined(self, addr: bytes, hops: int) -> None: ...

    def iot_left(self, addr: bytes, why: str) -> None: ...

    def iot_rx(self, addr: bytes, payload: bytes) -> None:
        """An authenticated application datagram (UDP to the application port) from ``addr``."""

    def iot_dropped(self, addr: bytes | None, why: str) -> None:
        """The radio dropped a frame (unknown terminal, bad MIC, replay, wrong port, routing)."""

    def iot_may_relay(self, addr: bytes) -> bool:
        """Whether admitted terminal ``addr`` may forward other terminals' frames."""


class IotRadio(Protocol):
    def open(self, host: IotRadioHost) -> None: ...

    def close(self) -> None:
        """Radio off (power down): every session is gone."""

    def send(self, addr: bytes, payload: bytes) -> bool:
        """An application datagram to a joined terminal; False when it has no session."""

    def cut(self, addr: bytes) -> None:
        """End ``addr``'s session now (cut-off); it can only come back through admission."""
