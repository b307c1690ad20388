"""COSEM server: sessions, association handling and GET/SET/ACTION dispatch (pure, time in).

    server = CosemServer(objects, policies, security=..., max_receive_pdu=1024)
    session = server.open_session(client_sap)          # one per HDLC link / TCP connection
    response = session.handle(apdu_bytes, now)          # bytes to send back, or None
    session.close()                                     # lower layer gone: association ends

Objects are found by (class id, logical name). Access rights come from the session's
authentication level; refusals are Data-Access-Results, bad APDUs get an exception-response,
deciphering and replay failures an exception-response with service-error 5 / 6. Every refusal is
logged and counted in ``server.counters``; the association survives unless the standard ends
it (failed HLS, release). Long GET responses go out with GET-response-with-datablock.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from sumame.firmware.net.budget import REQUEST_UNITS, WorkBudget

from . import axdr
from .acse import TAG_AARQ, TAG_RLRQ
from .apdu import decode_apdu
from .association import Association, AssociationPolicy, Protection, SecuritySetup, State
from .axdr import Data
from .cosem.association_ln import AssociationLN
from .cosem.base import AttrAccess, CosemError, CosemObject, MethodAccess, RequestContext
from .descriptors import AttributeDescriptor, DataAccessResult, encode_result
from .errors import ApduError, DecipheringError, DlmsError, LimitError, ReplayError
from .initiate import Conformance
from .notify import ExceptionResponse, ServiceError, StateError
from .reader import encode_length
from .security import CIPHERED_TAGS, SC_AUTH_ENC, TAG_GENERAL_DED, TAG_GENERAL_GLO, cipher_apdu
from .xdlms import (ActionRequestNormal, ActionResponseNormal, GetRequestNext, GetRequestNormal,
                    GetRequestWithList, GetResponseNormal, GetResponseWithDatablock, GetResponseWithList,
                    SetRequestNormal, SetRequestWithList, SetResponseNormal, SetResponseWithList)

log = logging.getLogger("sumame.dlms.server")
REQUEST_ROWS = 1000
"""Profile entries per request: ~0.2 ms each to build and encode on a loaded desktop, so a
request stays well inside a 250 ms watchdog budget; 1000 30-min rows are ~3 weeks."""
CURRENT_ASSOCIATION = bytes((0, 0, 40, 0, 0, 255))
_DATABLOCK_HEADER = 13     # tag, choice, iid, last, block number(4), choice, length(<=3) + margin


@dataclass
class _LongGet:
    raw: bytes
    invoke_id_priority: int
    block_size: int
    sent: int = 0          # number of the last block sent

    def block(self) -> GetResponseWithDatablock:
        start = self.sent * self.block_size
        chunk = self.raw[start:start + self.block_size]
        self.sent += 1
        last = start + self.block_size >= len(self.raw)
        return GetResponseWithDatablock(last, self.sent, chunk, self.invoke_id_priority)


class Session:
    """One client's conversation over one transport connection."""

    def __init__(self, server: "CosemServer", client_sap: int):
        self.server = server
        self.client_sap = client_sap
        self.association = Association(
            client_sap, server.policies, security=server.security, conformance=server.conformance,
            max_receive_pdu=server.max_receive_pdu, random_bytes=server.random_bytes,
            on_security_event=server._security_event)
        self.long_get: _LongGet | None = None

    def handle(self, apdu: bytes, now: float) -> bytes | None:
        return self.server.handle(self, apdu, now)

    def close(self) -> None:
        if self.association.state is not State.IDLE:
            log.info("client %d: lower layer closed, association ends", self.client_sap)
        self.association.reset()
        self.long_get = None


_NAME_INDEXES: dict[tuple[bytes, ...], dict[bytes, int]] = {}
_NAME_INDEXES_KEPT = 64


def _name_index(names: tuple[bytes, ...]) -> dict[bytes, int]:
    """Read-only name -> position table for an object list with these names (last one wins);
    one table per distinct list (a fleet's meters share it)."""
    index = _NAME_INDEXES.get(names)
    if index is None:
        if len(_NAME_INDEXES) >= _NAME_INDEXES_KEPT:
            _NAME_INDEXES.pop(next(iter(_NAME_INDEXES)))
        index = _NAME_INDEXES[names] = {ln: i for i, ln in enumerate(names)}
    return index


class CosemServer:
    """The meter's logical device (server SAP ``server_sap``).

    objects:         the COSEM objects (an AssociationLN at 0.0.40.0.0.255 is added if absent)
    policies:        AssociationPolicy per client SAP
    security:        SecuritySetup for ciphered / HLS-GMAC associations (None = none offered)
    max_receive_pdu: the largest APDU we accept (announced in the InitiateResponse), bytes
    on_security_event(kind, detail): wire to EventLog.record(kind, source="a-route", ...)
    request_units:   most decoding work one request may cost (``firmware/net/budget.py``);
                     a request over it gets an exception-response before any work is done
    request_rows:    most profile entries one request may build (all items of a GET-with-list
                     together); a larger selection is refused (other-reason) before any row is
                     built, so no GET can hold the meter's loop past its watchdog budget
    """

    def __init__(self, objects: Iterable[CosemObject], policies: Iterable[AssociationPolicy], *,
                 security: SecuritySetup | None = None, max_receive_pdu: int = 1024,
                 conformance: int | None = None, server_sap: int = 1,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 on_security_event: Callable[[str, str], None] | None = None,
                 request_units: int = REQUEST_UNITS, request_rows: int = REQUEST_ROWS):
        from .association import SERVER_CONFORMANCE
        self.objects: list[CosemObject] = list(objects)
        if not any(o.CLASS_ID == 15 and o.logical_name == CURRENT_ASSOCIATION for o in self.objects):
            self.objects.insert(0, AssociationLN(server_sap=server_sap))
        self._index: dict[bytes, int] = {}
        """logical name -> position in ``objects`` of the last object with that name: shared by
        every server whose objects carry the same names in the same order (``_name_index``), so
        a fleet of meters keeps one index, not a dict per meter."""
        self._other_class: dict[tuple[int, bytes], CosemObject] | None = None
        """(class id, logical name) of an object whose name a later object of another class
        took (rare; None when there is none): one name index, not a second dict of tuples."""
        self._reindex()
        self.policies = {p.client_sap: p for p in policies}
        self.security = security
        self.max_receive_pdu = max_receive_pdu
        self.conformance = SERVER_CONFORMANCE if conformance is None else conformance
        self.server_sap = server_sap
        self.random_bytes = random_bytes
        self.on_security_event = on_security_event
        self.counters: Counter[str] = Counter()
        self.request_units = request_units
        self.request_rows = request_rows

    def open_session(self, client_sap: int) -> Session:
        return Session(self, client_sap)

    def add_object(self, obj: CosemObject) -> None:
        """A later layer (the IoT route) adds its object after the model was built."""
        self.objects.append(obj)
        self._reindex()

    def _reindex(self) -> None:
        self._index = _name_index(tuple(o.logical_name for o in self.objects))
        last: dict[bytes, CosemObject] = {}
        other = None
        for obj in self.objects:
            ln, previous = obj.logical_name, last.get(obj.logical_name)
            if previous is not None and previous.CLASS_ID != obj.CLASS_ID:
                if other is None:
                    other = {}
                other[(previous.CLASS_ID, ln)] = previous
            if other:
                other.pop((obj.CLASS_ID, ln), None)
            last[ln] = obj
        self._other_class = other

    def find(self, class_id: int, logical_name: bytes) -> CosemObject | None:
        at = self._index.get(logical_name)
        obj = None if at is None else self.objects[at]
        if obj is not None and obj.CLASS_ID == class_id:
            return obj
        return None if self._other_class is None else self._other_class.get((class_id, logical_name))

    def protect_notification(self, apdu: bytes, sc: int = SC_AUTH_ENC) -> bytes:
        """A push (DataNotification / EventNotification) in general-glo-ciphering with our system
        title and the next transmit invocation counter (what a ciphered push setup sends)."""
        if self.security is None:
            raise DlmsError("no security setup: pushes can only be sent in clear")
        sec = self.security
        return cipher_apdu(apdu, sc=sc, system_title=sec.system_title, invocation_counter=sec.tx_counter.next(),
                           ek=sec.ek, ak=sec.ak, kind="general")

    def _security_event(self, kind: str, detail: str) -> None:
        self.counters[kind] += 1
        if self.on_security_event is not None:
            self.on_security_event(kind, detail)

    # ------------------------------------------------------------------ entry point
    def handle(self, session: Session, raw: bytes, now: float) -> bytes | None:
        if not raw:
            self.counters["empty_apdu"] += 1
            return None
        assoc = session.association
        tag = raw[0]
        try:
            if tag == TAG_AARQ:
                session.long_get = None
                self.counters["aarq"] += 1
                response = assoc.handle_aarq(raw)
                if assoc.state is State.IDLE:
                    self.counters["aarq_refused"] += 1
                return response
            if tag == TAG_RLRQ:
                session.long_get = None
                return assoc.handle_rlrq(raw)
        except ApduError as exc:
            return self._exception(f"bad ACSE APDU: {exc}", StateError.SERVICE_NOT_ALLOWED, ServiceError.OTHER_REASON)
        if assoc.state is State.IDLE:
            return self._exception("xDLMS request outside an association",
                                   StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE)
        protection: Protection | None = None
        if tag in CIPHERED_TAGS or tag in (TAG_GENERAL_GLO, TAG_GENERAL_DED):
            try:
                raw, protection = assoc.decipher(raw)
            except ReplayError as exc:
                self._security_event("dlms_replay", f"client {session.client_sap}: {exc}")
                return self._exception(f"replayed APDU: {exc}", StateError.SERVICE_NOT_ALLOWED,
                                       ServiceError.INVOCATION_COUNTER_ERROR, exc.expected_min)
            except (DecipheringError, ApduError) as exc:
                self._security_event("dlms_decipher_failure", f"client {session.client_sap}: {exc}")
                return self._exception(f"cannot decipher: {exc}", StateError.SERVICE_NOT_ALLOWED,
                                       ServiceError.DECIPHERING_ERROR)
        elif assoc.policy is not None and assoc.policy.ciphered:
            return self._exception("unprotected APDU in a ciphered association",
                                   StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE)
        budget = WorkBudget.for_input(len(raw), self.request_units)
        try:
            request = decode_apdu(raw, budget)
        except ApduError as exc:
            if isinstance(exc, LimitError):
                self.counters["over_limit"] += 1
            known = raw[0] in (0xC0, 0xC1, 0xC3)
            return self._answer(assoc, protection, self._exception(
                f"bad APDU: {exc}", StateError.SERVICE_NOT_ALLOWED if known else StateError.SERVICE_UNKNOWN,
                ServiceError.OTHER_REASON if known else ServiceError.SERVICE_NOT_SUPPORTED))
        extra = {"rows": WorkBudget(self.request_rows)}      # shared by the items of a list
        if protection is not None:
            extra["protection"] = protection
        ctx = RequestContext(now, assoc.level, session.client_sap, session, extra)
        response = self._dispatch(session, request, ctx, protection)
        return self._answer(assoc, protection, response)

    def _answer(self, assoc: Association, protection: Protection | None, response: bytes | None) -> bytes | None:
        if response is None or protection is None or assoc.security is None:
            return response
        return assoc.encipher(response, protection)

    def _exception(self, why: str, state: int, service: int, ic: int | None = None) -> bytes:
        self.counters["exception_response"] += 1
        log.warning("exception-response: %s", why)
        return ExceptionResponse(state, service, ic).encode()

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, session: Session, request, ctx: RequestContext, protection) -> bytes | None:
        assoc = session.association
        pending = assoc.state is State.PENDING_HLS
        need = {GetRequestNormal: Conformance.GET, GetRequestWithList: Conformance.GET,
                GetRequestNext: Conformance.GET, SetRequestNormal: Conformance.SET,
                SetRequestWithList: Conformance.SET, ActionRequestNormal: Conformance.ACTION}.get(type(request))
        if need is None:
            return self._exception(f"{type(request).__name__} is not a service request",
                                   StateError.SERVICE_UNKNOWN, ServiceError.SERVICE_NOT_SUPPORTED)
        if not assoc.conformance & need:
            return self._exception(f"{type(request).__name__} not negotiated",
                                   StateError.SERVICE_NOT_ALLOWED, ServiceError.SERVICE_NOT_SUPPORTED)
        if isinstance(request, ActionRequestNormal):
            self.counters["action"] += 1
            d = request.descriptor
            if pending and not (d.class_id == 15 and d.logical_name == CURRENT_ASSOCIATION and d.method_id == 1):
                result = self._refused(DataAccessResult.READ_WRITE_DENIED, "HLS authentication pending")
                return ActionResponseNormal(result, None, request.invoke_id_priority).encode()
            return self._action(request, ctx).encode()
        if pending:
            self._refused(DataAccessResult.READ_WRITE_DENIED, "HLS authentication pending")
            if isinstance(request, GetRequestNormal):
                return GetResponseNormal(DataAccessResult.READ_WRITE_DENIED, request.invoke_id_priority).encode()
            if isinstance(request, SetRequestNormal):
                return SetResponseNormal(DataAccessResult.READ_WRITE_DENIED, request.invoke_id_priority).encode()
            return self._exception("request while HLS pending", StateError.SERVICE_NOT_ALLOWED,
                                   ServiceError.OPERATION_NOT_POSSIBLE)
        if isinstance(request, GetRequestNormal):
            self.counters["get"] += 1
            session.long_get = None
            result = self._get(request.descriptor, request.access, ctx)
            return self._get_response(session, GetResponseNormal(result, request.invoke_id_priority),
                                      encode_result(result)[1:] if isinstance(result, Data) else None, protection)
        if isinstance(request, GetRequestWithList):
            self.counters["get"] += 1
            session.long_get = None
            results = tuple(self._get(d, a, ctx) for d, a in request.items)
            response = GetResponseWithList(results, request.invoke_id_priority)
            raw = encode_length(len(results)) + b"".join(encode_result(r) for r in results)
            return self._get_response(session, response, raw, protection)
        if isinstance(request, GetRequestNext):
            return self._get_next(session, request)
        if isinstance(request, SetRequestNormal):
            self.counters["set"] += 1
            return SetResponseNormal(self._set(request.descriptor, request.value, ctx),
                                     request.invoke_id_priority).encode()
        self.counters["set"] += 1
        results = tuple(self._set(d, v, ctx) for (d, _), v in zip(request.items, request.values))
        return SetResponseWithList(results, request.invoke_id_priority).encode()

    def _refused(self, dar: int, why: str) -> int:
        self.counters["refused"] += 1
        log.warning("request refused (%s): %s", DataAccessResult(dar).name
                    if dar in DataAccessResult._value2member_map_ else dar, why)
        return dar

    def _lookup(self, class_id: int, ln: bytes) -> CosemObject:
        obj = self.find(class_id, ln)
        if obj is None:
            at = self._index.get(ln)
            if at is not None:
                raise CosemError(DataAccessResult.OBJECT_CLASS_INCONSISTENT,
                                 f"{'.'.join(map(str, ln))} is class {self.objects[at].CLASS_ID}, not {class_id}")
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"no object {class_id}/{'.'.join(map(str, ln))}")
        return obj

    def _get(self, desc: AttributeDescriptor, access, ctx: RequestContext) -> Data | int:
        try:
            obj = self._lookup(desc.class_id, desc.logical_name)
            if not 1 <= desc.attribute_id <= obj.ATTRIBUTES:
                raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{obj!r} has no attribute {desc.attribute_id}")
            if not obj.attribute_access(desc.attribute_id, ctx.level) & AttrAccess.READ:
                raise CosemError(DataAccessResult.READ_WRITE_DENIED,
                                 f"{obj!r} attribute {desc.attribute_id} not readable at level {ctx.level.name}")
            return obj.get(desc.attribute_id, ctx, access)
        except CosemError as exc:
            return self._refused(exc.dar, f"GET {desc.class_id}/{'.'.join(map(str, desc.logical_name))}/"
                                          f"{desc.attribute_id}: {exc.reason}")

    def read_attribute(self, class_id: int, logical_name: bytes, attribute: int, ctx: RequestContext) -> Data:
        """Internal read with no access check (push setup, event capture). Null-data if refused."""
        try:
            return self._lookup(class_id, logical_name).get(attribute, ctx, None)
        except CosemError as exc:
            log.warning("internal read %d/%s/%d failed: %s", class_id, logical_name.hex(), attribute, exc)
            return axdr.null()

    def _set(self, desc: AttributeDescriptor, value: Data, ctx: RequestContext) -> int:
        try:
            obj = self._lookup(desc.class_id, desc.logical_name)
            if not 1 <= desc.attribute_id <= obj.ATTRIBUTES:
                raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{obj!r} has no attribute {desc.attribute_id}")
            if not obj.attribute_access(desc.attribute_id, ctx.level) & AttrAccess.WRITE:
                raise CosemError(DataAccessResult.READ_WRITE_DENIED,
                                 f"{obj!r} attribute {desc.attribute_id} not writable at level {ctx.level.name}")
            obj.set(desc.attribute_id, value, ctx)
            return DataAccessResult.SUCCESS
        except CosemError as exc:
            return self._refused(exc.dar, f"SET {desc.class_id}/{'.'.join(map(str, desc.logical_name))}/"
                                          f"{desc.attribute_id}: {exc.reason}")

    def _action(self, request: ActionRequestNormal, ctx: RequestContext) -> ActionResponseNormal:
        d = request.descriptor
        try:
            obj = self._lookup(d.class_id, d.logical_name)
            if not 1 <= d.method_id <= obj.METHODS:
                raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{obj!r} has no method {d.method_id}")
            if obj.method_access(d.method_id, ctx.level) is MethodAccess.NONE:
                raise CosemError(DataAccessResult.READ_WRITE_DENIED,
                                 f"{obj!r} method {d.method_id} not allowed at level {ctx.level.name}")
            value = obj.invoke(d.method_id, request.parameters, ctx)
            log.info("ACTION %d/%s/%d by client %d done", d.class_id, ".".join(map(str, d.logical_name)),
                     d.method_id, ctx.client_sap)
            return ActionResponseNormal(DataAccessResult.SUCCESS, value, request.invoke_id_priority)
        except CosemError as exc:
            dar = self._refused(exc.dar, f"ACTION {d.class_id}/{'.'.join(map(str, d.logical_name))}/"
                                         f"{d.method_id}: {exc.reason}")
            return ActionResponseNormal(dar, None, request.invoke_id_priority)

    # ------------------------------------------------------------------ block transfer
    def _get_response(self, session: Session, response, raw: bytes | None, protection) -> bytes:
        encoded = response.encode()
        limit = session.association.client_max_pdu - Association.cipher_overhead(protection)
        if len(encoded) <= limit:
            return encoded
        if raw is None or not session.association.conformance & Conformance.BLOCK_TRANSFER_GET \
                or limit <= _DATABLOCK_HEADER + 1:
            return self._exception(f"GET response of {len(encoded)} bytes exceeds the client's {limit}",
                                   StateError.SERVICE_NOT_ALLOWED, ServiceError.PDU_TOO_LONG)
        self.counters["long_get"] += 1
        session.long_get = _LongGet(raw, response.invoke_id_priority, limit - _DATABLOCK_HEADER)
        return session.long_get.block().encode()

    def _get_next(self, session: Session, request: GetRequestNext) -> bytes:
        long_get = session.long_get
        if long_get is None:
            dar = self._refused(DataAccessResult.NO_LONG_GET_IN_PROGRESS, "get-request-next without a long GET")
            return GetResponseWithDatablock(True, request.block_number, dar, request.invoke_id_priority).encode()
        if request.block_number != long_get.sent:
            session.long_get = None
            dar = self._refused(DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                                f"block {request.block_number} acknowledged, {long_get.sent} sent")
            return GetResponseWithDatablock(True, request.block_number, dar, request.invoke_id_priority).encode()
        block = long_get.block()
        if block.last_block:
            session.long_get = None
        return block.encode()
