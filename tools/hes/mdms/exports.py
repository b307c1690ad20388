"""Bulk export jobs: POST /v1/exports queues one, a worker thread writes the CSV or Parquet file
(the same writer as ``sumame hes export``), GET /v1/exports/{id} tells its state or hands it out.

Jobs are rows of ``mdms_exports`` (so the portal lists them and they outlive a restart's
listing); files live in the export directory. One job runs at a time; a party may have at most
``MAX_PENDING`` jobs queued or running (more: 429), so no one party fills the queue or the disk.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..db.export import export_rows, write_csv, write_parquet
from ..db.store import HesStore
from .access import Access, AccessError
from .data import iso_jst

log = logging.getLogger("sumame.mdms")
MAX_PENDING = 4
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class Exports:
    def __init__(self, store_path: Path, access: Access, directory: Path):
        self.store_path, self.access, self.dir = Path(store_path), access, Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdms-export")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)

    def submit(self, party: str, *, grid: int, start: float, end: float, fmt: str,
               meters: list[str] | None, supply_points: list[str] | None) -> dict:
        job = secrets.token_hex(8)
        params = {"grid": grid, "from": start, "to": end, "format": fmt, "supply_points": supply_points}
        with self.access.lock:
            pending = self.access.db.execute("SELECT COUNT(*) FROM mdms_exports WHERE party=? AND status IN"
                                             " ('queued', 'running')", (party,)).fetchone()[0]
            if pending >= MAX_PENDING:
                raise AccessError(429, f"party {party} has {pending} export jobs queued or running (at most "
                                       f"{MAX_PENDING}); wait for one to finish", retry_after=5)
            self.access.db.execute("INSERT INTO mdms_exports(id, party, params, status, created_at) VALUES"
                                   " (?,?,?,?,?)", (job, party, json.dumps(params), "queued", time.time()))
            self.access.db.commit()
        self.pool.submit(self._run, job, grid, start, end, fmt, meters)
        return self.get(job)

    def _set(self, job: str, **cols) -> None:
        sets = ", ".join(f"{k}=?" for k in cols)
        with self.access.lock:
            self.access.db.execute(f"UPDATE mdms_exports SET {sets} WHERE id=?", (*cols.values(), job))
            self.access.db.commit()

    def _run(self, job: str, grid: int, start: float, end: float, fmt: str, meters: list[str] | None) -> None:
        self._set(job, status="running")
        path = self.dir / f"{job}.{fmt}"
        t0 = time.perf_counter()
        try:
            store = HesStore.open_read_only(self.store_path)
            try:
                rows = export_rows(store, grid=grid, start=start, end=end, meters=meters)
            finally:
                store.db.close()
            n = (write_parquet if fmt == "parquet" else write_csv)(rows, path)
        except Exception as exc:   # a job failure is reported through the job, not a crash
            log.warning("export %s failed: %s", job, exc)
            self._set(job, status="failed", error=str(exc)[:300], done_at=time.time())
            return
        log.info("export %s: %d rows (%s) in %.2f s", job, n, fmt, time.perf_counter() - t0)
        self._set(job, status="done", rows=n, path=str(path), done_at=time.time())

    def get(self, job: str) -> dict | None:
        with self.access.lock:
            r = self.access.db.execute("SELECT id, party, params, status, rows, path, error, created_at, done_at"
                                       " FROM mdms_exports WHERE id=?", (job,)).fetchone()
        return None if r is None else self._dict(r)

    def list(self, party: str | None) -> list[dict]:
        sql = ("SELECT id, party, params, status, rows, path, error, created_at, done_at FROM mdms_exports"
               + (" WHERE party=?" if party else "") + " ORDER BY created_at DESC LIMIT 100")
        with self.access.lock:
            rows = self.access.db.execute(sql, (party,) if party else ()).fetchall()
        return [self._dict(r) for r in rows]

    @staticmethod
    def _dict(r) -> dict:
        params = json.loads(r[2])
        return {"id": r[0], "party": r[1], "status": r[3], "format": params["format"], "grid_min": params["grid"],
                "from": iso_jst(params["from"]), "to": iso_jst(params["to"]),
                "supply_points": params["supply_points"], "rows": r[4], "error": r[6],
                "created": iso_jst(r[7]), "done": iso_jst(r[8]), "href": f"/v1/exports/{r[0]}", "_path": r[5],
                "_from": params["from"], "_to": params["to"]}
