"""Client side (head-end) of the association and services, sans-io, on the same codecs.

    c = DlmsClient(ClientSettings(client_sap=0x30, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                                  system_title=..., ek=..., ak=...))
    send(c.aarq());              c.parse_aare(recv())
    if c.hls_pending: send(c.hls_reply()); c.receive(recv())      # pass 3/4, verifies f(CtoS)
    send(c.get(3, obis("1.0.1.8.0.255"), 2))
    reply = c.receive(recv())     # ClientReply: .response (typed APDU) or .next_request (block)
    send(c.release())

Requests are protected (glo- or general-glo-ciphering) when the association is ciphered; replies
are deciphered, checked against replay (the server's IC must increase) and decoded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from . import axdr
from .acse import Aare, Aarq, AcseServiceUser, ApplicationContext, AssociationResult, Mechanism, ReleaseRequest
from .apdu import decode_apdu
from .axdr import Data
from .descriptors import (AttributeDescriptor, MethodDescriptor, SelectiveAccess,
                          read_result)
from .errors import ApduError, DecipheringError, SecurityError
from .initiate import Conformance, ConfirmedServiceError, InitiateRequest, InitiateResponse
from .reader import Reader
from .security import (DED_TAGS, SC_AUTH_ENC, ReplayGuard, TxCounter, cipher_apdu, hls_gmac, parse_ciphered,
                       unprotect, verify_hls_gmac)
from .xdlms import (ActionRequestNormal, ActionResponseNormal, GetRequestNext, GetRequestNormal,
                    GetRequestWithList, GetResponseNormal, GetResponseWithDatablock, GetResponseWithList,
                    SetRequestNormal, SetRequestWithList)

CLIENT_CONFORMANCE = (Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
                      | Conformance.MULTIPLE_REFERENCES | Conformance.BLOCK_TRANSFER_GET
                      | Conformance.DATA_NOTIFICATION | Conformance.EVENT_NOTIFICATION
                      | Conformance.GENERAL_PROTECTION)


@dataclass
class ClientSettings:
    client_sap: int = 0x10
    mechanism: Mechanism = Mechanism.NONE
    password: bytes = b""
    ciphered: bool = False
    system_title: bytes = b""
    ek: bytes = b""
    ak: bytes = b""
    security_control: int = SC_AUTH_ENC
    general_ciphering: bool = False          # general-glo-ciphering instead of service-specific glo
    dedicated_key: bytes | None = None       # sent in the InitiateRequest; requests then use ded-xxx
    conformance: int = CLIENT_CONFORMANCE
    max_receive_pdu: int = 0xFFFF
    tx_counter: TxCounter = field(default_factory=TxCounter)
    random_bytes: Callable[[int], bytes] = os.urandom


class AssociationRefused(SecurityError):
    def __init__(self, aare: Aare, why: str):
        self.aare = aare
        super().__init__(why)


@dataclass(frozen=True)
class ClientReply:
    """``response``: the typed response (long GETs re-assembled into GetResponseNormal /
    GetResponseWithList); or ``next_request``: bytes to send to fetch the next block."""

    response: object = None
    next_request: bytes | None = None


class DlmsClient:
    def __init__(self, settings: ClientSettings):
        self.s = settings
        self.guard = ReplayGuard()
        self.server_title: bytes | None = None
        self.hls_pending = False
        self.associated = False
        self.negotiated: InitiateResponse | None = None
        self._ctos = b""
        self._blocks = bytearray()
        self._expecting_list = False
        self._invoke = 0

    # ------------------------------------------------------------------ association
    def aarq(self) -> bytes:
        s = self.s
        initiate = InitiateRequest(s.conformance, s.max_receive_pdu, s.dedicated_key).encode()
        if s.ciphered:
            initiate = cipher_apdu(initiate, sc=s.security_control, system_title=s.system_title,
                                   invocation_counter=s.tx_counter.next(), ek=s.ek, ak=s.ak)
        auth = None
        if s.mechanism == Mechanism.LOW:
            auth = s.password
        elif s.mechanism == Mechanism.HIGH_GMAC:
            self._ctos = auth = s.random_bytes(16)
        title = s.system_title if (s.ciphered or s.mechanism == Mechanism.HIGH_GMAC) else None
        return Aarq(ApplicationContext.LN_CIPHERED if s.ciphered else ApplicationContext.LN, initiate,
                    mechanism=None if s.mechanism == Mechanism.NONE else s.mechanism,
                    authentication_value=auth, calling_ap_title=title).encode()

    def parse_aare(self, raw: bytes) -> Aare:
        """Accepts the AARE or raises AssociationRefused (with the diagnostic) / DecodeError."""
        aare = Aare.decode(raw)
        info = aare.user_information or b""
        if aare.responding_ap_title is not None:
            self.server_title = aare.responding_ap_title
        if info[:1] == b"\x28":
            info = self._decipher(info)
        if aare.result != AssociationResult.ACCEPTED:
            detail = ""
            if info[:1] == b"\x0E":
                detail = f", {ConfirmedServiceError.decode(info)}"
            raise AssociationRefused(aare, f"association refused: result {aare.result}, "
                                           f"diagnostic {aare.diagnostic}{detail}")
        self.negotiated = InitiateResponse.decode(info)
        self.hls_pending = aare.diagnostic == AcseServiceUser.AUTHENTICATION_REQUIRED
        self._stoc = aare.authentication_value or b""
        self.associated = not self.hls_pending
        return aare

    def hls_reply(self) -> bytes:
        """ACTION Association LN method 1 with f(StoC) (HLS pass 3)."""
        s = self.s
        f_stoc = hls_gmac(self._stoc, system_title=s.system_title, invocation_counter=s.tx_counter.next(),
                          ek=s.ek, ak=s.ak)
        return self.action(15, bytes((0, 0, 40, 0, 0, 255)), 1, axdr.octet_string(f_stoc))

    def _check_hls(self, response: ActionResponseNormal) -> None:
        if response.result != 0 or not isinstance(response.return_value, Data):
            self.hls_pending = False
            raise SecurityError(f"server refused our HLS reply (result {response.result})")
        verify_hls_gmac(response.return_value.value, self._ctos, system_title=self.server_title or b"",
                        ek=self.s.ek, ak=self.s.ak)
        self.hls_pending, self.associated = False, True

    def release(self) -> bytes:
        self.associated = False
        return ReleaseRequest(0).encode()

    # ------------------------------------------------------------------ requests
    def _iid(self) -> int:
        self._invoke = (self._invoke + 1) & 0x0F
        return 0xC0 | self._invoke

    def _protect(self, apdu: bytes) -> bytes:
        s = self.s
        if not s.ciphered:
            return apdu
        if s.dedicated_key is not None and apdu[0] in DED_TAGS:
            return cipher_apdu(apdu, sc=s.security_control, system_title=s.system_title,
                               invocation_counter=s.tx_counter.next(), ek=s.dedicated_key, ak=s.ak, kind="ded")
        return cipher_apdu(apdu, sc=s.security_control, system_title=s.system_title,
                           invocation_counter=s.tx_counter.next(), ek=s.ek, ak=s.ak,
                           kind="general" if s.general_ciphering else "glo")

    def get(self, class_id: int, logical_name: bytes, attribute: int, access: SelectiveAccess | None = None) -> bytes:
        self._blocks.clear()
        self._expecting_list = False
        return self._protect(GetRequestNormal(AttributeDescriptor(class_id, logical_name, attribute), access,
                                              self._iid()).encode())

    def get_with_list(self, items: list[tuple[int, bytes, int]]) -> bytes:
        self._blocks.clear()
        self._expecting_list = True
        return self._protect(GetRequestWithList(tuple((AttributeDescriptor(*i), None) for i in items),
                                                self._iid()).encode())

    def set(self, class_id: int, logical_name: bytes, attribute: int, value: Data) -> bytes:
        return self._protect(SetRequestNormal(AttributeDescriptor(class_id, logical_name, attribute), value,
                                              None, self._iid()).encode())

    def set_with_list(self, items: list[tuple[int, bytes, int]], values: list[Data]) -> bytes:
        return self._protect(SetRequestWithList(tuple((AttributeDescriptor(*i), None) for i in items),
                                                tuple(values), self._iid()).encode())

    def action(self, class_id: int, logical_name: bytes, method: int, params: Data | None = None) -> bytes:
        return self._protect(ActionRequestNormal(MethodDescriptor(class_id, logical_name, method), params,
                                                 self._iid()).encode())

    # ------------------------------------------------------------------ replies
    def _decipher(self, raw: bytes) -> bytes:
        apdu = parse_ciphered(raw)
        title = apdu.system_title or self.server_title
        if title is None:
            raise DecipheringError("server system title unknown")
        key = self.s.dedicated_key if apdu.key_kind == "ded" and self.s.dedicated_key else self.s.ek
        sc, ic, plain = unprotect(apdu.payload, system_title=title, ek=key, ak=self.s.ak)
        self.guard.accept(title, apdu.key_kind, ic)
        return plain

    def receive(self, raw: bytes) -> ClientReply:
        """Decode (and decipher) a server APDU; handles GET block transfer and the HLS reply."""
        raw = bytes(raw)
        if raw[:1] and raw[0] in (0xCC, 0xCD, 0xCF, 0xDB, 0xD4, 0xD5, 0xD7, 0xCA):
            raw = self._decipher(raw)
        apdu = decode_apdu(raw)
        if isinstance(apdu, GetResponseWithDatablock):
            if isinstance(apdu.raw, int):
                self._blocks.clear()
                return ClientReply(GetResponseNormal(apdu.raw, apdu.invoke_id_priority))
            self._blocks += apdu.raw
            if not apdu.last_block:
                return ClientReply(next_request=self._protect(
                    GetRequestNext(apdu.block_number, apdu.invoke_id_priority).encode()))
            whole, self._blocks = bytes(self._blocks), bytearray()
            return ClientReply(self._reassembled(whole, apdu.invoke_id_priority))
        if isinstance(apdu, ActionResponseNormal) and self.hls_pending:
            self._check_hls(apdu)
        return ClientReply(apdu)

    def _reassembled(self, whole: bytes, iid: int):
        if not self._expecting_list:
            return GetResponseNormal(axdr.decode(whole), iid)
        r = Reader(whole, error=ApduError)
        n = r.length("result count")
        results = tuple(read_result(r) for _ in range(n))
        r.expect_end("with-list results")
        return GetResponseWithList(results, iid)

    def parse_notification(self, raw: bytes):
        """DataNotification / EventNotificationRequest, deciphered when protected."""
        raw = bytes(raw)
        if raw[:1] and raw[0] in (0xDB, 0xCA, 0xD2):
            raw = self._decipher(raw)
        return decode_apdu(raw)
