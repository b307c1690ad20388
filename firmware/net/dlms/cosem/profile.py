"""Profile generic (class 7, version 1) with range and entry selective access.

The buffer is not stored here: a :class:`ProfileSource` supplies rows (tuples of ``Data``, one
element per capture object, the capture-time column as octet-string(12)). Entries are numbered
from 1 = oldest. :class:`PeriodicProfileSource` builds a source from a "row at boundary" callback,
which is how interval registers (30/15/5-min) bind to it.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Protocol, Sequence

from .. import axdr
from ..axdr import Data, DataType
from ..cosem_time import JST_DEVIATION, CosemDateTime
from ..descriptors import DataAccessResult, SelectiveAccess
from ..errors import AxdrError
from .base import CosemError, CosemObject, expect_type

SELECTOR_RANGE = 1
SELECTOR_ENTRY = 2
SORT_FIFO = 1

Row = tuple  # tuple[Data, ...]


class CaptureObject(NamedTuple):
    """capture-object definition: which attribute (and element, 0 = whole) a column holds."""

    class_id: int
    logical_name: bytes
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> Data:
        return axdr.structure(axdr.long_unsigned(self.class_id), axdr.octet_string(self.logical_name),
                              axdr.integer(self.attribute_index), axdr.long_unsigned(self.data_index))

    @classmethod
    def from_data(cls, value: Data) -> "CaptureObject":
        items = expect_type(value, DataType.STRUCTURE, what="capture object")
        if len(items) != 4:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "capture object needs 4 elements")
        class_id = expect_type(items[0], DataType.LONG_UNSIGNED, what="class_id")
        ln = expect_type(items[1], DataType.OCTET_STRING, what="logical_name")
        attr = expect_type(items[2], DataType.INTEGER, what="attribute_index")
        index = expect_type(items[3], DataType.LONG_UNSIGNED, what="data_index")
        if len(ln) != 6:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "logical_name must be 6 bytes")
        return cls(class_id, ln, attr, index)


_CAPTURES: dict[tuple, CaptureObject] = {}


def capture(class_id: int, logical_name: bytes, attribute_index: int, data_index: int = 0) -> CaptureObject:
    """The one ``CaptureObject`` of these values (they are immutable: every meter's model of the
    process shares its column definitions)."""
    key = (class_id, bytes(logical_name), attribute_index, data_index)
    found = _CAPTURES.get(key)
    if found is None:
        found = _CAPTURES[key] = CaptureObject(*key)
    return found


class ProfileSource(Protocol):
    """Where a profile's buffer comes from (the binding point for interval registers)."""

    def entries_in_use(self) -> int: ...

    def profile_entries(self) -> int:
        """Capacity (entries kept)."""
        ...

    def rows(self, start: float, end: float) -> Sequence[Row]:
        """Rows captured at epoch times in [start, end], oldest first."""
        ...

    def entries(self, first: int, last: int) -> Sequence[Row]:
        """Entries first..last (1 = oldest, inclusive, already clipped to entries_in_use)."""
        ...


class PeriodicProfileSource:
    """Source for a profile captured every ``period_s`` seconds on a fixed grid.

    latest_fn():      epoch of the most recent capture boundary that has passed
    row_fn(boundary): the row captured at that boundary (a value of None inside a row should
                      already be null-data: *no data*, never 0)
    capacity:         entries kept (profile_entries); earliest: first boundary ever captured
    """

    __slots__ = ("period", "capacity", "latest_fn", "row_fn", "earliest")

    def __init__(self, period_s: int, capacity: int, latest_fn: Callable[[], float],
                 row_fn: Callable[[float], Row], earliest: float = 0.0):
        self.period = period_s
        self.capacity = capacity
        self.latest_fn = latest_fn
        self.row_fn = row_fn
        self.earliest = earliest

    def _window(self) -> tuple[float, int]:
        latest = self.latest_fn()
        if latest < self.earliest:
            return latest, 0
        n = min(self.capacity, int((latest - self.earliest) // self.period) + 1)
        return latest, n

    def entries_in_use(self) -> int:
        return self._window()[1]

    def profile_entries(self) -> int:
        return self.capacity

    def rows(self, start: float, end: float) -> list[Row]:
        latest, n = self._window()
        if n == 0:
            return []
        oldest = latest - (n - 1) * self.period
        first = max(0, -int(-(start - oldest) // self.period))     # ceil
        last = min(n - 1, int((end - oldest) // self.period))
        return [self.row_fn(oldest + k * self.period) for k in range(first, last + 1)]

    def entries(self, first: int, last: int) -> list[Row]:
        latest, n = self._window()
        oldest = latest - (n - 1) * self.period
        return [self.row_fn(oldest + (k - 1) * self.period) for k in range(first, min(last, n) + 1)]


class ProfileGeneric(CosemObject):
    """Class 7 v1: 2 buffer, 3 capture_objects, 4 capture_period (s), 5 sort_method (FIFO),
    6 sort_object, 7 entries_in_use, 8 profile_entries. Range selection needs the restricting
    object to be a clock-time column (class 8 attribute 2); bounds are inclusive."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 7, 1, 8, 2
    __slots__ = ("capture_objects", "source", "capture_period", "deviation", "_rows_budget")
    SELECTIVE = {2: (SELECTOR_RANGE, SELECTOR_ENTRY)}

    def __init__(self, logical_name, capture_objects: Sequence[CaptureObject], source: ProfileSource, *,
                 capture_period: int = 0, deviation: int = JST_DEVIATION, **levels):
        super().__init__(logical_name, **levels)
        self.capture_objects = tuple(capture_objects)
        self.source = source
        self.capture_period = capture_period
        self.deviation = deviation

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return self.buffer(access, ctx.extra.get("rows") if ctx is not None else None)
        if attr == 3:
            return axdr.array(c.to_data() for c in self.capture_objects)
        if attr == 4:
            return axdr.double_long_unsigned(self.capture_period)
        if attr == 5:
            return axdr.enum(SORT_FIFO)
        if attr == 6:
            return CaptureObject(0, bytes(6), 0, 0).to_data()
        if attr == 7:
            return axdr.double_long_unsigned(self.source.entries_in_use())
        return axdr.double_long_unsigned(self.source.profile_entries())

    def invoke_method(self, method, params, ctx):
        raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{self!r}: reset/capture are not remote operations")

    # ------------------------------------------------------------------ buffer
    def buffer(self, access: SelectiveAccess | None, rows_budget=None) -> Data:
        """The selected rows. ``rows_budget`` (a WorkBudget in rows, shared by the items of one
        request) refuses a selection that would build more rows than the request may cost,
        before any row is built: the client asks for a shorter range instead."""
        columns = range(len(self.capture_objects))
        self._rows_budget = rows_budget
        if access is None:
            in_use = self.source.entries_in_use()
            self._charge(in_use)
            rows = self.source.entries(1, in_use)
        elif access.selector == SELECTOR_RANGE:
            rows, columns = self._by_range(access.parameters)
        else:
            rows, columns = self._by_entry(access.parameters)
        if len(columns) == len(self.capture_objects):
            return Data(DataType.ARRAY, tuple(Data(DataType.STRUCTURE, tuple(row)) for row in rows))
        return Data(DataType.ARRAY, tuple(Data(DataType.STRUCTURE, tuple(row[c] for c in columns))
                                          for row in rows))

    def _by_range(self, params: Data):
        items = expect_type(params, DataType.STRUCTURE, what="range_descriptor")
        if len(items) != 4:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "range_descriptor needs 4 elements")
        restricting = CaptureObject.from_data(items[0])
        self._column_of(restricting)   # must be one of our columns
        if restricting.class_id != 8 or restricting.attribute_index != 2:
            raise CosemError(DataAccessResult.OTHER_REASON, "range restricting object must be a clock time column")
        start = self._bound(items[1], "from_value")
        end = self._bound(items[2], "to_value")
        selected = expect_type(items[3], DataType.ARRAY, what="selected_values")
        if selected:
            columns = [self._column_of(CaptureObject.from_data(s)) for s in selected]
        else:
            columns = range(len(self.capture_objects))
        if start > end:
            return [], columns
        in_use = self.source.entries_in_use()
        self._charge(min(in_use, int((end - start) // self.capture_period) + 1) if self.capture_period else in_use)
        return self.source.rows(start, end), columns

    def _charge(self, rows: int) -> None:
        budget = getattr(self, "_rows_budget", None)
        if budget is not None and not budget.spend(rows):
            raise CosemError(DataAccessResult.OTHER_REASON,
                             f"selection of up to {rows} entries exceeds the {budget.limit} one request may "
                             f"return; ask for a shorter range")

    def _bound(self, value: Data, what: str) -> float:
        raw = expect_type(value, DataType.OCTET_STRING, DataType.DATE_TIME, what=what)
        try:
            return CosemDateTime.from_bytes(raw).to_epoch(self.deviation)
        except AxdrError as exc:
            raise CosemError(DataAccessResult.OTHER_REASON, f"{what}: {exc}") from None

    def _column_of(self, capture: CaptureObject) -> int:
        for i, c in enumerate(self.capture_objects):
            if c[:3] == capture[:3] and (capture.data_index in (0, c.data_index)):
                return i
        raise CosemError(DataAccessResult.OTHER_REASON, f"{capture} is not a capture object of {self!r}")

    def _by_entry(self, params: Data):
        items = expect_type(params, DataType.STRUCTURE, what="entry_descriptor")
        if len(items) != 4:
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "entry_descriptor needs 4 elements")
        first = expect_type(items[0], DataType.DOUBLE_LONG_UNSIGNED, what="from_entry")
        last = expect_type(items[1], DataType.DOUBLE_LONG_UNSIGNED, what="to_entry")
        col_from = expect_type(items[2], DataType.LONG_UNSIGNED, what="from_selected_value")
        col_to = expect_type(items[3], DataType.LONG_UNSIGNED, what="to_selected_value")
        n_cols = len(self.capture_objects)
        col_from = max(col_from, 1)
        col_to = n_cols if col_to == 0 else col_to
        if col_from > col_to or col_to > n_cols:
            raise CosemError(DataAccessResult.OTHER_REASON,
                             f"columns {col_from}..{col_to} outside 1..{n_cols}")
        in_use = self.source.entries_in_use()
        first = max(first, 1)
        last = in_use if last == 0 else min(last, in_use)
        if last != 0 and items[1].value != 0 and items[1].value < first:
            raise CosemError(DataAccessResult.OTHER_REASON, f"to_entry {items[1].value} < from_entry {first}")
        if first <= last:
            self._charge(last - first + 1)
        rows = self.source.entries(first, last) if first <= last else []
        return rows, range(col_from - 1, col_to)
