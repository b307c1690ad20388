"""ECHONET Lite request processing for one node (ECHONET Lite Part 2 §4.2.3, reference §1.3).

``EchonetNode.handle(frame, multicast)`` returns the replies (0, 1, or one per addressed
instance) and a status word the service counts. Rules:

* Get / INF_REQ: readable EPCs carry values, others PDC=0; any refusal -> 0x52 / 0x53.
* SetC / SetI: accepted EPCs echo PDC=0, refused ones echo the request's EDT; any refusal ->
  0x51 / 0x50; a fully accepted SetI has no reply.
* SetGet: Set part as SetC, Get part as Get; any refusal -> 0x5E, else 0x7E.
* INFC (to an object we hold) -> INFC_Res 0x7A echoing each EPC with PDC=0.
* A Set that changes a property of the object's status-change map (9D: 80 81 88) queues an INF
  of the new value (``take_announcements``), which the service sends to every client (Part 2
  §4.3.1: the properties of 9D are announced when their value changes). Same value: no INF.
* Replies keep the request order and echo the TID; SEOJ = the answering object.
* Properties past ``max_opc``, or whose value would push the reply past ``max_frame_bytes``,
  are refused like unsupported ones (request order kept).
* Unknown DEOJ (an object this node does not hold): dropped, unicast or multicast, whatever
  the ESV; counted and logged by the service. An SNA must come from the object that refuses
  (SEOJ = the answering object), and the node has no such object to answer as; PyPI
  echonetlite drops such frames too ("not ours"). The reference has no Part 2 text that asks
  for an SNA here (smdn's SNA is an implementation choice); a Get to 0x013001 used to get a
  0x52 "from" 0x013001, an object this meter does not have.
  Responses and notifications from others are ignored.
"""
from __future__ import annotations

import logging

from sumame.firmware.net.echonet import (
    HEADER_LEN, EchonetError, Esv, Frame, Property, TrailingBytes, TruncatedFrame, sna_esv,
    success_esv)

log = logging.getLogger("sumame.broute")

GET_LIKE = (Esv.GET, Esv.INF_REQ)
SET_LIKE = (Esv.SETC, Esv.SETI)
REQUESTS = frozenset({Esv.SETI, Esv.SETC, Esv.GET, Esv.INF_REQ, Esv.SETGET, Esv.INFC})
"""The home-side ESV whitelist: the only services the node acts on."""


class EchonetNode:
    """The objects of one node and the rules for answering them.

    objects:          node profile first, then the device objects
    max_opc:          properties processed per request (AIF requires at least 6)
    max_frame_bytes:  largest reply the node sends (1232 fits an IPv6 minimum-MTU datagram)
    """

    def __init__(self, objects, *, max_opc: int = 24, max_frame_bytes: int = 1232):
        if max_opc < 6:
            raise ValueError("the meter must accept at least 6 properties per request (AIF §2.4.4)")
        self.objects = list(objects)
        self.max_opc = max_opc
        self.max_frame_bytes = max_frame_bytes
        self._announcements: list[tuple[object, Property]] = []

    def take_announcements(self) -> list[tuple[object, Property]]:
        """(object, new value) of status-map properties Sets changed since the last call."""
        out, self._announcements = self._announcements, []
        return out

    def find(self, deoj) -> list:
        return [o for o in self.objects if o.eoj.matches(deoj)]

    # ---------------------------------------------------------------- requests
    def handle(self, frame: Frame, multicast: bool = False) -> tuple[list[Frame], str]:
        esv = frame.esv
        if esv not in REQUESTS:
            return [], "infc_res" if esv is Esv.INFC_RES else "ignored"
        targets = self.find(frame.deoj)
        if not targets:
            return [], "unknown_deoj"
        replies = []
        for obj in targets:
            reply = self._answer(obj, frame)
            if reply is not None:
                replies.append(reply)
        refused = any(r.esv in (Esv.SETI_SNA, Esv.SETC_SNA, Esv.GET_SNA, Esv.INF_SNA,
                                Esv.SETGET_SNA) for r in replies)
        return replies, "refused" if refused else "answered"

    def _answer(self, obj, frame: Frame) -> Frame | None:
        esv = frame.esv
        budget = [self.max_frame_bytes - HEADER_LEN - (1 if esv is Esv.SETGET else 0)]
        if esv is Esv.INFC:
            props = tuple(Property(p.epc) for p in frame.props)
            return Frame(frame.tid, obj.eoj, frame.seoj, Esv.INFC_RES, props)
        if esv in GET_LIKE:
            props, ok = self._gets(obj, frame.props, budget)
            return Frame(frame.tid, obj.eoj, frame.seoj, success_esv(esv) if ok else sna_esv(esv), props)
        if esv in SET_LIKE:
            props, ok = self._sets(obj, frame.props, budget)
            if ok and esv is Esv.SETI:
                return None
            return Frame(frame.tid, obj.eoj, frame.seoj, success_esv(esv) if ok else sna_esv(esv), props)
        # SetGet: the Set part first, then the Get part (so a selector write is seen by the read)
        set_props, set_ok = self._sets(obj, frame.props, budget)
        get_props, get_ok = self._gets(obj, frame.get_props, budget, start=len(frame.props))
        ok = set_ok and get_ok
        return Frame(frame.tid, obj.eoj, frame.seoj,
                     Esv.SETGET_RES if ok else Esv.SETGET_SNA, set_props, get_props)

    def _gets(self, obj, props, budget, start: int = 0):
        out, ok = [], True
        for i, p in enumerate(props, start):
            value = None
            if i < self.max_opc:
                try:
                    value = obj.get(p.epc)
                except Exception:  # noqa: BLE001 - a broken getter must not stop the node
                    log.exception("getter of EPC 0x%02X on %s failed", p.epc, obj.eoj)
            if value is not None and len(value) <= 255 and len(value) + 2 <= budget[0]:
                budget[0] -= len(value) + 2
                out.append(Property(p.epc, value))
            else:
                budget[0] -= 2
                out.append(Property(p.epc))
                ok = False
        return tuple(out), ok

    def _sets(self, obj, props, budget):
        out, ok = [], True
        for i, p in enumerate(props):
            accepted = False
            if i < self.max_opc:
                announced = p.epc in obj.status_map
                try:
                    before = obj.get(p.epc) if announced else None
                    accepted = obj.set(p.epc, p.edt)
                    after = obj.get(p.epc) if announced and accepted else None
                except Exception:  # noqa: BLE001
                    log.exception("setter of EPC 0x%02X on %s failed", p.epc, obj.eoj)
                    accepted, after = False, None
                if after is not None and after != before:
                    self._announcements.append((obj, Property(p.epc, after)))
            out.append(Property(p.epc) if accepted else p)
            budget[0] -= 2 + (0 if accepted else len(p.edt))
            ok = ok and accepted
        return tuple(out), ok

    @staticmethod
    def _refuse_all(frame: Frame, seoj) -> Frame:
        """SNA that echoes every property (Get part with PDC=0, Set part with its EDT)."""
        esv = frame.esv
        if esv in GET_LIKE:
            props = tuple(Property(p.epc) for p in frame.props)
        else:
            props = frame.props
        get_props = tuple(Property(p.epc) for p in frame.get_props)
        return Frame(frame.tid, seoj, frame.seoj, sna_esv(esv), props, get_props)

    # ---------------------------------------------------------------- malformed input
    def handle_error(self, error: EchonetError, multicast: bool = False) -> Frame | None:
        """Answer a malformed request when the spec allows it: a request whose properties do not
        add up (truncated, wrong PDC, OPC larger than the frame) gets the SNA of its ESV with
        the properties that could be read, from the addressed object. Everything else (bad
        header, format 2, reserved ESV, SetI, multicast, an object the node lacks) is dropped."""
        head = error.header
        if head is None or multicast or not isinstance(error, (TruncatedFrame, TrailingBytes)):
            return None
        try:
            esv = Esv(head.esv_code)
        except ValueError:
            return None
        if esv not in REQUESTS or esv in (Esv.INFC, Esv.SETI):
            return None
        targets = self.find(head.deoj)
        if not targets:
            return None
        seoj = targets[0].eoj
        if esv is Esv.SETGET:
            frame = Frame(head.tid, head.seoj, head.deoj, esv, head.props, ())
        else:
            frame = Frame(head.tid, head.seoj, head.deoj, esv, head.props)
        return self._refuse_all(frame, seoj)
