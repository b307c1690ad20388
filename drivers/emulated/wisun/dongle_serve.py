"""Serving an emulated dongle: on a pseudo-terminal (with a stable symlink) or in-process.

* ``PtyEndpoint(dongle, link_path)``: opens a pty in raw mode; the slave path (and the symlink
  ``link_path`` pointing to it, if given) is what HEMS software opens like ``/dev/ttyUSB0``.
  Every open and close of the slave by the host is seen with inotify (``pty_watch``; in order,
  so a close followed at once by a reopen is not missed); on each close the dongle's
  half-received line or frame is dropped (``host_closed()``), output is discarded while nobody
  has the port open (as a USB serial port loses it), and reading resumes on the reopen. Where
  inotify is unavailable the endpoint falls back to polling the master for the hang-up it shows
  while the slave is closed (``poll_host()``, called by the runner; a zero-gap reopen can slip
  through). Limit of the pty itself: bytes the host wrote before closing that the emulator had
  not read yet when the host reopened and wrote again cannot be told apart from the new ones.
* ``InProcessPort(dongle, timeline)``: a pyserial-compatible object for tests: ``write()`` feeds
  the dongle at once; ``read()`` runs the emulated world (timeline) until bytes arrive or the
  port ``timeout`` passes — in virtual time this is deterministic and instant.
* ``EmulationRunner(timeline)``: a thread that drives the timeline in real time and serves pty
  endpoints and the air hub socket (select + next timer deadline).
"""
from __future__ import annotations

import os
import pty
import select
import selectors
import threading
import tty
from typing import Callable

import logging

import serial

from ..timeline import Timeline
from .pty_watch import CLOSE, OPEN, OVERFLOW, SlaveWatch

log = logging.getLogger("sumame.drivers.emulated.wisun.dongle_serve")
_fallback_logged = False

if "sumame.drivers.emulated" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("sumame.drivers.emulated")   # sumame:// URLs


class InProcessPort:
    """The subset of ``serial.Serial`` the SKSTACK driver uses, wired to an emulated dongle."""

    def __init__(self, dongle, timeline: Timeline, timeout: float | None = 1.0):
        self.dongle, self.timeline = dongle, timeline
        self.timeout = timeout
        self.port = f"inprocess://{dongle.name}"
        self.is_open = True
        self._rx = bytearray()
        dongle.attach_sink(self._rx.extend)

    def _check(self) -> None:
        if not self.is_open:
            raise serial.PortNotOpenError()
        if self.dongle.unplugged:
            raise serial.SerialException(f"{self.port}: device unplugged")

    def write(self, data: bytes) -> int:
        self._check()
        self.dongle.feed(bytes(data))
        return len(data)

    def flush(self) -> None:
        self._check()

    @property
    def in_waiting(self) -> int:
        self._check()
        self.timeline.run_due()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        self._check()
        if len(self._rx) < size:
            if self.timeout is None:
                raise serial.SerialException("in-process port needs a finite timeout")
            self.timeline.advance(self.timeline.now() + self.timeout, lambda: len(self._rx) >= size)
        self._check()
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def reset_input_buffer(self) -> None:
        self._rx.clear()

    def fileno(self) -> int:
        raise OSError("in-process port has no file descriptor; poll it")

    def close(self) -> None:
        self.is_open = False
        self.dongle.attach_sink(None)
        self.dongle.host_closed()          # as on a pty: a half-sent line does not survive


class PtyEndpoint:
    """An emulated dongle on a pseudo-terminal. ``path`` = the slave device (or the symlink)."""

    def __init__(self, dongle, link_path: str | None = None):
        self.dongle = dongle
        self.link_path = link_path
        self.dropped_octets = 0
        self._open()

    def _open(self) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(self.master, False)
        self.slave_name = os.ttyname(slave)
        os.close(slave)                  # only the host holds the slave: its close is visible
        self._slave = -1
        self.host_open = False
        self.host_closes = 0
        self.watch = SlaveWatch.start(self.slave_name)    # before anyone can know the path
        if self.watch is None:
            _log_fallback(SlaveWatch.unavailable)
        if self.link_path:
            tmp = f"{self.link_path}.tmp{os.getpid()}"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.slave_name, tmp)
            os.replace(tmp, self.link_path)
            if self.watch is not None:
                try:
                    self.watch.add(self.link_path)   # the link's target: the same slave inode
                except OSError as exc:
                    log.warning("%s: cannot watch %s: %s", self.dongle.name, self.link_path, exc)
        self.host_watch = _HostWatch(self) if self.watch is not None else None
        self.dongle.attach_sink(self._write)

    @property
    def path(self) -> str:
        return self.link_path or self.slave_name

    def _write(self, data: bytes) -> None:
        """Output towards the host. When nobody reads and the tty buffer is full, the rest is
        dropped and counted (``dropped_octets``), as a USB serial link loses it; the emulation
        never blocks on a host that is not listening. Nothing is kept while the port is closed."""
        if not (self.host_open if self.watch is not None else self.poll_host()):
            self.dropped_octets += len(data)
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                self.dropped_octets += len(view)
                return
            except OSError:
                return
            view = view[n:]

    def fileno(self) -> int:
        """The master while the host has the port open (select it), else -1."""
        return self.master if self.poll_host() else -1

    def poll_host(self) -> bool:
        """Is the port open on the host side? Applies the host's opens and closes seen since the
        last call (inotify), else polls the master (a closed slave shows as POLLHUP on it)."""
        if self.master < 0:
            return False
        if self.watch is not None:
            self._host_events()
            return self.host_open
        p = select.poll()
        p.register(self.master, select.POLLIN)
        try:
            hung_up = any(ev & select.POLLHUP for _, ev in p.poll(0))
        except OSError:
            hung_up = True
        if hung_up and self.host_open:
            self._on_host_closed()
        elif not hung_up and not self.host_open:
            self.host_open = True
        return self.host_open

    def _host_events(self) -> None:
        """Apply the watched opens and closes in order; each close of the slave ends a session:
        bytes still buffered from before it are fed first, then the dongle drops its half line
        or frame. (inotify merges identical events queued back to back, so opens and closes are
        not counted: the port stays open after a close while another handle of the host keeps
        the master from hanging up.) Bytes read while the host may already have reopened (an
        open event seen with them) are taken as the new session's: the emulator reads promptly,
        so the closed session's bytes were normally read before its close."""
        events = self.watch.read()
        carry = b""
        closed = False
        i = 0
        while i < len(events):
            ev = events[i]
            i += 1
            if ev == OPEN:
                self.host_open = True
                if carry:
                    data, carry = carry, b""
                    self.dongle.feed(data)
            elif ev == CLOSE:
                closed = True
                rest = b""
                if OPEN not in events[i:]:
                    rest = self._read_master()
                    more = self.watch.read()           # did a reopen come before that read?
                    events.extend(more)
                    if rest and OPEN in more:
                        rest, carry = b"", rest
                self._on_host_closed(rest)
            elif ev == OVERFLOW:          # events were lost: one close may be among them
                log.warning("%s: inotify queue overflowed; line buffer cleared", self.dongle.name)
                closed = True
                self._on_host_closed(b"")
        if closed and not self.host_open and not self._hung_up():
            self.host_open = True         # another handle (or a reopen not reported yet)
        if carry and self.host_open:
            self.dongle.feed(carry)

    def _read_master(self, limit: int = 65536) -> bytes:
        """What the master has buffered now (up to ``limit`` octets; never blocks)."""
        data = b""
        while len(data) < limit:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def _hung_up(self) -> bool:
        p = select.poll()
        p.register(self.master, select.POLLIN)
        try:
            return any(ev & select.POLLHUP for _, ev in p.poll(0))
        except OSError:
            return True

    def _on_host_closed(self, rest: bytes | None = None) -> None:
        """The host's session ended: ``rest`` (read now if None) is what it wrote before closing
        and still counts; then the dongle drops its half line or frame."""
        if rest is None:
            rest = self._read_master()
        self.host_open = False            # output for those bytes goes nowhere
        self.host_closes += 1
        if rest:
            self.dongle.feed(rest)
        self.dongle.host_closed()

    def on_readable(self) -> None:
        if self.watch is not None:
            self._host_events()           # a close/reopen applies before the bytes after it
            if not self.host_open:
                return
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:                   # EIO: the host closed the port
            if self.host_open and self.watch is None:
                self._on_host_closed()
            return
        if data:
            self.dongle.feed(data)

    def unplug(self) -> None:
        """Fault: the USB device disappears (the pty closes; opened handles get errors)."""
        self.dongle.unplug()
        self.close(remove_link=False)

    def replug(self) -> None:
        self.dongle.replug()
        self._open()

    def close(self, remove_link: bool = True) -> None:
        self.dongle.attach_sink(None)
        if self.master >= 0:
            try:
                os.close(self.master)
            except OSError:
                pass
        self.master = self._slave = -1
        self.host_open = False
        if self.watch is not None:
            self.watch.close()
            self.watch = self.host_watch = None
        if remove_link and self.link_path and os.path.islink(self.link_path):
            os.unlink(self.link_path)


class _HostWatch:
    """The endpoint's inotify descriptor as a runner endpoint: readable = the host opened,
    wrote or closed the slave."""

    def __init__(self, endpoint: PtyEndpoint):
        self.endpoint = endpoint

    def fileno(self) -> int:
        watch = self.endpoint.watch
        return watch.fileno() if watch is not None else -1

    def on_readable(self) -> None:
        if self.endpoint.master >= 0:
            self.endpoint.poll_host()


def _log_fallback(reason: str) -> None:
    global _fallback_logged
    if not _fallback_logged:
        _fallback_logged = True
        log.warning("inotify unavailable (%s): host closes of emulated dongle ptys are polled; a "
                    "close followed at once by a reopen may be missed", reason or "unknown")


class EmulationRunner:
    """Drives a timeline in real time from a thread and serves readable endpoints.

    ``add(obj)``: anything with ``fileno()`` and ``on_readable()`` (PtyEndpoint) or an Air with
    a hub (``on_hub_readable``). ``call(fn)`` runs ``fn`` in the runner thread (thread-safe).
    """

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        self._endpoints: list = []
        self._calls: list[Callable] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def add(self, endpoint) -> None:
        self.call(lambda: self._endpoints.append(endpoint))

    def remove(self, endpoint) -> None:
        self.call(lambda: endpoint in self._endpoints and self._endpoints.remove(endpoint))

    def call(self, fn: Callable) -> None:
        with self._lock:
            self._calls.append(fn)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def start(self) -> "EmulationRunner":
        self._thread = threading.Thread(target=self._run, name="sumame-wisun-emulation", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        registered: dict[int, object] = {}
        while not self._stop.is_set():
            with self._lock:
                calls, self._calls = self._calls, []
            for fn in calls:
                fn()
            want = {}
            waiting_host = False
            for ep in self._endpoints:
                try:
                    fd = ep.fileno()
                except OSError:
                    continue
                if fd >= 0:
                    want[fd] = ep
                elif hasattr(ep, "poll_host") and getattr(ep, "master", -1) >= 0:
                    waiting_host = getattr(ep, "host_watch", None) is None or waiting_host
                hw = getattr(ep, "host_watch", None)       # inotify: opens/closes of the slave
                if hw is not None and hw.fileno() >= 0:
                    want[hw.fileno()] = hw
            for fd in list(registered):
                if fd not in want or registered[fd] is not want[fd]:
                    try:
                        sel.unregister(fd)
                    except (KeyError, ValueError, OSError):
                        pass
                    del registered[fd]
            for fd, ep in want.items():
                if fd not in registered:
                    try:
                        sel.register(fd, selectors.EVENT_READ, ep)
                        registered[fd] = ep
                    except (ValueError, OSError):
                        pass
            deadline = self.timeline.next_deadline()
            cap = 0.05 if waiting_host else 0.2
            timeout = cap if deadline is None else max(0.0, min(cap, deadline - self.timeline.now()))
            try:
                events = sel.select(timeout)
            except OSError:
                events = []
            for key, _ in events:
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                    continue
                ep = key.data
                try:
                    (ep.on_hub_readable if hasattr(ep, "on_hub_readable") else ep.on_readable)()
                except Exception as exc:  # noqa: BLE001 - keep serving; remember for tests
                    self.errors.append(exc)
            try:
                self.timeline.run_due()
            except Exception as exc:  # noqa: BLE001
                self.errors.append(exc)
        sel.close()

    def stop(self) -> None:
        self._stop.set()
        self.call(lambda: None)
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
