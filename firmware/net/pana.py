"""PANA (RFC 5191) state machines for route B: the PAA (meter) and the PaC (HEMS dongle).

Pure: ``receive(data, now)`` / ``tick(now)`` / ``start(now)`` / ``terminate(now)`` return the
PANA messages (bytes) to send to the peer on UDP 716; what happened is queued as ``PanaEvent``
in ``events`` (drain with ``pop_events()``). Time is always passed in (epoch seconds).

Handshake (PaC-initiated, EAP-PSK piggy-backed)::

    PaC PCI -> PAA PAR[S](PRF, Integrity) -> PaC PAN[S](chosen) -> PAA PAR(Nonce, PSK-1)
    -> PaC PAN(Nonce, PSK-2) -> PAA PAR(PSK-3) -> PaC PAN(PSK-4)
    -> PAA PAR[C](Result-Code, EAP-Success, Key-Id, Session-Lifetime, AUTH) -> PaC PAN[C](Key-Id, AUTH)

Wrong credentials end with PAR[C](Result-Code 1, EAP-Failure) and ``auth-failed`` on both sides.
Once a PANA SA exists every message carries AUTH. Re-authentication: PaC PNR[A] at 80 % of the
lifetime, PNA[A], then a new EAP run and a new Key-Id. Termination: PTR / PTA. A lapsed
lifetime ends the session (PAA: PTR with SESSION_TIMEOUT; PaC: ``expired``).

Receive rules (counted in ``stats``): malformed -> "malformed"; wrong Session-Id -> "session";
missing or bad AUTH -> "bad-auth"; a request whose sequence is neither the next one nor the
last one -> "replay"; the last request again -> its cached answer is resent ("duplicate"); an
answer that matches no outstanding request -> "unexpected". Dropped messages change nothing.
"""
from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from . import eap_psk
from .pana_codec import (AUTH_HMAC_SHA2_256_128, AVP_EAP, AVP_INTEGRITY_ALG, AVP_KEY_ID, AVP_NONCE,
                         AVP_PRF_ALG, AVP_RESULT_CODE, AVP_SESSION_LIFETIME, AVP_TERMINATION_CAUSE,
                         CAUSE_ADMINISTRATIVE, CAUSE_LOGOUT, CAUSE_SESSION_TIMEOUT, FLAG_A, FLAG_C,
                         FLAG_P, FLAG_R, FLAG_S, LINK_KEY_DERIVATION, PAR, PCI, PNR, PRF_HMAC_SHA2_256,
                         PTR, RESULT_AUTHENTICATION_REJECTED, RESULT_SUCCESS, Avp, LinkKey, PanaError,
                         PanaMessage, auth_key, decode, u32, verify_auth, with_auth)

PANA_PORT = 716


@dataclass(frozen=True)
class Retransmit:
    """Request retransmission: first after ``irt`` s, doubling up to ``mrt`` s, at most ``mrc``
    retransmissions, then give up. Defaults give 2+4+8+8+8+8 = 38 s, the budget momonga plans
    for one failing attempt."""

    irt: float = 2.0
    mrt: float = 8.0
    mrc: int = 5

    def interval(self, attempt: int) -> float:
        return min(self.irt * (2 ** attempt), self.mrt)


@dataclass(frozen=True)
class PanaEvent:
    """kind: authenticated | reauthenticated | auth-failed | terminated | terminated-by-peer |
    termination-timeout | expired. ``link_key``/``lifetime_s`` on (re)authenticated."""

    kind: str
    detail: str = ""
    link_key: LinkKey | None = None
    lifetime_s: int | None = None


IDLE, WAIT_PAN_S, AUTH, WAIT_PAN_C, OPEN, REAUTH, TERMINATING, CLOSED = (
    "idle", "wait-pan-s", "authenticating", "wait-pan-c", "open", "re-authenticating",
    "terminating", "closed")


class _Endpoint:
    def __init__(self, random_bytes: Callable[[int], bytes], retransmit: Retransmit):
        self.random_bytes = random_bytes
        self.retransmit = retransmit
        self.state = IDLE
        self.session_id = 0
        self.tx_seq = struct.unpack(">I", random_bytes(4))[0] & 0x7FFFFFFF
        self.rx_seq: int | None = None
        self.stats: Counter[str] = Counter()
        self.events: list[PanaEvent] = []
        self.sa_key: bytes | None = None       # PANA_AUTH_KEY of the current SA
        self.link_key: LinkKey | None = None
        self.lifetime_s: int | None = None
        self.expires_at: float | None = None
        self.i_par = self.i_pan = b""
        self.pac_nonce = self.paa_nonce = b""
        self._out: tuple[PanaMessage, bytes, float, int] | None = None  # msg, bytes, deadline, tries
        self._answer_cache: tuple[int, bytes] | None = None

    # ------------------------------------------------------------------ helpers
    def pop_events(self) -> list[PanaEvent]:
        events, self.events = self.events, []
        return events

    def _emit(self, kind: str, detail: str = "", **kw) -> None:
        self.events.append(PanaEvent(kind, detail, **kw))

    def _seal(self, msg: PanaMessage) -> bytes:
        return (with_auth(msg, self.sa_key) if self.sa_key is not None else msg).encode()

    def _request(self, msg_type: int, flags: int, avps, now: float, *, seal: bool = True) -> bytes:
        self.tx_seq = (self.tx_seq + 1) & 0xFFFFFFFF
        msg = PanaMessage(msg_type, flags | FLAG_R, self.session_id, self.tx_seq, tuple(avps))
        data = self._seal(msg) if seal else msg.encode()
        self._out = (msg, data, now + self.retransmit.interval(0), 0)
        return data

    def _answer(self, req: PanaMessage, flags: int, avps=(), *, seal: bool = True) -> bytes:
        msg = PanaMessage(req.msg_type, flags, self.session_id, req.seq, tuple(avps))
        data = self._seal(msg) if seal else msg.encode()
        self._answer_cache = (req.seq, data)
        return data

    def next_deadline(self) -> float | None:
        times = [t for t in (self._out[2] if self._out else None, self._timer()) if t is not None]
        return min(times) if times else None

    def _timer(self) -> float | None:
        return None

    def tick(self, now: float) -> list[bytes]:
        """Retransmit an unanswered request whose timer ran out; give up after ``mrc``."""
        out: list[bytes] = []
        if self._out is not None and now >= self._out[2]:
            msg, data, _, tries = self._out
            if tries >= self.retransmit.mrc:
                self._out = None
                self._gave_up(msg, now)
            else:
                self._out = (msg, data, now + self.retransmit.interval(tries + 1), tries + 1)
                self.stats["retransmit"] += 1
                out.append(data)
        return out + self._on_timer(now)

    def _on_timer(self, now: float) -> list[bytes]:
        return []

    def _gave_up(self, msg: PanaMessage, now: float) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        self.state = CLOSED
        self._out = None
        self.sa_key = None
        self.link_key = None
        self.expires_at = None

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Handle one PANA message from the peer; returns the messages to send back."""
        try:
            msg = decode(data)
        except PanaError:
            self.stats["malformed"] += 1
            return []
        if msg.msg_type != PCI and self.session_id and msg.session_id != self.session_id:
            self.stats["session"] += 1
            return []
        if self.sa_key is not None and not (msg.flags & FLAG_C and msg.msg_type == PAR):
            if not verify_auth(msg, self.sa_key):
                self.stats["bad-auth"] += 1
                return []
        if msg.msg_type == PCI:
            return self._on_pci(msg, bytes(data), now)
        if msg.is_request:
            if self._answer_cache is not None and msg.seq == self._answer_cache[0] == self.rx_seq:
                self.stats["duplicate"] += 1
                return [self._answer_cache[1]]
            if self.rx_seq is not None and msg.seq != (self.rx_seq + 1) & 0xFFFFFFFF:
                self.stats["replay"] += 1
                return []
            try:
                out = self._on_request(msg, bytes(data), now)
            except (PanaError, eap_psk.EapError):
                self.stats["malformed"] += 1
                return []
            if out is not None:
                self.rx_seq = msg.seq
            return out or []
        if self._out is None or self._out[0].msg_type != msg.msg_type or self._out[0].seq != msg.seq:
            self.stats["unexpected"] += 1
            return []
        request = self._out[0]
        try:
            out = self._on_answer(msg, request, bytes(data), now)
        except (PanaError, eap_psk.EapError):
            self.stats["malformed"] += 1
            return []
        return out

    def _on_pci(self, msg, data, now):
        self.stats["unexpected"] += 1
        return []

    def _on_request(self, msg: PanaMessage, data: bytes, now: float) -> list[bytes] | None:
        """Return None to drop the request without taking its sequence number."""
        raise NotImplementedError

    def _on_answer(self, msg: PanaMessage, request: PanaMessage, data: bytes, now: float) -> list[bytes]:
        raise NotImplementedError

    def _eap_of(self, msg: PanaMessage) -> bytes | None:
        avp = msg.avp(AVP_EAP)
        return None if avp is None else avp.value


class PanaPaa(_Endpoint):
    """Authentication agent (the meter's dongle). One instance = one PaC session attempt.

    psk / id_s: EAP-PSK credentials; expected_id_p: the route-B ID (ASCII) the PaC must present.
    lifetime_s: Session-Lifetime granted (SKSTACK S16). auto_terminate: send PTR when it lapses.
    """

    def __init__(self, *, psk: bytes, id_s: bytes, expected_id_p: bytes | None, lifetime_s: int = 900,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 retransmit: Retransmit = Retransmit(), key_id_base: int = 0x0000FE00,
                 auto_terminate: bool = True):
        super().__init__(random_bytes, retransmit)
        self.psk, self.id_s, self.expected_id_p = psk, id_s, expected_id_p
        self.grant_s = lifetime_s
        self.key_id = key_id_base
        self.auto_terminate = auto_terminate
        self._eap: eap_psk.EapPskServer | None = None
        self._pending: tuple[bytes, int] | None = None   # (auth key, key id) awaiting PAN[C]
        self._failing = False

    def _timer(self):
        return self.expires_at if self.state in (OPEN, REAUTH) else None

    def _on_timer(self, now):
        if self.expires_at is not None and now >= self.expires_at and self.state in (OPEN, REAUTH):
            self._emit("expired", "session lifetime lapsed without re-authentication")
            self.expires_at = None
            if not self.auto_terminate:
                self._close()
                return []
            self.state = TERMINATING
            return [self._request(PTR, 0, [u32(AVP_TERMINATION_CAUSE, CAUSE_SESSION_TIMEOUT)], now)]
        return []

    def _on_pci(self, msg, data, now):
        if self.state not in (IDLE, CLOSED):
            self.stats["unexpected"] += 1
            return []
        self.session_id = struct.unpack(">I", self.random_bytes(4))[0] or 1
        self.rx_seq = None
        self.state = WAIT_PAN_S
        out = self._request(PAR, FLAG_S, [u32(AVP_PRF_ALG, PRF_HMAC_SHA2_256),
                                          u32(AVP_INTEGRITY_ALG, AUTH_HMAC_SHA2_256_128)], now)
        self.i_par = out
        return [out]

    def _start_eap(self, now) -> bytes:
        self._eap = eap_psk.EapPskServer(self.psk, self.id_s, self.expected_id_p,
                                         random_bytes=self.random_bytes,
                                         first_identifier=self.random_bytes(1)[0])
        self.paa_nonce = self.random_bytes(16)
        self.pac_nonce = b""
        return self._request(PAR, 0, [Avp(AVP_NONCE, self.paa_nonce), Avp(AVP_EAP, self._eap.start())], now)

    def _after_eap(self, reply: bytes | None, now) -> list[bytes]:
        eap = self._eap
        if reply is None:
            return []
        if not eap.done:
            return [self._request(PAR, 0, [Avp(AVP_EAP, reply)], now)]
        self.state = WAIT_PAN_C
        if eap.success:
            self.key_id = (self.key_id + 1) & 0xFFFFFFFF
            key = auth_key(eap.msk, self.i_par, self.i_pan, self.pac_nonce, self.paa_nonce, self.key_id)
            self._pending = (key, self.key_id)
            self._failing = False
            msg_avps = [u32(AVP_RESULT_CODE, RESULT_SUCCESS), Avp(AVP_EAP, reply),
                        u32(AVP_KEY_ID, self.key_id), u32(AVP_SESSION_LIFETIME, self.grant_s)]
            self.tx_seq = (self.tx_seq + 1) & 0xFFFFFFFF
            msg = with_auth(PanaMessage(PAR, FLAG_R | FLAG_C, self.session_id, self.tx_seq,
                                        tuple(msg_avps)), key)
            data = msg.encode()
            self._out = (msg, data, now + self.retransmit.interval(0), 0)
            return [data]
        self._failing = True
        self._fail_reason = eap.failure_reason
        return [self._request(PAR, FLAG_C, [u32(AVP_RESULT_CODE, RESULT_AUTHENTICATION_REJECTED),
                                            Avp(AVP_EAP, reply)], now)]

    def _on_request(self, msg, data, now):
        if msg.msg_type == PAR and self.state in (AUTH, REAUTH) and msg.avp(AVP_EAP) is not None:
            ans = self._answer(msg, 0)
            return [ans] + self._after_eap(self._eap.handle(self._eap_of(msg)), now)
        if msg.msg_type == PNR and self.state == OPEN:
            if msg.flags & FLAG_A:
                self.state = REAUTH
                return [self._answer(msg, FLAG_A), self._start_eap(now)]
            return [self._answer(msg, msg.flags & FLAG_P)]
        if msg.msg_type == PTR and self.state in (OPEN, REAUTH, WAIT_PAN_C, AUTH):
            ans = self._answer(msg, 0)
            self._emit("terminated-by-peer", "PaC sent PTR")
            self._close()
            return [ans]
        self.stats["unexpected"] += 1
        return None

    def _on_answer(self, msg, request, data, now):
        saved, self._out = self._out, None
        if msg.msg_type == PAR and request.flags & FLAG_S:
            prf, integ = msg.avp(AVP_PRF_ALG), msg.avp(AVP_INTEGRITY_ALG)
            if prf is None or integ is None or prf.u32 != PRF_HMAC_SHA2_256 or integ.u32 != AUTH_HMAC_SHA2_256_128:
                self._emit("auth-failed", "PaC chose no offered algorithm")
                self._close()
                return []
            self.i_pan = data
            self.state = AUTH
            return [self._start_eap(now)]
        if msg.msg_type == PAR and request.flags & FLAG_C:
            if self._failing:
                self._emit("auth-failed", self._fail_reason or "authentication rejected")
                self._close()
                return []
            key, key_id = self._pending
            if not verify_auth(msg, key):
                self.stats["bad-auth"] += 1
                self._out = saved
                return []
            was_open = self.sa_key is not None
            self.sa_key, self._pending = key, None
            self.link_key = LINK_KEY_DERIVATION(self._eap.msk, key_id, self.session_id)
            self.lifetime_s = self.grant_s
            self.expires_at = now + self.grant_s
            self.state = OPEN
            self._emit("reauthenticated" if was_open else "authenticated",
                       link_key=self.link_key, lifetime_s=self.grant_s)
            return []
        if msg.msg_type == PAR:
            nonce = msg.avp(AVP_NONCE)
            if nonce is not None and not self.pac_nonce:
                self.pac_nonce = nonce.value
            eap = self._eap_of(msg)
            if eap is None:
                return []      # the PaC will send its EAP response in a PAR of its own
            return self._after_eap(self._eap.handle(eap), now)
        if msg.msg_type == PTR:
            if self.state == TERMINATING and request.avp(AVP_TERMINATION_CAUSE).u32 != CAUSE_SESSION_TIMEOUT:
                self._emit("terminated", "PaC acknowledged PTR")
            self._close()
            return []
        return []

    def _gave_up(self, msg, now):
        if self.state == TERMINATING:
            if msg.avp(AVP_TERMINATION_CAUSE).u32 != CAUSE_SESSION_TIMEOUT:
                self._emit("termination-timeout", "PaC did not answer PTR")
        elif self.state in (OPEN,):
            return
        else:
            self._emit("auth-failed", "PaC stopped answering")
        self._close()

    def terminate(self, now: float) -> list[bytes]:
        """SKTERM on the meter side: PTR(ADMINISTRATIVE). [] when there is no session."""
        if self.state not in (OPEN, REAUTH):
            return []
        self.state = TERMINATING
        return [self._request(PTR, 0, [u32(AVP_TERMINATION_CAUSE, CAUSE_ADMINISTRATIVE)], now)]

    @property
    def holds_session(self) -> bool:
        return self.state not in (IDLE, CLOSED)


class PanaPac(_Endpoint):
    """PANA client (the HEMS dongle, SKJOIN). ``start(now)`` sends PCI.

    auth_timeout_s: give up (``auth-failed``) when no session after this long.
    reauth_at: fraction of the granted lifetime after which PNR[A] is sent (SKSTACK: 0.8).
    auto_reauth: SKSTACK S17.
    """

    def __init__(self, *, psk: bytes, id_p: bytes, random_bytes: Callable[[int], bytes] = os.urandom,
                 retransmit: Retransmit = Retransmit(), auth_timeout_s: float = 40.0,
                 reauth_at: float = 0.8, auto_reauth: bool = True):
        super().__init__(random_bytes, retransmit)
        self.psk, self.id_p = psk, id_p
        self.auth_timeout_s, self.reauth_at, self.auto_reauth = auth_timeout_s, reauth_at, auto_reauth
        self._eap: eap_psk.EapPskPeer | None = None
        self._auth_deadline: float | None = None
        self._reauth_time: float | None = None

    def start(self, now: float) -> list[bytes]:
        self.state = IDLE
        self.session_id, self.rx_seq, self.sa_key = 0, None, None
        self._auth_deadline = now + self.auth_timeout_s
        msg = PanaMessage(PCI, 0, 0, 0)
        data = msg.encode()
        self._out = (msg, data, now + self.retransmit.interval(0), 0)
        return [data]

    def _timer(self):
        reauth = self._reauth_time if self.state == OPEN and self.auto_reauth else None
        times = [t for t in (self._auth_deadline, reauth, self.expires_at) if t is not None]
        return min(times) if times else None

    def _on_timer(self, now):
        if self._auth_deadline is not None and now >= self._auth_deadline:
            self._auth_deadline = None
            reason = (self._eap.failure_reason if self._eap and self._eap.failure_reason
                      else "no answer from the PAA")
            self._emit("auth-failed", reason)
            if self.sa_key is None:
                self._close()
            else:
                self.state, self._out = OPEN, None
        if self.expires_at is not None and now >= self.expires_at and self.state in (OPEN, REAUTH):
            self._emit("expired", "session lifetime lapsed")
            self._close()
            return []
        if (self.state == OPEN and self.auto_reauth and self._reauth_time is not None
                and now >= self._reauth_time):
            return self.reauthenticate(now)
        return []

    def reauthenticate(self, now: float) -> list[bytes]:
        """SKREJOIN: PNR[A]. [] when there is no session."""
        if self.state != OPEN:
            return []
        self._reauth_time = None
        self.state = REAUTH
        self._auth_deadline = now + self.auth_timeout_s
        return [self._request(PNR, FLAG_A, [], now)]

    def terminate(self, now: float) -> list[bytes]:
        """SKTERM: PTR(LOGOUT). [] when there is no session."""
        if self.state not in (OPEN, REAUTH):
            return []
        self.state = TERMINATING
        self._auth_deadline = None
        return [self._request(PTR, 0, [u32(AVP_TERMINATION_CAUSE, CAUSE_LOGOUT)], now)]

    def _on_request(self, msg, data, now):
        if msg.msg_type == PAR and msg.flags & FLAG_S and self.state == IDLE:
            self.session_id, self.rx_seq = msg.session_id, None
            self._out = None
            offered_prf = {a.u32 for a in msg.all(AVP_PRF_ALG)}
            offered_int = {a.u32 for a in msg.all(AVP_INTEGRITY_ALG)}
            if PRF_HMAC_SHA2_256 not in offered_prf or AUTH_HMAC_SHA2_256_128 not in offered_int:
                self.stats["unexpected"] += 1
                return None
            self.i_par = data
            self.state = AUTH
            self.i_pan = self._answer(msg, FLAG_S, [u32(AVP_PRF_ALG, PRF_HMAC_SHA2_256),
                                                    u32(AVP_INTEGRITY_ALG, AUTH_HMAC_SHA2_256_128)])
            return [self.i_pan]
        if msg.msg_type == PAR and msg.flags & FLAG_C and self.state in (AUTH, REAUTH):
            return self._on_complete(msg, now)
        if msg.msg_type == PAR and self.state in (AUTH, REAUTH):
            nonce = msg.avp(AVP_NONCE)
            avps = []
            if nonce is not None:
                self.paa_nonce = nonce.value
                self.pac_nonce = self.random_bytes(16)
                self._eap = eap_psk.EapPskPeer(self.psk, self.id_p, random_bytes=self.random_bytes)
                avps.append(Avp(AVP_NONCE, self.pac_nonce))
            eap = self._eap_of(msg)
            if eap is not None and self._eap is not None:
                reply = self._eap.handle(eap)
                if reply is None:
                    return None      # e.g. MAC_S failed: stay silent, the PAA gives up
                avps.append(Avp(AVP_EAP, reply))
            return [self._answer(msg, 0, avps)]
        if msg.msg_type == PTR and self.state in (OPEN, REAUTH, AUTH):
            ans = self._answer(msg, 0)
            self._emit("terminated-by-peer", "PAA sent PTR")
            self._close()
            return [ans]
        if msg.msg_type == PNR and self.state in (OPEN, REAUTH):
            return [self._answer(msg, msg.flags & (FLAG_P | FLAG_A))]
        self.stats["unexpected"] += 1
        return None

    def _on_complete(self, msg, now):
        rc = msg.avp(AVP_RESULT_CODE)
        eap = self._eap_of(msg)
        if eap is not None and self._eap is not None:
            self._eap.handle(eap)
        ok = rc is not None and rc.u32 == RESULT_SUCCESS and self._eap is not None and self._eap.success
        if not ok:
            if self.sa_key is not None and not verify_auth(msg, self.sa_key):
                self.stats["bad-auth"] += 1
                return None
            ans = self._answer(msg, FLAG_C)
            reason = (self._eap.failure_reason if self._eap and self._eap.failure_reason
                      else "authentication rejected by the PAA")
            self._emit("auth-failed", reason)
            self._close()
            self._auth_deadline = None
            return [ans]
        key_avp, life = msg.avp(AVP_KEY_ID), msg.avp(AVP_SESSION_LIFETIME)
        if key_avp is None:
            raise PanaError("successful PAR[C] without Key-Id")
        key = auth_key(self._eap.msk, self.i_par, self.i_pan, self.pac_nonce, self.paa_nonce, key_avp.u32)
        if not verify_auth(msg, key):
            self.stats["bad-auth"] += 1
            return None
        was_open = self.sa_key is not None
        self.sa_key = key
        self.link_key = LINK_KEY_DERIVATION(self._eap.msk, key_avp.u32, self.session_id)
        self.lifetime_s = life.u32 if life is not None else None
        self.expires_at = now + self.lifetime_s if self.lifetime_s else None
        self._reauth_time = now + self.lifetime_s * self.reauth_at if self.lifetime_s else None
        self._auth_deadline = None
        self.state = OPEN
        ans = self._answer(msg, FLAG_C, [u32(AVP_KEY_ID, key_avp.u32)])
        self._emit("reauthenticated" if was_open else "authenticated",
                   link_key=self.link_key, lifetime_s=self.lifetime_s)
        return [ans]

    def _on_answer(self, msg, request, data, now):
        self._out = None
        if msg.msg_type == PTR:
            self._emit("terminated", "PAA acknowledged PTR")
            self._close()
        return []

    def _on_pci(self, msg, data, now):
        self.stats["unexpected"] += 1
        return []

    def _gave_up(self, msg, now):
        if msg.msg_type == PTR:
            self._emit("termination-timeout", "PAA did not answer PTR")
            self._close()
        elif msg.msg_type == PNR:
            self._emit("auth-failed", "PAA did not answer the re-authentication request")
            self.state = OPEN if self.sa_key is not None else CLOSED
        elif msg.msg_type == PCI:
            self._emit("auth-failed", "no answer from the PAA")
            self._auth_deadline = None
            self._close()

    @property
    def is_open(self) -> bool:
        return self.state in (OPEN, REAUTH)
