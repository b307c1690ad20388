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
        self.identity = identity
        self.devices = list(devices)

    @classmethod
    def _properties(cls, variant):
        return super()._properties(variant) + [
            (0x80, lambda o: b"\x30", None, True),
            (0x82, lambda o: VERSION, None, False),
            (0x83, lambda o: identification_number(o.identity), None, False),
            (0x8A, lambda o: o.identity.maker_code.to_bytes(3, "big"), None, False),
            (0x8D, lambda o: production_number(o.identity), None, False),
            (0xD3, lambda o: len(o.devices).to_bytes(3, "big"), None, False),
            (0xD4, lambda o: (len({d.eoj.class_code for d in o.devices}) + 1).to_bytes(2, "big"), None, False),
            (0xD5, lambda o: instance_list(o.devices), None, True),
            (0xD6, lambda o: instance_list(o.devices), None, False),
            (0xD7, lambda o: class_list(o.devices), None, False)]
