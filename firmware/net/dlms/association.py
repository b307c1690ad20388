"""Server-side application association (ACSE + xDLMS context + security) for one client.

States: IDLE -> (AARQ accepted) ASSOCIATED, or PENDING_HLS for HLS-GMAC until the client's
reply_to_HLS_authentication verifies; RLRQ or a lower-layer disconnect returns to IDLE.
Refusals follow the reference (§1.3/§1.4): AARE rejected-permanent with the acse-service-user
diagnostic (2 context, 11/12 mechanism, 13 authentication failure) or a ConfirmedServiceError
initiateError in user-information. Ciphered service APDUs are verified and deciphered here.
"""
from __future__ import annotations

import hmac
import logging
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from .acse import (AcseServiceUser, Aare, Aarq, ApplicationContext, AssociationResult, Mechanism,
                   ReleaseRequest, ReleaseResponse)
from .errors import ApduError, DecipheringError, DlmsError
from .initiate import (Conformance, ConfirmedServiceError, InitiateError, InitiateRequest,
                       InitiateResponse)
from .security import (SC_AUTH_ENC, SC_AUTHENTICATION, SC_ENCRYPTION, TAG_GENERAL_GLO, ReplayGuard,
                       TxCounter, cipher_apdu, hls_gmac, parse_ciphered, unprotect, verify_hls_gmac)
from .cosem.base import Level

log = logging.getLogger("sumame.dlms.association")

SERVER_CONFORMANCE = (Conformance.GET | Conformance.SET | Conformance.ACTION
                      | Conformance.SELECTIVE_ACCESS | Conformance.MULTIPLE_REFERENCES
                      | Conformance.BLOCK_TRANSFER_GET | Conformance.DATA_NOTIFICATION
                      | Conformance.EVENT_NOTIFICATION | Conformance.GENERAL_PROTECTION)
MIN_PDU_SIZE = 12
_LEVELS = {Mechanism.NONE: Level.PUBLIC, Mechanism.LOW: Level.LOW, Mechanism.HIGH_GMAC: Level.HIGH}


@dataclass(frozen=True)
class AssociationPolicy:
    """What one client SAP may open.

    mechanism:       Mechanism.NONE, LOW (password ``secret``) or HIGH_GMAC (keys of the server)
    ciphered:        True = application context LN-with-ciphering; every service APDU must be
                     protected with at least ``required_protection`` (SC bits 0x10/0x20)
    """

    client_sap: int
    mechanism: Mechanism = Mechanism.NONE
    secret: bytes = b""
    ciphered: bool = False
    required_protection: int = SC_AUTH_ENC

    @property
    def level(self) -> Level:
        return _LEVELS[self.mechanism]


@dataclass
class SecuritySetup:
    """Suite-0 material of the server (one logical device).

    system_title:  8 bytes (3-letter FLAG id + 5 unique bytes)
    ek / ak:       global unicast encryption key and authentication key (16 bytes each)
    tx_counter:    the server's transmit invocation counter; persist it (``TxCounter.on_advance``)
    replay_guard:  last accepted IC per client system title; persist it as well
    """

    system_title: bytes
    ek: bytes
    ak: bytes
    tx_counter: TxCounter = field(default_factory=TxCounter)
    replay_guard: ReplayGuard = field(default_factory=ReplayGuard)


class State(Enum):
    IDLE = "idle"
    PENDING_HLS = "pending-hls"
    ASSOCIATED = "associated"


@dataclass(frozen=True)
class Protection:
    """How a request was protected; the response is protected the same way."""

    kind: str     # "glo", "ded" or "general"
    sc: int
    invocation_counter: int = 0     # of the request (accepted by the replay guard)
    system_title: bytes = b""       # of the client that protected it


class AarqRefused(Exception):
    def __init__(self, diagnostic: int, reason: str, user_information: bytes | None = None,
                 source: str = "user"):
        self.diagnostic = diagnostic
        self.reason = reason
        self.user_information = user_information
        self.source = source
        super().__init__(reason)


class Association:
    """One client's association with the server (created per transport session).

    ``random_bytes(n)`` makes the HLS server challenge (inject for deterministic tests);
    ``on_security_event(kind, detail)`` reports authentication and ciphering failures."""

    def __init__(self, client_sap: int, policies: dict[int, AssociationPolicy], *,
                 security: SecuritySetup | None = None, conformance: int = SERVER_CONFORMANCE,
                 max_receive_pdu: int = 1024, random_bytes: Callable[[int], bytes] = os.urandom,
                 on_security_event: Callable[[str, str], None] | None = None):
        self.client_sap = client_sap
        self.policies = policies
        self.security = security
        self.supported_conformance = conformance
        self.max_receive_pdu = max_receive_pdu
        self.random_bytes = random_bytes
        self.on_security_event = on_security_event or (lambda kind, detail: None)
        self.reset()

    def reset(self) -> None:
        self.state = State.IDLE
        self.policy: AssociationPolicy | None = None
        self.level = Level.PUBLIC
        self.conformance = 0
        self.client_max_pdu = 0
        self.client_title: bytes | None = None
        self.dedicated_key: bytes | None = None
        self.made_under: tuple[bytes, bytes] | None = None
        """(EK, AK) of the security setup when this association was accepted: once the global
        keys are renewed, nothing more is deciphered in it (its dedicated key came under the old EK)."""
        self.ctos = self.stoc = b""
        self.context = ApplicationContext.LN

    @property
    def associated(self) -> bool:
        return self.state is State.ASSOCIATED

    # ------------------------------------------------------------------ AARQ -> AARE
    def handle_aarq(self, raw: bytes) -> bytes:
        self.reset()
        context = ApplicationContext.LN
        try:
            aarq = Aarq.decode(raw)
            context = aarq.application_context
            return self._accept(aarq).encode()
        except ApduError as exc:
            refusal = AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"malformed AARQ: {exc}")
        except AarqRefused as exc:
            refusal = exc
        self.reset()
        log.warning("AARQ from client %d refused: %s", self.client_sap, refusal.reason)
        if refusal.diagnostic in (AcseServiceUser.AUTHENTICATION_FAILURE,
                                  AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED) or "decipher" in refusal.reason:
            self.on_security_event("dlms_auth_failure", f"client {self.client_sap}: {refusal.reason}")
        return Aare(context if context in ApplicationContext._value2member_map_ else ApplicationContext.LN,
                    AssociationResult.REJECTED_PERMANENT, refusal.diagnostic, refusal.source,
                    refusal.user_information).encode()

    def _accept(self, aarq: Aarq) -> Aare:
        policy = self.policies.get(self.client_sap)
        if policy is None:
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"no association for client SAP {self.client_sap}")
        wanted = ApplicationContext.LN_CIPHERED if policy.ciphered else ApplicationContext.LN
        if aarq.application_context != wanted:
            raise AarqRefused(AcseServiceUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                              f"application context {aarq.application_context}, expected {wanted}")
        try:
            mechanism = Mechanism(aarq.mechanism if aarq.mechanism is not None else Mechanism.NONE)
        except ValueError:
            raise AarqRefused(AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED,
                              f"unknown mechanism {aarq.mechanism}") from None
        if mechanism != policy.mechanism:
            diag = (AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_REQUIRED if mechanism == Mechanism.NONE
                    else AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
            raise AarqRefused(diag, f"mechanism {mechanism} proposed, {policy.mechanism} required")
        needs_title = policy.ciphered or mechanism == Mechanism.HIGH_GMAC
        if needs_title:
            if self.security is None:
                raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, "no security setup configured")
            if aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8:
                raise AarqRefused(AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED,
                                  "calling-AP-title (8-byte system title) required")
            self.client_title = aarq.calling_ap_title
        initiate, protection = self._initiate(aarq, policy)
        conformance = initiate.conformance & self.supported_conformance
        if initiate.dlms_version < 6:
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"DLMS version {initiate.dlms_version} < 6",
                              ConfirmedServiceError.initiate_error(InitiateError.DLMS_VERSION_TOO_LOW).encode())
        if initiate.max_receive_pdu_size < MIN_PDU_SIZE:
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"client max PDU {initiate.max_receive_pdu_size}",
                              ConfirmedServiceError.initiate_error(InitiateError.PDU_SIZE_TOO_SHORT).encode())
        if not conformance & (Conformance.GET | Conformance.SET | Conformance.ACTION):
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"no common services in 0x{initiate.conformance:06X}",
                              ConfirmedServiceError.initiate_error(InitiateError.INCOMPATIBLE_CONFORMANCE).encode())
        if mechanism == Mechanism.LOW:
            if not hmac.compare_digest(aarq.authentication_value or b"", policy.secret):
                raise AarqRefused(AcseServiceUser.AUTHENTICATION_FAILURE, "wrong LLS password")
        if mechanism == Mechanism.HIGH_GMAC:
            ctos = aarq.authentication_value or b""
            if not 8 <= len(ctos) <= 64:
                raise AarqRefused(AcseServiceUser.AUTHENTICATION_FAILURE,
                                  f"HLS client challenge of {len(ctos)} bytes (8..64 needed)")
            self.ctos, self.stoc = ctos, self.random_bytes(16)
        # accepted
        self.policy, self.context = policy, aarq.application_context
        self.conformance = conformance
        self.client_max_pdu = initiate.max_receive_pdu_size
        self.dedicated_key = initiate.dedicated_key if policy.ciphered else None
        self.made_under = None if self.security is None else (self.security.ek, self.security.ak)
        response = InitiateResponse(conformance, self.max_receive_pdu).encode()
        if protection is not None:
            response = self.encipher(response, protection)
        hls = mechanism == Mechanism.HIGH_GMAC
        self.state = State.PENDING_HLS if hls else State.ASSOCIATED
        self.level = Level.PUBLIC if hls else policy.level
        log.info("client %d associated (mechanism %s%s)", self.client_sap, mechanism.name,
                 ", HLS pending" if hls else "")
        return Aare(aarq.application_context, AssociationResult.ACCEPTED,
                    AcseServiceUser.AUTHENTICATION_REQUIRED if hls else AcseServiceUser.NULL,
                    user_information=response,
                    responding_ap_title=self.security.system_title if needs_title else None,
                    mechanism=mechanism if hls else None,
                    authentication_value=self.stoc if hls else None)

    def _initiate(self, aarq: Aarq, policy: AssociationPolicy) -> tuple[InitiateRequest, Protection | None]:
        info = aarq.user_information
        if not info:
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, "AARQ without user-information")
        protection = None
        if policy.ciphered:
            if info[0] != 0x21:
                raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, "ciphered context needs glo-initiateRequest")
            try:
                info, protection = self.decipher(info)
            except (DlmsError, ValueError) as exc:
                raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"cannot decipher InitiateRequest: {exc}") from None
        try:
            return InitiateRequest.decode(info), protection
        except ApduError as exc:
            raise AarqRefused(AcseServiceUser.NO_REASON_GIVEN, f"bad InitiateRequest: {exc}",
                              ConfirmedServiceError.initiate_error(InitiateError.OTHER).encode()) from None

    # ------------------------------------------------------------------ HLS pass 3/4
    def reply_to_hls(self, reply: bytes) -> bytes:
        """Verify f(StoC) from the client; return f(CtoS). Raises DecipheringError on failure
        (the association then goes back to IDLE)."""
        if self.state is not State.PENDING_HLS or self.security is None:
            raise DecipheringError("no HLS authentication pending")
        sec = self.security
        try:
            verify_hls_gmac(reply, self.stoc, system_title=self.client_title, ek=sec.ek, ak=sec.ak)
        except DecipheringError as exc:
            self.on_security_event("dlms_auth_failure", f"client {self.client_sap}: HLS reply rejected: {exc}")
            log.warning("HLS-GMAC reply from client %d rejected: %s", self.client_sap, exc)
            self.reset()
            raise
        self.state, self.level = State.ASSOCIATED, Level.HIGH
        log.info("client %d passed HLS-GMAC", self.client_sap)
        return hls_gmac(self.ctos, system_title=sec.system_title, invocation_counter=sec.tx_counter.next(),
                        ek=sec.ek, ak=sec.ak)

    # ------------------------------------------------------------------ release
    def handle_rlrq(self, raw: bytes) -> bytes:
        request = ReleaseRequest.decode(raw)
        log.info("client %d released the association", self.client_sap)
        self.reset()
        return ReleaseResponse(0 if request.reason is not None else None).encode()

    # ------------------------------------------------------------------ ciphering
    def decipher(self, raw: bytes) -> tuple[bytes, Protection]:
        """Plain APDU of a glo-/ded-/general-glo-ciphered request. Raises DecipheringError,
        ReplayError (IC not increasing) or ApduError."""
        if self.security is None:
            raise DecipheringError("ciphered APDU but no security setup")
        if self.made_under is not None and self.made_under != (self.security.ek, self.security.ak):
            raise DecipheringError("the global keys were renewed after this association was made: associate again")
        apdu = parse_ciphered(raw)
        title = self.client_title
        if apdu.tag == TAG_GENERAL_GLO:
            if title is not None and apdu.system_title != title:
                raise DecipheringError("general-glo-ciphering from another system title")
            title = apdu.system_title
        if title is None:
            raise DecipheringError("client system title unknown")
        kind = apdu.key_kind
        key = self.security.ek
        if kind == "ded":
            if self.dedicated_key is None:
                raise DecipheringError("ded-ciphered APDU but no dedicated key in this association")
            key = self.dedicated_key
        sc, ic, plain = unprotect(apdu.payload, system_title=title, ek=key, ak=self.security.ak)
        required = self.policy.required_protection if self.policy else SC_AUTHENTICATION
        if sc & required != required:
            raise DecipheringError(f"security control 0x{sc:02X} weaker than required 0x{required:02X}")
        if apdu.plain_tag is not None and (not plain or plain[0] != apdu.plain_tag):
            raise DecipheringError(f"ciphered tag 0x{apdu.tag:02X} does not match its content")
        self.security.replay_guard.accept(title, kind, ic)
        return plain, Protection("general" if apdu.tag == TAG_GENERAL_GLO else kind, sc, ic, title)

    def encipher(self, apdu: bytes, protection: Protection) -> bytes:
        sec = self.security
        key = self.dedicated_key if protection.kind == "ded" and self.dedicated_key else sec.ek
        return cipher_apdu(apdu, sc=protection.sc & (SC_AUTHENTICATION | SC_ENCRYPTION),
                           system_title=sec.system_title, invocation_counter=sec.tx_counter.next(),
                           ek=key, ak=sec.ak, kind=protection.kind)

    @staticmethod
    def cipher_overhead(protection: Protection | None) -> int:
        """Bytes ciphering adds to an APDU (tag, length, header, auth tag[, system title])."""
        if protection is None:
            return 0
        return 1 + 3 + 5 + 12 + (9 if protection.kind == "general" else 0)
