"""Security setup (class 64 v1): the server's suite-0 identity and the global key transfer.

Attributes: 2 security_policy (enum), 3 security_suite (enum, 0 = AES-GCM-128), 4
client_system_title, 5 server_system_title (octet-strings). Method 2 global_key_transfer takes
``array of structure {key_id enum (0 global unicast encryption key, 1 broadcast, 2
authentication key, 3 master key), key_wrapped octet-string}``: each key wrapped with the master
key (KEK) by AES key wrap (RFC 3394). The binding unwraps, stores and switches; it refuses with
:class:`~.control.ActionRefused`.
"""
from __future__ import annotations

from typing import Protocol

from .. import axdr
from ..axdr import DataType
from ..descriptors import DataAccessResult
from .base import CosemError, CosemObject, expect_type
from .control import ActionRefused

SECURITY_SETUP = "0.0.43.0.0.255"
KEY_IDS = {0: "global-unicast-ek", 1: "global-broadcast-ek", 2: "ak", 3: "master-kek"}


class KeyTransferBinding(Protocol):
    def server_system_title(self) -> bytes: ...

    def client_system_title(self) -> bytes: ...

    def transfer(self, wrapped: dict[int, bytes], now: float) -> None:
        """key id -> wrapped key; raise ActionRefused to refuse (nothing changes then)."""
        ...


class SecuritySetupObject(CosemObject):
    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 64, 1, 5, 2

    def __init__(self, binding: KeyTransferBinding, logical_name=SECURITY_SETUP, **levels):
        super().__init__(logical_name, **levels)
        self.binding = binding

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return axdr.enum(3)        # authenticated and encrypted requests (suite 0, v0 policy)
        if attr == 3:
            return axdr.enum(0)
        if attr == 4:
            return axdr.octet_string(self.binding.client_system_title())
        return axdr.octet_string(self.binding.server_system_title())

    def invoke_method(self, method, params, ctx):
        if method == 1:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, "security_activate: policy is fixed")
        items = expect_type(params, DataType.ARRAY, what="global_key_transfer") if params is not None else None
        if not items or len(items) > 4:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "global_key_transfer takes 1..4 keys")
        wrapped: dict[int, bytes] = {}
        for item in items:
            if item.type is not DataType.STRUCTURE or len(item.value) != 2:
                raise CosemError(DataAccessResult.TYPE_UNMATCHED, "key entry must be {key_id, key_wrapped}")
            key_id = expect_type(item.value[0], DataType.ENUM, what="key_id")
            blob = expect_type(item.value[1], DataType.OCTET_STRING, what="key_wrapped")
            if key_id not in KEY_IDS or key_id in wrapped:
                raise CosemError(DataAccessResult.OTHER_REASON, f"key_id {key_id} unknown or repeated")
            wrapped[key_id] = bytes(blob)
        try:
            self.binding.transfer(wrapped, ctx.now)
        except ActionRefused as exc:
            raise CosemError(exc.dar, f"key transfer refused: {exc.reason}") from None
        return None
