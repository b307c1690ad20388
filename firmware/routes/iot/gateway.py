"""The IoT-route gateway as a COSEM object on the A-route (our own, manufacturer-specific).

No COSEM objects are published for the IoT route (reference/iot-route.md §2.5 [U]); this one is
ours: class 200 (manufacturer range 128-255), logical name 0.128.96.200.0.255.

* attribute 2 (read, LOW): terminal table — array of structure{terminal id (octet-string 8),
  kind (unsigned: 1 gas, 2 water, 0 relay), joined (boolean), hops (unsigned), cut off (boolean),
  last seen (double-long-unsigned epoch s, 0 = never)}
* method 1 submit(structure{terminal id, type (unsigned, 0x20 command / 0x22 history request),
  body (octet-string)}) -> enum result (0 queued, 1 unknown terminal, 2 cut off, 3 type not
  allowed, 4 malformed, 5 queue full)
* method 2 cut_off(terminal id) / method 3 reconnect(terminal id) -> enum result (0 done, 1 unknown)

Methods need the head-end's HLS association (``method_level`` HIGH), so only the authenticated
A-route can reach a terminal; the pushes back are ``IOT_PUSH`` DataNotifications (app.py).
Cut-off and reconnect (issue 11 §4) are held to the external-connection control's rule: an
HLS-authenticated, **ciphered** association (``require_control_context``) and an invocation
counter above the last accepted command's (``IotRouteApp.authorise``, kept in flash); else
read-write-denied and an ``iot-command-refused`` alarm.
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import CosemError, CosemObject, Level, expect_type
from sumame.firmware.net.dlms.descriptors import DataAccessResult
from sumame.firmware.routes.aroute.control_binding import authority_of, require_control_context

CLASS_ID = 200
GATEWAY_LN = bytes([0, 128, 96, 200, 0, 255])
IOT_PUSH_LN = bytes([0, 128, 25, 9, 0, 255])
SUBMIT, CUT_OFF, RECONNECT = 1, 2, 3
R_QUEUED, R_UNKNOWN, R_CUT_OFF, R_TYPE, R_MALFORMED, R_FULL = 0, 1, 2, 3, 4, 5
RESULT_NAMES = {R_QUEUED: "queued", R_UNKNOWN: "unknown terminal", R_CUT_OFF: "terminal cut off",
                R_TYPE: "message type not allowed", R_MALFORMED: "malformed", R_FULL: "queue full"}


class IotGateway(CosemObject):
    CLASS_ID = CLASS_ID
    VERSION = 0
    ATTRIBUTES = 2
    METHODS = 3

    def __init__(self, app):
        super().__init__(GATEWAY_LN, read_level=Level.LOW, method_level=Level.HIGH)
        self.app = app

    def get_attribute(self, attr, ctx, access):
        rows = []
        for t in self.app.terminals.values():
            rows.append(axdr.structure(axdr.octet_string(t.terminal_id), axdr.unsigned(t.kind),
                                       axdr.boolean(t.joined), axdr.unsigned(t.hops), axdr.boolean(t.cut_off),
                                       axdr.double_long_unsigned(int(t.last_seen or 0))))
        return axdr.array(rows)

    def invoke_method(self, method, params, ctx):
        if params is None:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "parameters required")
        if method == SUBMIT:
            items = expect_type(params, DataType.STRUCTURE, what="submit parameters")
            if len(items) != 3:
                raise CosemError(DataAccessResult.TYPE_UNMATCHED, "submit takes {terminal id, type, body}")
            tid = expect_type(items[0], DataType.OCTET_STRING, what="terminal id")
            mtype = expect_type(items[1], DataType.UNSIGNED, what="type")
            body = expect_type(items[2], DataType.OCTET_STRING, what="body")
            return axdr.enum(self.app.submit(bytes(tid), mtype, bytes(body)))
        tid = bytes(expect_type(params, DataType.OCTET_STRING, what="terminal id"))
        what = f"{'cut_off' if method == CUT_OFF else 'reconnect'} {tid.decode('ascii', 'replace').strip()}"
        try:
            require_control_context(ctx)
        except CosemError as exc:
            self.app.command_refused(what, str(exc))
            raise
        if not self.app.authorise(authority_of(ctx), what):
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{what} refused: replayed or stale command")
        ok = self.app.head_end_cut_off(tid, method == CUT_OFF, why=f"head-end command, client 0x{ctx.client_sap:02X}")
        return axdr.enum(0 if ok else 1)
