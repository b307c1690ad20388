"""RadioModem: the Wi-SUN (920 MHz, route B) modem the meter's comms unit drives.

Two roles share one contract:

* meter side (PAA, coordinator): ``set_credentials`` -> ``start_pan`` -> ``poll()`` yields
  ``SessionJoined`` / ``AuthFailed`` / ``SessionTerminated`` / ``SessionExpired`` and
  ``UdpReceived`` datagrams from the home; ``send_udp`` answers (ECHONET Lite on UDP 3610).
* HEMS side (PaC): ``set_credentials`` -> ``scan`` (``PanFound`` ..., ``ScanDone``) -> ``join``
  -> ``send_udp`` / ``UdpReceived`` -> ``terminate``.

Every command method is **non-blocking**: it queues the command and returns a ``Ticket``; the
modem works through its queue as the device answers. ``poll(now)`` reads whatever the device
has sent (never blocks) and returns the events; a scheduler task does
``await readable(modem, timeout)`` then ``modem.poll(clock.now())``. ``Ticket.wait(timeout)``
is the blocking form for simple tools and tests.

Addresses are text as the dongle prints them: IPv6 in full uppercase colon form
(``FE80:0000:0000:0000:021D:1290:1234:5678``), MAC/EUI-64 as 16 uppercase hex digits. Ports
are UDP port numbers (716 PANA, 3610 ECHONET Lite). Times are seconds (epoch or durations).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class UdpReceived:
    """A UDP datagram delivered by the modem (ERXUDP).

    secured: True when the link frame was protected (802.15.4 CCM*).
    lqi: link quality 0-255 when the modem reports it (C2 dialect with SA2=1), else None.
    """

    src: str
    dst: str
    src_port: int
    dst_port: int
    src_mac: str
    secured: bool
    payload: bytes
    lqi: int | None = None
    side: int | None = None


@dataclass(frozen=True)
class UdpSent:
    """Result of one send (EVENT 21). result 0 = sent, 1 = failed, 2 = neighbour solicitation
    sent first (the data follows once the address is resolved)."""

    dst: str
    result: int

    @property
    def ok(self) -> bool:
        return self.result in (0, 2)


@dataclass(frozen=True)
class PanFound:
    """A beacon heard during an active scan (EVENT 20 + EPANDESC).

    channel: SKSTACK logical channel 33-60; pan_id 0-0xFFFE; mac: the coordinator's EUI-64;
    lqi 0-255 (RSSI dBm = 0.275 * lqi - 104.27); pairing_id: 8 characters or None.
    """

    channel: int
    channel_page: int
    pan_id: int
    mac: str
    lqi: int
    pairing_id: str | None = None
    side: int | None = None


@dataclass(frozen=True)
class ScanDone:
    """The active scan finished (EVENT 22)."""


@dataclass(frozen=True)
class SessionJoined:
    """A PANA session is up with ``peer`` (EVENT 25); link traffic is now encrypted."""

    peer: str


@dataclass(frozen=True)
class AuthFailed:
    """PANA authentication failed or was refused (EVENT 24 at the PaC; at the PAA a wrong
    password or a refused second PaC). Security-relevant at the meter."""

    peer: str
    reason: str = ""


@dataclass(frozen=True)
class SessionTerminated:
    """The session ended: by_peer (EVENT 26), after our own SKTERM (EVENT 27) or with the peer
    silent (EVENT 28, timed_out=True)."""

    peer: str
    by_peer: bool = False
    timed_out: bool = False


@dataclass(frozen=True)
class SessionExpired:
    """The session lifetime lapsed without re-authentication (EVENT 29)."""

    peer: str


@dataclass(frozen=True)
class TxLimit:
    """ARIB STD-T108 total transmit-time limit: active=True (EVENT 32, sends are refused until
    released) or False (EVENT 33)."""

    active: bool


@dataclass(frozen=True)
class CommandFailed:
    """A queued command failed (``FAIL ERxx``, timeout or port error); ``error`` is the typed
    CommsError the ticket holds."""

    command: str
    error: Exception


@dataclass(frozen=True)
class ModemNotice:
    """Anything else the modem reported that the firmware may log (NA received, ping ...)."""

    text: str


RadioEvent = (UdpReceived | UdpSent | PanFound | ScanDone | SessionJoined | AuthFailed
              | SessionTerminated | SessionExpired | TxLimit | CommandFailed | ModemNotice)


@dataclass(frozen=True)
class RadioIdentity:
    """What the modem says about itself. dialect: "se" (BP35A1 / RL7023 IPS) or "c2"
    (BP35C2 / RS-WSUHA-P / RL7023 DSS)."""

    mac: str
    link_local: str
    version: str
    dialect: str
    channel: int | None = None
    pan_id: int | None = None


# --------------------------------------------------------------------------- tickets


@runtime_checkable
class Ticket(Protocol):
    """A queued command. ``done`` once answered; ``error`` holds the typed CommsError on failure;
    ``lines`` the response lines (for queries). ``wait(timeout_s)`` blocks (tools/tests only)
    and raises the error."""

    command: str
    done: bool
    error: Exception | None
    lines: list[str]

    def wait(self, timeout_s: float = 10.0) -> "Ticket": ...


# --------------------------------------------------------------------------- the modem


@runtime_checkable
class RadioModem(Protocol):
    """A route-B Wi-SUN modem (SKSTACK IP dongle or equivalent). See the module docstring."""

    def fileno(self) -> int:
        """Descriptor that becomes readable when the modem has output (for ``readable()``)."""
        ...

    def poll(self, now: float | None = None) -> list[RadioEvent]:
        """Read what the device sent (non-blocking), advance the command queue, return events.
        ``now`` (epoch s) is used for command timeouts; None = the driver's own clock."""
        ...

    def identify(self) -> RadioIdentity:
        """Blocking query at start-up (SKVER, SKINFO): MAC, link-local address, dialect."""
        ...

    # --- both roles
    def reset(self) -> Ticket: ...

    def set_credentials(self, rbid: str, password: str) -> Ticket:
        """Route-B ID (32 characters) and password (12 characters); the PSK comes from them."""
        ...

    def send_udp(self, dst: str, port: int, payload: bytes, *, secured: bool = True,
                 handle: int = 1) -> Ticket:
        """Send ``payload`` (1..1232 octets) to ``dst``:``port`` from the handle's local port
        (handle 1 = 3610). secured=True: only over an authenticated session (SEC 1)."""
        ...

    def terminate(self) -> Ticket:
        """End the PANA session (SKTERM); SessionTerminated follows."""
        ...

    # --- meter role (PAA)
    def start_pan(self, channel: int, pan_id: int, *, lifetime_s: int = 900,
                  auto_reauth: bool = True) -> Ticket:
        """Become the coordinator + PAA on ``channel`` (33-60) with ``pan_id``; grant sessions
        of ``lifetime_s`` seconds (>= 60)."""
        ...

    # --- HEMS role (PaC)
    def scan(self, duration: int = 6, channel_mask: int = 0xFFFFFFFF) -> Ticket:
        """Active scan with the pairing ID (mode 2); PanFound events then ScanDone. Per-channel
        dwell 0.01 s * (2**duration + 1); bit 0 of the mask = channel 33."""
        ...

    def join(self, pan: PanFound) -> Ticket:
        """Set channel and PAN ID from ``pan`` and start PANA (SKJOIN); SessionJoined or
        AuthFailed follows."""
        ...

    def close(self) -> None: ...


__all__ = [
    "AuthFailed", "CommandFailed", "ModemNotice", "PanFound", "RadioEvent", "RadioIdentity",
    "RadioModem", "ScanDone", "SessionExpired", "SessionJoined", "SessionTerminated", "Ticket",
    "TxLimit", "UdpReceived", "UdpSent",
]
