"""Typed errors of the DLMS/COSEM codecs.

Contract of every decoder in ``sumame.firmware.net.dlms``: it returns a typed result or raises a
subclass of :class:`DlmsError` whose message says what is wrong (and, for byte decoders, at which
offset). No other exception escapes a decoder, whatever the input bytes.
"""
from __future__ import annotations


class DlmsError(Exception):
    """Base of all DLMS codec and security errors."""


class DecodeError(DlmsError, ValueError):
    """Malformed input bytes."""

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset})")


class AxdrError(DecodeError):
    """Malformed A-XDR data."""


class ApduError(DecodeError):
    """Malformed or unsupported xDLMS / ACSE APDU."""


class HdlcError(DecodeError):
    """Malformed HDLC frame (flags, length, addresses, HCS/FCS)."""


class WrapperError(DecodeError):
    """Malformed IEC 62056-47 wrapper header."""


class LimitError(DecodeError):
    """Input whose decoding would exceed a bound (work budget, nesting depth, elements that
    cannot fit the bytes): refused before the work is done. Mixed into the codec's own error
    class below, so callers that catch ApduError / AxdrError also catch these."""


class AxdrLimitError(AxdrError, LimitError):
    pass


class ApduLimitError(ApduError, LimitError):
    pass


class HdlcLimitError(HdlcError, LimitError):
    pass


LIMIT_ERRORS: dict[type, type] = {AxdrError: AxdrLimitError, ApduError: ApduLimitError,
                                  HdlcError: HdlcLimitError, DecodeError: LimitError}


class EncodeError(DlmsError, ValueError):
    """A value cannot be encoded (out of range for its type, wrong Python type)."""


class SecurityError(DlmsError):
    """A protected APDU was refused."""


class DecipheringError(SecurityError):
    """The GCM tag did not verify (forged or corrupted APDU, wrong key) or the header is bad."""


class ReplayError(SecurityError):
    """The invocation counter was not greater than the last accepted one (replayed APDU)."""

    def __init__(self, message: str, received: int, expected_min: int):
        self.received = received
        self.expected_min = expected_min
        super().__init__(message)
