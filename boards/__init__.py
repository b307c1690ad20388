"""Boards: one TOML file per board, validated against ``schema.py``, built by ``build.py``.

``load_board("emulated-lv")`` finds a built-in board by name; a path loads any file.
"""
from __future__ import annotations

import tomllib
from collections import ChainMap
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from .schema import BoardErrors, validate

if TYPE_CHECKING:
    from .build import Board

BOARD_DIR = Path(__file__).parent


class BoardNotFound(Exception):
    pass


def available() -> list[str]:
    return sorted(p.stem for p in BOARD_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise BoardNotFound(f"{path}: no such board file")
        return path
    candidate = BOARD_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise BoardNotFound(f"unknown board {name_or_path!r}; built-in boards: {', '.join(available())}"
                            f" (or give a path to a .toml file)")
    return candidate


def load_board(name_or_path: str, overrides: dict | None = None) -> "Board":
    """Load and validate a board; ``overrides`` ({section: {key: value}}) patch it first."""
    from .build import Board

    path = resolve(name_or_path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise BoardErrors(str(path), [f"not valid TOML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise BoardErrors(str(path), [f"not UTF-8 text (byte {exc.start}: 0x{exc.object[exc.start]:02X})"]) from None
    except OSError as exc:
        raise BoardNotFound(f"{path}: {exc.strerror}") from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    values = validate(str(path), data)
    return Board(path, _layered(str(path), {name: _shared(str(path), name, section) for name, section in values.items()}))


_SHARED: dict[str, dict[str, MappingProxyType]] = {}
_SHARED_PER_SECTION = 8
_FIRST: dict[tuple[str, str], dict] = {}
"""The first validated dict of each section name of each board file: a section that differs from it in at most
``_OVERLAY_MAX_KEYS`` keys (a fleet meter's ``[asic]`` / ``[aroute]`` seed) is those keys over
it (~200 B instead of a dict of 17-25 keys, ~0.7-1.2 KiB, per meter)."""
_OVERLAY_MIN_KEYS, _OVERLAY_MAX_KEYS = 8, 3
_BASE: dict[str, MappingProxyType] = {}


def _shared(path: str, name: str, section: dict) -> MappingProxyType:
    """The section, read-only; an equal section validated before is the same object (one for
    the whole fleet: a fleet of 10^5 boards differs in a few sections, the rest is shared). A
    few distinct values are remembered per section; one that differs on every board (identity)
    keeps only the last."""
    try:
        key = repr(sorted(section.items()))
    except TypeError:
        return MappingProxyType(section)
    seen = _SHARED.setdefault(name, {})
    found = seen.get(key)
    if found is not None and found == section:
        return found
    if len(seen) >= _SHARED_PER_SECTION:
        seen.pop(next(iter(seen)))
    frozen = seen[key] = _overlay(path, name, section) or MappingProxyType(section)
    _FIRST.setdefault((path, name), section)
    return frozen


def _overlay(path: str, name: str, section: dict) -> MappingProxyType | None:
    """``section`` as its own keys over the first section of its name from the same board file,
    when only a few differ (a fleet meter's seed); None otherwise (whatever other boards the
    process loaded before)."""
    first = _FIRST.get((path, name))
    if first is None or first.keys() != section.keys() or len(section) < _OVERLAY_MIN_KEYS:
        return None
    own = {k: v for k, v in section.items() if first[k] != v or type(first[k]) is not type(v)}
    return MappingProxyType(ChainMap(own, first)) if len(own) <= _OVERLAY_MAX_KEYS else None


def _layered(path: str, sections: dict) -> ChainMap:
    """The board's sections as ``ChainMap(own, base)``: ``base`` is the read-only table of the
    first board loaded from ``path`` (shared by every later one), ``own`` only the sections
    this board has otherwise (a fleet meter's identity, seeds). Assigning a section (a tool
    patching ``board.values["iot"]``) lands in ``own``; the shared sections are read-only."""
    base = _BASE.get(path)
    if base is None or base.keys() != sections.keys():
        base = _BASE[path] = MappingProxyType(sections)
        return ChainMap({}, base)
    return ChainMap({n: s for n, s in sections.items() if base[n] is not s}, base)


__all__ = ["BoardErrors", "BoardNotFound", "available", "load_board", "resolve"]
