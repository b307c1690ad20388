"""Base of the COSEM interface classes: access rights by association level, typed refusals.

An object answers ``get(attr, ctx, access)``, ``set(attr, value, ctx)`` and
``invoke(method, params, ctx)``; it raises :class:`CosemError` with a Data-Access-Result to
refuse. Access rights depend on the authentication level of the association asking
(reference §2.1, Association LN access_rights).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ..axdr import Data, DataType
from ..descriptors import DataAccessResult, SelectiveAccess
from ..obis import Obis


class Level(IntEnum):
    """Authentication level of an association (what the client proved)."""

    PUBLIC = 0     # lowest level security (no authentication)
    LOW = 1        # LLS, password
    HIGH = 2       # HLS (GMAC), completed 4-pass


class AttrAccess(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    READ_WRITE = 3


class MethodAccess(IntEnum):
    NONE = 0
    ACCESS = 1


class CosemError(Exception):
    """Refusal of a GET/SET/ACTION with a Data-Access-Result (``dar``) and a reason for the log."""

    def __init__(self, dar: int, reason: str = ""):
        self.dar = dar
        self.reason = reason
        super().__init__(f"{DataAccessResult(dar).name if dar in DataAccessResult._value2member_map_ else dar}: {reason}")


@dataclass
class RequestContext:
    """What an object may know about the request: the time (epoch s, from the meter clock),
    the association level and client SAP, and the session (for Association LN)."""

    now: float
    level: Level = Level.PUBLIC
    client_sap: int = 0x10
    session: Any = None
    extra: dict = field(default_factory=dict)


def logical_name_bytes(name: bytes | str | Obis) -> bytes:
    if isinstance(name, str):
        return Obis.parse(name).to_bytes()
    if isinstance(name, Obis):
        return name.to_bytes()
    if len(name) != 6:
        raise ValueError("logical name must be 6 bytes")
    return bytes(name)


class CosemObject:
    """Base class. Subclasses set ``CLASS_ID``, ``VERSION``, ``ATTRIBUTES`` (count), ``METHODS``
    (count), ``WRITABLE`` (attribute ids settable at ``write_level``) and implement
    ``get_attribute`` (and ``set_attribute`` / ``invoke_method`` when they have them).

    read_level / write_level / method_level: the lowest association level allowed to read,
    write and invoke (defaults: read by anyone, write and act only after HLS)."""

    CLASS_ID = 0
    VERSION = 0
    ATTRIBUTES = 1
    METHODS = 0
    WRITABLE: frozenset = frozenset()
    SELECTIVE: dict = {}          # attribute id -> tuple of access selectors supported
    __slots__ = ("logical_name", "read_level", "write_level", "method_level", "__weakref__")
    """Slots, not a dict per object (a fleet holds ~60 objects per meter); a subclass without
    ``__slots__`` still gets a ``__dict__``."""

    def __init__(self, logical_name: bytes | str | Obis, *, read_level: Level = Level.PUBLIC,
                 write_level: Level = Level.HIGH, method_level: Level = Level.HIGH):
        self.logical_name = logical_name_bytes(logical_name)
        self.read_level = read_level
        self.write_level = write_level
        self.method_level = method_level

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'.'.join(map(str, self.logical_name))})"

    # ------------------------------------------------------------------ access rights
    def attribute_access(self, attr: int, level: Level) -> AttrAccess:
        if not 1 <= attr <= self.ATTRIBUTES:
            return AttrAccess.NONE
        mode = AttrAccess.READ if level >= self.read_level else AttrAccess.NONE
        if attr in self.WRITABLE and level >= self.write_level:
            mode |= AttrAccess.WRITE
        return AttrAccess(mode)

    def method_access(self, method: int, level: Level) -> MethodAccess:
        if 1 <= method <= self.METHODS and level >= self.method_level:
            return MethodAccess.ACCESS
        return MethodAccess.NONE

    # ------------------------------------------------------------------ services
    def get(self, attr: int, ctx: RequestContext, access: SelectiveAccess | None = None) -> Data:
        if not 1 <= attr <= self.ATTRIBUTES:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{self!r} has no attribute {attr}")
        if access is not None and access.selector not in self.SELECTIVE.get(attr, ()):
            raise CosemError(DataAccessResult.OTHER_REASON,
                             f"selective access {access.selector} not supported on {self!r} attribute {attr}")
        if attr == 1:
            return Data(DataType.OCTET_STRING, self.logical_name)
        return self.get_attribute(attr, ctx, access)

    def set(self, attr: int, value: Data, ctx: RequestContext) -> None:
        if not 1 <= attr <= self.ATTRIBUTES:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{self!r} has no attribute {attr}")
        if attr not in self.WRITABLE:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{self!r} attribute {attr} is read-only")
        self.set_attribute(attr, value, ctx)

    def invoke(self, method: int, params: Data | None, ctx: RequestContext) -> Data | None:
        if not 1 <= method <= self.METHODS:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"{self!r} has no method {method}")
        return self.invoke_method(method, params, ctx)

    # ------------------------------------------------------------------ to implement
    def get_attribute(self, attr: int, ctx: RequestContext, access: SelectiveAccess | None) -> Data:
        raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, f"{self!r} attribute {attr} not implemented")

    def set_attribute(self, attr: int, value: Data, ctx: RequestContext) -> None:
        raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{self!r} attribute {attr} cannot be written")

    def invoke_method(self, method: int, params: Data | None, ctx: RequestContext) -> Data | None:
        raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, f"{self!r} method {method} not implemented")


def expect_type(value: Data, *types, what: str = "value") -> Any:
    """The Python value of ``value`` if its type is one of ``types``, else TYPE_UNMATCHED."""
    if value.type not in types:
        raise CosemError(DataAccessResult.TYPE_UNMATCHED,
                         f"{what} must be {'/'.join(t.name for t in types)}, got {value.type.name}")
    return value.value
