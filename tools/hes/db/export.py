"""Bulk files of what the head-end collected: CSV (always) and Parquet (pyarrow, the optional
``parquet`` extra: ``pip install 'sumame[parquet]'``).

One row per meter and interval: ``meter``, ``interval_end_jst`` (text) / ``interval_end``
(Parquet: timestamp, Asia/Tokyo), ``minutes`` and every item of ``hes.store.ITEMS`` in its user
unit (kWh, kvarh, V); an empty cell / null is *no data*, never 0.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .store import ITEMS, HesStore


def export_rows(store: HesStore, *, grid: int = 30, start: float | None = None, end: float | None = None,
                meters=None) -> list[dict]:
    rows = store.query(ITEMS, meters=meters, grid=grid, start=start, end=end)
    for row in rows:
        row["minutes"] = grid
    return rows


def write_csv(rows: list[dict], path: Path) -> int:
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["meter", "interval_end_jst", "minutes", *ITEMS])
        for row in rows:
            out.writerow([row["meter"], row["interval_end_jst"], row["minutes"],
                          *("" if row[i] is None else f"{row[i]:.6g}" for i in ITEMS)])
    return len(rows)


def write_parquet(rows: list[dict], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RuntimeError("Parquet export needs pyarrow: pip install 'sumame[parquet]'") from None
    schema = pa.schema([("meter", pa.string()), ("interval_end", pa.timestamp("s", tz="Asia/Tokyo")),
                        ("minutes", pa.int16()), *((name, pa.float64()) for name in ITEMS)])
    columns = {"meter": [r["meter"] for r in rows], "interval_end": [int(r["end_at"]) for r in rows],
               "minutes": [r["minutes"] for r in rows], **{name: [r[name] for r in rows] for name in ITEMS}}
    table = pa.table(columns, schema=schema)
    pq.write_table(table, str(path), compression="zstd")
    return len(rows)
