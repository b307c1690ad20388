"""Image transfer (class 18 v0), bound to the meter's update agent by a small protocol.

Attributes: 2 image_block_size (double-long-unsigned, bytes), 3 image_transferred_blocks_status
(bit-string, bit n = block n received), 4 image_first_not_transferred_block_number, 5
image_transfer_enabled (boolean, writable), 6 image_transfer_status (enum 0..7), 7
image_to_activate_info (array of {size, identification, signature}).
Methods: 1 image_transfer_initiate({identifier octet-string, size double-long-unsigned}),
2 image_block_transfer({block number double-long-unsigned, block octet-string}),
3 image_verify(integer 0), 4 image_activate(integer 0).

The binding refuses with :class:`~.control.ActionRefused` (a DLMS result and a reason for the
log); structure errors in the parameters are TYPE_UNMATCHED here, before the binding sees them.
"""
from __future__ import annotations

from typing import Protocol

from .. import axdr
from ..axdr import Data, DataType
from ..descriptors import DataAccessResult
from .base import CosemError, CosemObject, expect_type
from .control import ActionRefused

IMAGE_TRANSFER = "0.0.44.0.0.255"


class ImageTransferBinding(Protocol):
    def block_size(self) -> int: ...

    def blocks_status(self) -> list[bool]: ...

    def first_missing(self) -> int: ...

    def enabled(self) -> bool: ...

    def set_enabled(self, on: bool) -> None: ...

    def status(self) -> int: ...

    def to_activate(self) -> list[tuple[int, bytes, bytes]]:
        """(size, identification, signature) of the image(s) ready to activate."""
        ...

    def initiate(self, identifier: bytes, size: int) -> None: ...

    def block(self, number: int, data: bytes) -> None: ...

    def verify(self) -> None: ...

    def activate(self) -> None: ...


def _fields(params: Data | None, what: str, *types: DataType) -> list:
    if params is None or params.type is not DataType.STRUCTURE or len(params.value) != len(types):
        raise CosemError(DataAccessResult.TYPE_UNMATCHED, f"{what} takes a structure of {len(types)} elements")
    return [expect_type(item, t, what=f"{what} element {i + 1}")
            for i, (item, t) in enumerate(zip(params.value, types))]


class ImageTransfer(CosemObject):
    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 18, 0, 7, 4
    WRITABLE = frozenset({5})

    def __init__(self, binding: ImageTransferBinding, logical_name=IMAGE_TRANSFER, **levels):
        super().__init__(logical_name, **levels)
        self.binding = binding

    def get_attribute(self, attr, ctx, access):
        b = self.binding
        if attr == 2:
            return axdr.double_long_unsigned(b.block_size())
        if attr == 3:
            return axdr.bit_string("".join("1" if done else "0" for done in b.blocks_status()))
        if attr == 4:
            return axdr.double_long_unsigned(b.first_missing())
        if attr == 5:
            return axdr.boolean(b.enabled())
        if attr == 6:
            return axdr.enum(b.status())
        return axdr.array(tuple(axdr.structure(axdr.double_long_unsigned(size), axdr.octet_string(ident),
                                               axdr.octet_string(sig)) for size, ident, sig in b.to_activate()))

    def set_attribute(self, attr, value, ctx):
        self.binding.set_enabled(bool(expect_type(value, DataType.BOOLEAN, what="image_transfer_enabled")))

    def invoke_method(self, method, params, ctx):
        b = self.binding
        try:
            if method == 1:
                ident, size = _fields(params, "image_transfer_initiate", DataType.OCTET_STRING,
                                      DataType.DOUBLE_LONG_UNSIGNED)
                b.initiate(bytes(ident), int(size))
            elif method == 2:
                number, block = _fields(params, "image_block_transfer", DataType.DOUBLE_LONG_UNSIGNED,
                                        DataType.OCTET_STRING)
                b.block(int(number), bytes(block))
            else:
                if params is not None and params.type not in (DataType.INTEGER, DataType.NULL):
                    raise CosemError(DataAccessResult.TYPE_UNMATCHED, "image_verify/activate take integer(0)")
                b.verify() if method == 3 else b.activate()
        except ActionRefused as exc:
            raise CosemError(exc.dar, f"image transfer refused: {exc.reason}") from None
        return None
