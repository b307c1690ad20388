"""Boot control: which slot boots, the pending update, the version floor, the release keys.

Kept as named records in a snapshot :class:`~sumame.firmware.storage.journal.Journal` (CRC + HMAC with
the device key, power-cut safe: after a cut the journal holds either the old or the new value
of a record, never neither) on the first pages of the code flash. This is the meter's protected
storage for the release public keys: written at the factory (``provision_keys``), authenticated
on every boot, and changed only by a record the device key signs.

Records (name: value, big-endian):

    boot      active slot u8, pending slot u8 (0xFF none), trial u8 (1 = booted once, not
              committed), security floor u32
    keys      n u8, n x 32-byte raw Ed25519 public keys
    transfer  slot u8, image size u32, block size u32, identifier (rest)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sumame.firmware.storage.journal import Journal, Recovery

KIND_VALUE = 1
NO_SLOT = 0xFF


@dataclass(frozen=True)
class BootState:
    active: int = 0
    pending: int | None = None
    trial: bool = False
    floor: int = 0

    def encode(self) -> bytes:
        return struct.pack(">BBBI", self.active, NO_SLOT if self.pending is None else self.pending,
                           int(self.trial), self.floor)

    @classmethod
    def decode(cls, raw: bytes) -> "BootState":
        active, pending, trial, floor = struct.unpack(">BBBI", raw)
        if active > 1 or (pending != NO_SLOT and pending > 1):
            raise ValueError(f"boot record names slot {active}/{pending}")
        return cls(active, None if pending == NO_SLOT else pending, bool(trial), floor)


@dataclass(frozen=True)
class TransferRecord:
    slot: int
    size: int
    block_size: int
    identifier: bytes

    def encode(self) -> bytes:
        return struct.pack(">BII", self.slot, self.size, self.block_size) + self.identifier

    @classmethod
    def decode(cls, raw: bytes) -> "TransferRecord":
        slot, size, block = struct.unpack_from(">BII", raw)
        return cls(slot, size, block, bytes(raw[9:]))


def _encode(name: str, value: bytes) -> bytes:
    raw = name.encode()
    return bytes((len(raw),)) + raw + value


class BootControl:
    def __init__(self, nvm, first_page: int, pages: int, key: bytes):
        self.journal = Journal(nvm, first_page, pages, name="bootctl", key=key, live=self._live)
        self.values: dict[str, bytes] = {}

    def load(self) -> Recovery:
        recovery = self.journal.recover()
        for record in recovery.records:
            if record.kind != KIND_VALUE or not record.payload:
                continue
            n = record.payload[0]
            name = record.payload[1:1 + n].decode("ascii", "replace")
            self.values[name] = bytes(record.payload[1 + n:])
        return recovery

    def _live(self):
        return [(KIND_VALUE, _encode(n, v)) for n, v in self.values.items()]

    def put(self, name: str, value: bytes) -> None:
        """Durable when it returns."""
        self.journal.append(KIND_VALUE, _encode(name, value))
        self.values[name] = bytes(value)

    # ------------------------------------------------------------------ typed views
    @property
    def boot(self) -> BootState:
        raw = self.values.get("boot")
        return BootState() if raw is None else BootState.decode(raw)

    def set_boot(self, state: BootState) -> None:
        self.put("boot", state.encode())

    @property
    def keys(self) -> tuple[bytes, ...]:
        raw = self.values.get("keys", b"")
        if not raw:
            return ()
        n = raw[0]
        return tuple(raw[1 + 32 * i:33 + 32 * i] for i in range(n) if len(raw) >= 33 + 32 * i)

    def provision_keys(self, keys: tuple[bytes, ...]) -> None:
        if not keys or any(len(k) != 32 for k in keys) or len(keys) > 8:
            raise ValueError("release keys must be 1..8 raw 32-byte Ed25519 public keys")
        self.put("keys", bytes((len(keys),)) + b"".join(keys))

    @property
    def transfer(self) -> TransferRecord | None:
        raw = self.values.get("transfer")
        return None if not raw else TransferRecord.decode(raw)

    def set_transfer(self, record: TransferRecord | None) -> None:
        self.put("transfer", b"" if record is None else record.encode())
