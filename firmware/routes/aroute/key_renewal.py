"""A-route key renewal: class 64 global_key_transfer bound to the meter's StateStore.

The head-end sends the new EK and/or AK wrapped with the master key (KEK: ``[aroute] kek`` or,
when empty, derived from the serial — emulation only). Both keys are stored as ONE StateStore
record (``aroute.keys``: generation u32, EK 16, AK 16), so a power cut leaves the old pair or
the new pair, never a mix or neither. The answer to the transfer still goes out under the old
keys; the switch happens right after it, and from then on the old keys are refused. At boot the
stored pair wins over the board's / derived keys. Only a ciphered HLS association may call it.
"""
from __future__ import annotations

import struct

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from sumame.firmware.core.events import Severity
from sumame.firmware.net.dlms.cosem.control import ActionRefused
from sumame.firmware.net.dlms.cosem.security_setup import SecuritySetupObject
from sumame.firmware.net.dlms.descriptors import DataAccessResult
from sumame.firmware.core.scheduler import Priority

from .control_binding import require_control_context
from .keys import HES_SYSTEM_TITLE, _derived

KEYS_STATE = "aroute.keys"


def kek_of(serial: str, section: dict) -> bytes:
    return bytes.fromhex(section["kek"]) if section.get("kek") else _derived("kek", serial, 16)


def stored_keys(store) -> tuple[int, bytes, bytes] | None:
    raw = store.load(KEYS_STATE)
    if raw is None or len(raw) != 36:
        return None
    generation, = struct.unpack(">I", raw[:4])
    return generation, raw[4:20], raw[20:36]


class KeyRenewal:
    def __init__(self, app, kek: bytes):
        self.app, self.kek = app, kek

    def server_system_title(self) -> bytes:
        return self.app.secrets.system_title

    def client_system_title(self) -> bytes:
        return HES_SYSTEM_TITLE

    def transfer(self, wrapped: dict[int, bytes], now: float) -> None:
        meter, security = self.app.meter, self.app.security
        if set(wrapped) - {0, 2}:
            raise ActionRefused("only the global unicast EK (0) and the AK (2) can be renewed",
                                DataAccessResult.READ_WRITE_DENIED)
        try:
            keys = {k: aes_key_unwrap(self.kek, blob) for k, blob in wrapped.items()}
        except (InvalidUnwrap, ValueError) as exc:
            meter.events.record("key-renewal-refused", source="a-route", severity=Severity.ALARM,
                                detail=f"wrapped key does not unwrap with the master key: {exc or 'integrity check'}")
            raise ActionRefused("key unwrap failed", DataAccessResult.OTHER_REASON) from None
        if any(len(k) != 16 for k in keys.values()):
            raise ActionRefused("keys must be 16 bytes (AES-128)", DataAccessResult.OTHER_REASON)
        previous = stored_keys(meter.storage)
        generation = (previous[0] if previous else 0) + 1
        ek, ak = keys.get(0, security.ek), keys.get(2, security.ak)
        meter.storage.save(KEYS_STATE, struct.pack(">I", generation) + ek + ak)   # old or new, atomically
        meter.events.record("key-renewal", source="a-route",
                            detail=f"A-route keys renewed "
                                   f"({', '.join('EK' if k == 0 else 'AK' for k in sorted(keys))}), "
                                   f"generation {generation}; old keys refused from now on")

        async def switch() -> None:    # after the answer (protected with the old keys) went out
            security.ek, security.ak = ek, ak
        meter.scheduler.spawn(switch(), name="a-route-key-switch", priority=Priority.ROUTE)


class GuardedSecuritySetup(SecuritySetupObject):
    def invoke(self, method, params, ctx):
        require_control_context(ctx)
        return super().invoke(method, params, ctx)


def key_renewal_objects(app, kek: bytes) -> list:
    return [GuardedSecuritySetup(KeyRenewal(app, kek))]


def apply_stored_keys(app) -> int | None:
    """Replace the board's keys by the renewed pair kept in the StateStore; returns its generation."""
    stored = stored_keys(app.meter.storage)
    if stored is None:
        return None
    generation, ek, ak = stored
    s = app.secrets
    app.secrets = type(s)(s.system_title, ek, ak, s.lls_password)
    return generation
