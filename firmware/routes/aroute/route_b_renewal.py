"""Route-B credential renewal from the head-end: a data object (class 1) ``0.0.96.60.1.255``
(our choice). Writing attribute 2 with an octet-string of 44 ASCII bytes (32-hex-digit route-B
ID + 12-character password) renews the pair (firmware/lifecycle/credentials.py); reading it
gives the ID only — the password never leaves the meter. Ciphered HLS association only.
"""
from __future__ import annotations

from sumame.firmware.lifecycle.credentials import CredentialsRefused, renew_route_b, route_b_credentials
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import CosemError, Level
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.descriptors import DataAccessResult

from .control_binding import require_control_context

ROUTE_B_CREDENTIALS = "0.0.96.60.1.255"


class RouteBCredentials(DataObject):
    WRITABLE = frozenset({2})

    def __init__(self, meter):
        super().__init__(ROUTE_B_CREDENTIALS, lambda: axdr.octet_string(route_b_credentials(meter)[0].encode()),
                         read_level=Level.HIGH, write_level=Level.HIGH)
        self.meter = meter

    def get(self, attr, ctx, access=None):
        if attr != 1:
            require_control_context(ctx)
        return super().get(attr, ctx, access)

    def set_attribute(self, attr, value, ctx):
        require_control_context(ctx)
        if value.type is not DataType.OCTET_STRING or len(value.value) != 44:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "route-B credentials: octet-string of 44 ASCII bytes")
        try:
            text = bytes(value.value).decode("ascii")
            renew_route_b(self.meter, text[:32], text[32:])
        except (UnicodeDecodeError, CredentialsRefused) as exc:
            raise CosemError(DataAccessResult.OTHER_REASON, f"route-B credentials refused: {exc}") from None


def route_b_objects(meter) -> list:
    return [RouteBCredentials(meter)] if getattr(meter, "storage", None) is not None else []
