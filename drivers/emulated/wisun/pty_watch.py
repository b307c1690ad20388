"""Who opens and closes a pty slave, seen with Linux inotify (ctypes on libc; no dependency).

A host's close of the slave shows on the master as a hang-up only until the host opens the
slave again, so polling for it misses a close followed at once by a reopen. inotify queues every
open, close and write of the slave's inode in order (``IN_OPEN``, ``IN_CLOSE_WRITE`` /
``IN_CLOSE_NOWRITE``, ``IN_MODIFY``), so no close is missed. ``SlaveWatch.start(path)`` returns
None where inotify is unavailable (not Linux, no libc symbol, the watch refused); callers then
fall back to polling the hang-up.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct

log = logging.getLogger("sumame.drivers.emulated.wisun.pty_watch")

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
_MASK = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_MODIFY
_EVENT = struct.Struct("iIII")           # wd, mask, cookie, len (then len octets of name)

OPEN, CLOSE, WRITE, OVERFLOW = "open", "close", "write", "overflow"

_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name, use_errno=True) if name else None
        if lib is None or not hasattr(lib, "inotify_init1") or not hasattr(lib, "inotify_add_watch"):
            raise OSError("libc has no inotify")
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = lib
    return _libc


class SlaveWatch:
    """An inotify instance watching one slave inode; ``read()`` gives its events in order."""

    def __init__(self, fd: int):
        self.fd = fd
        self.wds: set[int] = set()

    @classmethod
    def start(cls, path: str) -> "SlaveWatch | None":
        """Watch ``path`` (the /dev/pts/N device), or None with the reason logged by the caller."""
        try:
            lib = _load_libc()
            fd = lib.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
        except (OSError, AttributeError) as exc:
            cls.unavailable = str(exc)
            return None
        watch = cls(fd)
        try:
            watch.add(path)
        except OSError as exc:
            watch.close()
            cls.unavailable = str(exc)
            return None
        return watch

    unavailable = ""
    """Why the last ``start`` returned None."""

    def add(self, path: str) -> int:
        """Watch the inode ``path`` resolves to (a symlink is followed: its target's inode)."""
        wd = _load_libc().inotify_add_watch(self.fd, os.fsencode(path), _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        self.wds.add(wd)
        return wd

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[str]:
        """All queued events, oldest first: OPEN, CLOSE, WRITE, or OVERFLOW (events were lost)."""
        events: list[str] = []
        while self.fd >= 0:
            try:
                buf = os.read(self.fd, 64 * _EVENT.size)
            except (BlockingIOError, InterruptedError):
                break
            if not buf:
                break
            off = 0
            while off + _EVENT.size <= len(buf):
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, off)
                off += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    events.append(OVERFLOW)
                elif mask & IN_IGNORED:
                    self.wds.discard(wd)
                elif mask & IN_OPEN:
                    events.append(OPEN)
                elif mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE):
                    events.append(CLOSE)
                elif mask & IN_MODIFY:
                    events.append(WRITE)
        return events

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = -1
