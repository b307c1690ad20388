"""Association LN (class 15, version 1): the current association as the client sees it.

One instance (0.0.40.0.0.255) serves every session: it reads the session from the request
context. object_list lists every object of the server with the access rights of the session's
authentication level. Method 1 is reply_to_HLS_authentication (the HLS-GMAC pass 3/4).
"""
from __future__ import annotations

from .. import axdr
from ..axdr import Data, DataType
from ..descriptors import DataAccessResult
from ..errors import DecipheringError
from .base import AttrAccess, CosemError, CosemObject, Level, MethodAccess, RequestContext, expect_type

_CONTEXT_OID = bytes.fromhex("608574050801")
_MECHANISM_OID = bytes.fromhex("608574050802")
STATUS_NON_ASSOCIATED, STATUS_PENDING, STATUS_ASSOCIATED = 0, 1, 2


def access_rights(obj: CosemObject, level: Level) -> Data:
    attrs = []
    for attr in range(1, obj.ATTRIBUTES + 1):
        selectors = obj.SELECTIVE.get(attr)
        sel = axdr.array(axdr.integer(s) for s in selectors) if selectors else axdr.null()
        attrs.append(axdr.structure(axdr.integer(attr), axdr.enum(int(obj.attribute_access(attr, level))), sel))
    methods = [axdr.structure(axdr.integer(m), axdr.enum(int(obj.method_access(m, level))))
               for m in range(1, obj.METHODS + 1)]
    return axdr.structure(axdr.array(attrs), axdr.array(methods))


class AssociationLN(CosemObject):
    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 15, 1, 9, 4

    def __init__(self, logical_name="0.0.40.0.0.255", *, server_sap: int = 1,
                 security_setup_reference: bytes = bytes(6), **levels):
        super().__init__(logical_name, **levels)
        self.server_sap = server_sap
        self.security_setup_reference = security_setup_reference

    def attribute_access(self, attr, level):
        if attr == 7:                      # the secret is never readable
            return AttrAccess.NONE
        return super().attribute_access(attr, level)

    def method_access(self, method, level):
        if method == 1:                    # reply_to_HLS_authentication: open while HLS is pending
            return MethodAccess.ACCESS
        return MethodAccess.NONE

    def get_attribute(self, attr, ctx: RequestContext, access):
        session = ctx.session
        assoc = session.association
        if attr == 2:
            return axdr.array(axdr.structure(axdr.long_unsigned(o.CLASS_ID), axdr.unsigned(o.VERSION),
                                             axdr.octet_string(o.logical_name), access_rights(o, ctx.level))
                              for o in session.server.objects)
        if attr == 3:
            return axdr.structure(axdr.integer(ctx.client_sap if ctx.client_sap < 128 else 127),
                                  axdr.long_unsigned(self.server_sap))
        if attr == 4:
            return axdr.octet_string(_CONTEXT_OID + bytes((int(assoc.context),)))
        if attr == 5:
            return axdr.structure(
                axdr.bit_string(format(assoc.conformance, "024b")),
                axdr.long_unsigned(assoc.max_receive_pdu), axdr.long_unsigned(assoc.client_max_pdu),
                axdr.unsigned(6), axdr.integer(0), axdr.octet_string(b""))
        if attr == 6:
            mech = assoc.policy.mechanism if assoc.policy else 0
            return axdr.octet_string(_MECHANISM_OID + bytes((int(mech),)))
        if attr == 8:
            status = {"idle": STATUS_NON_ASSOCIATED, "pending-hls": STATUS_PENDING}.get(assoc.state.value,
                                                                                      STATUS_ASSOCIATED)
            return axdr.enum(status)
        if attr == 9:
            return axdr.octet_string(self.security_setup_reference)
        raise CosemError(DataAccessResult.READ_WRITE_DENIED, "secret is not readable")

    def invoke_method(self, method, params, ctx: RequestContext):
        if method != 1:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"association method {method} not offered")
        reply = expect_type(params or axdr.null(), DataType.OCTET_STRING, what="reply_to_HLS_authentication")
        try:
            return axdr.octet_string(ctx.session.association.reply_to_hls(reply))
        except DecipheringError as exc:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"HLS authentication failed: {exc}") from None
