"""Signed firmware image format (pure codec: bytes in, typed objects out, typed errors).

An image is a fixed 128-byte header, a 64-byte Ed25519 signature over that header, then the
payload (the firmware's application bundle: a zip of the ``sumame`` packages plus a manifest).
All integers are big-endian::

    offset size field
    0      8    magic             b"SUMAMEFW"
    8      1    format            1
    9      1    flags             0 (reserved)
    10     8    target            board kind the image is built for, ASCII, NUL padded ("lv", "hv")
    18     6    version           major, minor, patch (3 x uint16)
    24     4    security_version  monotonic; a meter never boots an image below its floor
    28     32   build_id          ASCII, NUL padded (e.g. a git revision)
    60     4    payload_size      bytes
    64     32   payload_sha256    SHA-256 of the payload
    96     8    key_id            first 8 bytes of SHA-256 of the signer's raw Ed25519 public key
    104    24   reserved          zero
    128    64   signature         Ed25519 (RFC 8032) over bytes 0..127; zero = unsigned
    192    n    payload

The signature covers the header, and the header commits to the payload by its hash, so
verification is: structure -> signature by a trusted key -> payload hash -> board -> version
policy. Every refusal is an :class:`ImageError` whose ``kind`` names the reason.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAGIC = b"SUMAMEFW"
FORMAT = 1
HEADER = struct.Struct(">8sBB8s3HI32sI32s8s24x")
HEADER_SIZE = HEADER.size           # 128
SIGNATURE_SIZE = 64
PAYLOAD_OFFSET = HEADER_SIZE + SIGNATURE_SIZE
UNSIGNED = bytes(SIGNATURE_SIZE)
TARGETS = ("lv", "hv")


class ImageError(ValueError):
    """A refused image. kind: truncated | format | oversized | unsigned | unknown-key |
    bad-signature | hash-mismatch | wrong-board | downgrade."""

    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}")


def key_id(public_raw: bytes) -> bytes:
    """8-byte identifier of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_raw).digest()[:8]


@dataclass(frozen=True)
class ImageHeader:
    target: str
    version: tuple[int, int, int]
    security_version: int
    build_id: str
    payload_size: int
    payload_sha256: bytes
    key_id: bytes = bytes(8)
    signature: bytes = UNSIGNED
    raw: bytes = field(default=b"", compare=False, repr=False)
    """The 128 header bytes as received (what the signature is checked over)."""

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def total_size(self) -> int:
        return PAYLOAD_OFFSET + self.payload_size

    @property
    def signed(self) -> bool:
        return self.signature != UNSIGNED

    def header_bytes(self) -> bytes:
        return HEADER.pack(MAGIC, FORMAT, 0, self.target.encode("ascii"), *self.version,
                           self.security_version, self.build_id.encode("ascii"), self.payload_size,
                           self.payload_sha256, self.key_id)

    def encode(self) -> bytes:
        """Header and signature (the first PAYLOAD_OFFSET bytes of the image)."""
        return self.header_bytes() + self.signature


def decode_header(data: bytes) -> ImageHeader:
    """Parse the first PAYLOAD_OFFSET bytes; raises ImageError (truncated / format)."""
    if len(data) < PAYLOAD_OFFSET:
        raise ImageError("truncated", f"{len(data)} bytes; a header and signature need {PAYLOAD_OFFSET}")
    magic, fmt, flags, target, ma, mi, pa, secver, build, size, digest, kid = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError("format", f"magic {magic!r} is not {MAGIC!r}")
    if fmt != FORMAT or flags != 0:
        raise ImageError("format", f"format {fmt} flags {flags} not supported (format {FORMAT}, flags 0)")
    if any(data[104:HEADER_SIZE]):
        raise ImageError("format", "reserved header bytes are not zero")
    try:
        target_s = target.rstrip(b"\0").decode("ascii")
        build_s = build.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise ImageError("format", "target or build id is not ASCII") from None
    return ImageHeader(target_s, (ma, mi, pa), secver, build_s, size, digest, kid,
                       bytes(data[HEADER_SIZE:PAYLOAD_OFFSET]), bytes(data[:HEADER_SIZE]))


def build_image(payload: bytes, *, target: str, version: tuple[int, int, int], security_version: int,
                build_id: str) -> bytes:
    """An unsigned image of ``payload``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if len(build_id.encode("ascii")) > 32:
        raise ValueError("build id longer than 32 ASCII characters")
    if not all(0 <= v <= 0xFFFF for v in version) or not 0 <= security_version <= 0xFFFFFFFF:
        raise ValueError("version parts must be 0..65535 and the security version 0..2^32-1")
    header = ImageHeader(target, tuple(version), security_version, build_id, len(payload),
                         hashlib.sha256(payload).digest())
    return header.encode() + payload


def sign_image(image: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The same image, signed (any previous signature replaced)."""
    header = decode_header(image)
    public_raw = private_key.public_key().public_bytes_raw()
    header = replace(header, key_id=key_id(public_raw), signature=UNSIGNED, raw=b"")
    signature = private_key.sign(header.header_bytes())
    return replace(header, signature=signature).encode() + bytes(image[PAYLOAD_OFFSET:])


@dataclass(frozen=True)
class Policy:
    """What a meter accepts: its board kind, its trusted raw public keys, its version floor,
    and the largest image its slot holds (bytes)."""

    target: str
    trusted_keys: tuple[bytes, ...]
    security_floor: int = 0
    max_size: int = 1 << 30


def verify_header(header: ImageHeader, policy: Policy) -> None:
    """Signature, board and version checks that need only the header (raises ImageError)."""
    if header.total_size > policy.max_size:
        raise ImageError("oversized", f"image of {header.total_size} bytes exceeds the slot's {policy.max_size}")
    if not header.signed:
        raise ImageError("unsigned", "the image carries no signature")
    key = next((k for k in policy.trusted_keys if key_id(k) == header.key_id), None)
    if key is None:
        raise ImageError("unknown-key", f"signed by key {header.key_id.hex()}, not a release key of this meter")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(header.signature, header.raw or header.header_bytes())
    except InvalidSignature:
        raise ImageError("bad-signature", "Ed25519 signature does not match the header") from None
    if header.target != policy.target:
        raise ImageError("wrong-board", f"image is for a {header.target!r} meter, this meter is {policy.target!r}")
    if header.security_version < policy.security_floor:
        raise ImageError("downgrade", f"security version {header.security_version} is below this meter's "
                                      f"floor {policy.security_floor}")


def verify_image(image: bytes, policy: Policy) -> ImageHeader:
    """Fully verify a complete image (header + signature + payload hash + policy)."""
    header = decode_header(image)
    verify_header(header, policy)
    if len(image) < header.total_size:
        raise ImageError("truncated", f"{len(image)} bytes of {header.total_size}")
    payload = image[PAYLOAD_OFFSET:header.total_size]
    if hashlib.sha256(payload).digest() != header.payload_sha256:
        raise ImageError("hash-mismatch", "payload SHA-256 does not match the signed header")
    return header
