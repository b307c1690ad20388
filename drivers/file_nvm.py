"""Nvm on real media: a file on the Pi's SD card / eMMC (or USB SSD), or an MTD partition.

The journal's commit rule needs every ``program`` durable, in order, before the next one starts:
a record's body, then its state byte. The OS page cache would otherwise write dirty blocks back
in any order, so a power cut could leave a committed state byte in front of a body that never
reached the medium. So each program and erase is followed by ``fsync`` (``sync=True``, the
default; never turn it off on a device whose power can be cut).

NOR semantics are kept in software on a file (a program only clears bits, an erase sets the
page to 0xFF), so the journal behaves exactly as on the emulated flash. On an MTD character
device (``/dev/mtdN``) erase is the kernel's MEMERASE ioctl and the geometry is checked with
MEMGETINFO. Wear is counted per page in ``<path>.wear`` (informational, not synced).

``io`` is the file-system access (``PosixIo``); tests pass a layer that keeps unsynced writes
in a volatile cache and drops them on a power cut (drivers/emulated/storage/page_cache.py).
"""
from __future__ import annotations

import fcntl
import os
import stat
import struct
from pathlib import Path

from sumame.hal.errors import DeviceNotFound, NvmAddressError, NvmError
from sumame.hal.nvm import check_program

# <mtd/mtd-abi.h>: struct mtd_info_user is 32 bytes, struct erase_info_user two u32
_MTD_INFO = struct.Struct("=BxxxIIIIQ")          # type, flags, size, erasesize, writesize, oobsize, padding
MEMGETINFO = 0x80204D01                          # _IOR('M', 1, struct mtd_info_user)
MEMERASE = 0x40084D02                            # _IOW('M', 2, struct erase_info_user)


class PosixIo:
    """The operating system's file calls (the real thing)."""

    open = staticmethod(os.open)
    pread = staticmethod(os.pread)
    pwrite = staticmethod(os.pwrite)
    fsync = staticmethod(os.fsync)
    close = staticmethod(os.close)
    fstat = staticmethod(os.fstat)
    ftruncate = staticmethod(os.ftruncate)

    @staticmethod
    def ioctl(fd: int, request: int, arg: bytes) -> bytes:
        return fcntl.ioctl(fd, request, arg)

    @staticmethod
    def replace(src: str, dst: str) -> None:
        """Atomic rename, made durable by syncing the folder."""
        os.replace(src, dst)
        folder = os.open(os.path.dirname(dst) or ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class FileNvm:
    """Nvm contract on ``path`` (page_size x page_count bytes). Created erased when absent."""

    def __init__(self, path: str | Path, *, page_size: int, page_count: int, io=PosixIo,
                 sync: bool = True):
        self.path, self.io, self.sync = Path(path), io, sync
        self.page_size, self.page_count = page_size, page_count
        self.size = page_size * page_count
        self.ops = 0
        try:
            self._fd = io.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DeviceNotFound(f"storage {self.path}: {exc.strerror}") from None
        self.mtd = stat.S_ISCHR(io.fstat(self._fd).st_mode)
        if self.mtd:
            self._check_mtd()
        else:
            self._prepare_file()
        self._wear = self._load_wear()

    # ------------------------------------------------------------------ setup
    def _prepare_file(self) -> None:
        actual = self.io.fstat(self._fd).st_size
        if actual < self.size:
            self._complete_image(actual)
        elif actual > self.size:
            raise NvmError(f"storage {self.path} is {actual} bytes, larger than the board's "
                           f"{self.page_count} pages x {self.page_size}: wrong board or file")

    def _complete_image(self, actual: int) -> None:
        """A new (or short) image: the missing part is erased. Built beside and renamed over,
        so a cut while creating it leaves the old file, never holes that read as zeros."""
        kept = self.io.pread(self._fd, actual, 0) if actual else b""
        tmp = str(self.path) + ".new"
        fd = self.io.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.io.pwrite(fd, kept + b"\xff" * (self.size - actual), 0)
        self.io.fsync(fd)
        self.io.close(fd)
        self.io.replace(tmp, str(self.path))
        self.io.close(self._fd)
        self._fd = self.io.open(str(self.path), os.O_RDWR, 0o600)

    def _check_mtd(self) -> None:
        info = self.io.ioctl(self._fd, MEMGETINFO, bytes(_MTD_INFO.size))
        _, _, size, erasesize, _, _ = _MTD_INFO.unpack(info)
        if erasesize != self.page_size or size < self.size:
            raise NvmError(f"{self.path}: MTD has {size} bytes in {erasesize}-byte erase blocks; "
                           f"the board asks {self.page_count} pages x {self.page_size}")

    def _wear_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wear")

    def _load_wear(self) -> list[int]:
        try:
            raw = self._wear_path().read_bytes()
        except OSError:
            return [0] * self.page_count
        counts = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw) - 3, 4)]
        return counts if len(counts) == self.page_count else [0] * self.page_count

    def close(self) -> None:
        if self._fd is not None:
            self.io.close(self._fd)
            self._fd = None
            try:
                self._wear_path().write_bytes(b"".join(c.to_bytes(4, "little") for c in self._wear))
            except OSError:
                pass

    # ------------------------------------------------------------------ Nvm contract
    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise NvmAddressError(f"read of {length} bytes at {offset:#x} outside 0..{self.size:#x}")
        data = self.io.pread(self._fd, length, offset)
        return data + b"\xff" * (length - len(data))

    def program(self, offset: int, data: bytes) -> None:
        check_program(self.size, self.page_size, offset, data, self.read)
        self.ops += 1
        self._write(offset, data)

    def erase(self, page: int) -> None:
        if not 0 <= page < self.page_count:
            raise NvmAddressError(f"erase of page {page} outside 0..{self.page_count - 1}")
        self.ops += 1
        if self.mtd:
            self.io.ioctl(self._fd, MEMERASE, struct.pack("=II", page * self.page_size, self.page_size))
        else:
            self._write(page * self.page_size, b"\xff" * self.page_size)
        self._wear[page] += 1

    def erase_count(self, page: int) -> int:
        return self._wear[page]

    def _write(self, offset: int, data: bytes) -> None:
        try:
            self.io.pwrite(self._fd, data, offset)
            if self.sync:
                self.io.fsync(self._fd)     # durable before the next program may start
        except OSError as exc:
            raise NvmError(f"storage {self.path}: write at {offset:#x} failed: {exc.strerror}") from None
