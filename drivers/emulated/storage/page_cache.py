"""A file system whose writes sit in a volatile page cache until ``fsync`` — and a power cut.

Fault layer for storage on real media (drivers/file_nvm.py): ``pwrite`` lands in a cache of
dirty 512-byte sectors per file; ``fsync`` makes that file's sectors durable; ``replace`` (an
atomic rename) is durable at once; ``cut()`` loses the cache, except that the kernel may already
have written back any subset of the dirty sectors, in any order (seeded). Writes past the end
of a file leave holes that read as zeros. A cut can be scheduled at the n-th write/sync call
(``cut_at``): that call is torn — some dirty sectors reach the medium — and PowerCut is raised.
"""
from __future__ import annotations

import random
import stat
from types import SimpleNamespace

from sumame.hal.errors import PowerCut

SECTOR = 512


class _File:
    def __init__(self):
        self.durable = bytearray()
        self.dirty: dict[int, bytes] = {}       # sector -> its bytes as last written

    def view(self) -> bytearray:
        view = bytearray(self.durable)
        for sector, data in self.dirty.items():
            _put(view, sector * SECTOR, data)
        return view

    def flush(self, sectors) -> None:
        for sector in list(sectors):
            _put(self.durable, sector * SECTOR, self.dirty.pop(sector))


def _put(buf: bytearray, start: int, data: bytes) -> None:
    if len(buf) < start + len(data):
        buf.extend(b"\0" * (start + len(data) - len(buf)))
    buf[start:start + len(data)] = data


class VolatileCacheIo:
    """Stands in for ``PosixIo``: files kept in memory, durable bytes + a dirty cache each."""

    def __init__(self, *, seed: int = 0):
        self.files: dict[str, _File] = {}
        self._fds: dict[int, str] = {}
        self.rng = random.Random(seed)
        self.calls = 0
        self.cut_at: int | None = None

    # --------------------------------------------------------------- the file calls
    def open(self, path, flags, mode=0o600) -> int:
        f = self.files.setdefault(str(path), _File())
        if flags & 0o1000:          # O_TRUNC
            f.durable.clear()
            f.dirty.clear()
        fd = 3 + len(self._fds)
        self._fds[fd] = str(path)
        return fd

    def _file(self, fd) -> _File:
        return self.files[self._fds[fd]]

    def close(self, fd) -> None:
        self._fds.pop(fd, None)

    def fstat(self, fd):
        return SimpleNamespace(st_size=len(self._file(fd).view()), st_mode=stat.S_IFREG)

    def ioctl(self, fd, request, arg):
        raise OSError(25, "not a device")

    def replace(self, src: str, dst: str) -> None:
        self._tick()
        self.files[dst] = self.files.pop(src)
        for fd, name in self._fds.items():
            if name == src:
                self._fds[fd] = dst

    def pread(self, fd, length: int, offset: int) -> bytes:
        return bytes(self._file(fd).view()[offset:offset + length])

    def pwrite(self, fd, data: bytes, offset: int) -> int:
        self._tick()
        f = self._file(fd)
        view = f.view()
        _put(view, offset, data)
        end = offset + len(data)
        for sector in range(offset // SECTOR, (end - 1) // SECTOR + 1):
            f.dirty[sector] = bytes(view[sector * SECTOR:(sector + 1) * SECTOR])
        return len(data)

    def fsync(self, fd) -> None:
        self._tick()
        f = self._file(fd)
        f.flush(f.dirty.keys())

    # --------------------------------------------------------------- power
    def cut(self) -> None:
        """The supply goes: a random subset of dirty sectors had been written back, the rest
        is lost; open files are gone with the process."""
        for f in self.files.values():
            f.flush([s for s in f.dirty if self.rng.random() < 0.5])
            f.dirty.clear()
        self._fds.clear()

    def _tick(self) -> None:
        self.calls += 1
        if self.cut_at is not None and self.calls >= self.cut_at:
            self.cut_at = None
            self.cut()
            raise PowerCut(f"power cut at file-system call #{self.calls}")


__all__ = ["SECTOR", "VolatileCacheIo"]
