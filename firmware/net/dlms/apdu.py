"""Decode any APDU the A-route carries into its typed object (dispatch on the tag byte).

``decode_apdu(raw)`` returns one of: Aarq, Aare, ReleaseRequest, ReleaseResponse,
InitiateRequest, InitiateResponse, ConfirmedServiceError, the GET/SET/ACTION classes of
:mod:`.xdlms`, DataNotification, EventNotificationRequest, ExceptionResponse, or CipheredApdu
(glo-/ded-/general-ciphering; decipher with :mod:`.security`). Malformed input raises a
DecodeError subclass; every object has ``encode()``.
"""
from __future__ import annotations

from sumame.firmware.net.budget import WorkBudget

from .acse import TAG_AARE, TAG_AARQ, TAG_RLRE, TAG_RLRQ, Aare, Aarq, ReleaseRequest, ReleaseResponse
from .errors import ApduError
from .initiate import (TAG_CONFIRMED_SERVICE_ERROR, TAG_INITIATE_REQUEST, TAG_INITIATE_RESPONSE,
                       ConfirmedServiceError, InitiateRequest, InitiateResponse)
from .notify import (TAG_DATA_NOTIFICATION, TAG_EVENT_NOTIFICATION, TAG_EXCEPTION_RESPONSE,
                     DataNotification, EventNotificationRequest, ExceptionResponse)
from .reader import Reader
from .security import CIPHERED_TAGS, TAG_GENERAL_DED, TAG_GENERAL_GLO, CipheredApdu
from .xdlms import REQUEST_TYPES

_WHOLE = {
    TAG_AARQ: Aarq.decode, TAG_AARE: Aare.decode,
    TAG_RLRQ: ReleaseRequest.decode, TAG_RLRE: ReleaseResponse.decode,
    TAG_INITIATE_REQUEST: InitiateRequest.decode, TAG_INITIATE_RESPONSE: InitiateResponse.decode,
    TAG_CONFIRMED_SERVICE_ERROR: ConfirmedServiceError.decode,
}
_BODY = {
    TAG_DATA_NOTIFICATION: DataNotification.read,
    TAG_EVENT_NOTIFICATION: EventNotificationRequest.read,
    TAG_EXCEPTION_RESPONSE: ExceptionResponse.read,
}


def decode_apdu(raw: bytes, budget: WorkBudget | None = None):
    """Typed APDU for ``raw`` (must be exactly one APDU). ``budget`` bounds the decoding work
    (default: one sized for ``raw``); running out raises ApduLimitError."""
    raw = bytes(raw)
    if not raw:
        raise ApduError("empty APDU", 0)
    tag = raw[0]
    whole = _WHOLE.get(tag)
    if whole is not None:
        return whole(raw)
    r = Reader(raw, 1, error=ApduError, budget=budget)
    if tag in REQUEST_TYPES:
        choice = r.u8("service choice")
        cls = REQUEST_TYPES[tag].get(choice)
        if cls is None:
            raise ApduError(f"APDU 0x{tag:02X} choice {choice} not supported", 1)
        apdu = cls.read(r)
    elif tag in _BODY:
        apdu = _BODY[tag](r)
    elif tag in CIPHERED_TAGS or tag in (TAG_GENERAL_GLO, TAG_GENERAL_DED):
        return CipheredApdu.read(tag, r)
    else:
        raise ApduError(f"unknown APDU tag 0x{tag:02X}", 0)
    r.expect_end(type(apdu).__name__)
    return apdu
