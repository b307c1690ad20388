"""Node profile object 0x0EF001 (general node): who the node is and which objects it holds."""
from __future__ import annotations

from sumame.firmware.net.echonet import NODE_PROFILE

from .objects import EchonetObject, identification_number, production_number

VERSION = bytes((0x01, 0x0E, 0x01, 0x00))
"""0x82: ECHONET Lite Ver.1.14, message format 1 supported."""


def instance_list(devices) -> bytes:
    """D5/D6 EDT: count + 3-byte EOJs (node profile excluded)."""
    return bytes([len(devices)]) + b"".join(d.eoj.to_bytes() for d in devices)


def class_list(devices) -> bytes:
    """D7 EDT: count + 2-byte class codes (node profile excluded, at most 8 listed)."""
    classes = sorted({d.eoj.class_code for d in devices})
    return bytes([len(classes)]) + b"".join(c.to_bytes(2, "big") for c in classes[:8])


class NodeProfile(EchonetObject):
    """0x0EF001: 80, 82, 83, 8A, 8D, 9D/9E/9F, D3, D4, D5, D6, D7. Nothing is settable."""

    def __init__(self, identity, devices):
        super().__init__(NODE_PROFILE)
        self.devices = list(devices)
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x82, lambda: VERSION)
        self._add(0x83, lambda: identification_number(identity))
        self._add(0x8A, lambda: identity.maker_code.to_bytes(3, "big"))
        self._add(0x8D, lambda: production_number(identity))
        self._add(0xD3, lambda: len(self.devices).to_bytes(3, "big"))
        self._add(0xD4, lambda: (len({d.eoj.class_code for d in self.devices}) + 1).to_bytes(2, "big"))
        self._add(0xD5, lambda: instance_list(self.devices), announce=True)
        self._add(0xD6, lambda: instance_list(self.devices))
        self._add(0xD7, lambda: class_list(self.devices))
