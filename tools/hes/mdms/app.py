"""The MDMS HTTP API (FastAPI): meters, intervals, events, outages, consents, export jobs.

Every request passes one middleware: API key -> party (401 if missing/unknown), the party's
rate limit (429 with Retry-After), then the route; the audit trail gets who, what, when and the
result. Errors are ``{"error": <status name>, "reason": <one line>}``, never a stack trace.
Third parties see only the supply points their live consent covers (403 otherwise).
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Literal

from fastapi import Body, FastAPI, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sumame.hal.jst import parse_jst

from ..db.store import ITEMS
from . import portal
from .access import SCOPES, Access, AccessError, Party
from .data import T_MAX, T_MIN, Reader, iso_jst
from .exports import MEDIA, Exports
from .ids import NumberError, parse

log = logging.getLogger("sumame.mdms")
MAX_SYNC_INTERVALS = 1488          # 31 days of 30-min values; more is a bulk export job
MAX_EXPORT_DAYS = 400
MAX_BODY = 1 << 20                 # bytes of a request body (10000 supply points fit in 300 kB)
SP = {"pattern": "^(0[1-9]|10)[0-9]{20}$"}      # documented; checked in code for a clearer reason
OPEN_PATHS = ("/openapi.json", "/docs", "/portal", "/static", "/favicon.ico")
STATUS_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 411: "length_required", 413: "too_large", 422: "bad_request", 429: "rate_limited",
                500: "internal"}

api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the party's API key")
bearer = HTTPBearer(auto_error=False, description="the party's API key as a bearer token")


class BadInput(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


def error(status: int, reason: str, request: Request | None = None, headers: dict | None = None) -> JSONResponse:
    if request is not None:
        request.state.reason = reason
    return JSONResponse({"error": STATUS_NAMES.get(status, "error"), "reason": reason}, status, headers=headers)


def jst(text: str | None, what: str, required: bool = True) -> float | None:
    if text is None or text == "":
        if required:
            raise BadInput(f"'{what}' is required (JST, e.g. 2026-04-02 or 2026-04-02T06:00)")
        return None
    try:
        if len(text) > 40:
            raise ValueError
        t = float(parse_jst(text))
    except (ValueError, OverflowError, OSError):
        raise BadInput(f"'{what}': {text[:40]!r} is not a date; use JST like 2026-04-02 or 2026-04-02T06:00") from None
    if not T_MIN <= t <= T_MAX:     # beyond these no date can be written back (year 1, 9999 + offsets)
        raise BadInput(f"'{what}': {text[:40]!r} is outside 1970-01-01 .. 9999-12-31 JST")
    return t


def supply_point(text: str) -> str:
    try:
        return parse(text).text
    except NumberError as exc:
        raise BadInput(str(exc)) from None


def data_from(start: float, grid_min: int) -> float:
    """Where the data of the first interval ending at or after ``start`` begins (epoch s): an
    interval ending at t holds (t - grid, t], so a consent must reach back that far."""
    g = grid_min * 60
    return -(-start // g) * g - g


def period(start: float | None, end: float | None) -> None:
    if start is not None and end is not None and end < start:
        raise BadInput("'to' is before 'from'")


class ErrorBody(BaseModel):
    error: str = Field(..., description="status name, e.g. forbidden")
    reason: str = Field(..., description="one line saying why")


ERRORS = {code: {"model": ErrorBody, "description": text} for code, text in (
    (400, "bad input (dates, items, numbers, grid)"), (401, "no or unknown API key"),
    (403, "no live consent for this supply point, scope or period"), (404, "no such meter or job"),
    (411, "a body without Content-Length"), (413, "range or body too large for this call"), (429, "rate limit exceeded (see Retry-After)"))}


class ExportRequest(BaseModel):
    grid: Literal[30, 15, 5] = Field(30, description="interval length, min")
    from_: str = Field(..., alias="from", description="JST start (interval ends >= this)", max_length=40)
    to: str = Field(..., description="JST end (interval ends <= this)", max_length=40)
    format: Literal["csv", "parquet"] = "csv"
    supply_points: list[str] | None = Field(None, description="default: every supply point the party may read",
                                            max_length=10000)


def create_app(db: str | Path, *, export_dir: str | Path | None = None, rate: float = 50.0,
               burst: int = 100) -> FastAPI:
    db = Path(db)
    reader = Reader(db)
    access = Access(db, rate=rate, burst=burst)
    exports = Exports(db, access, Path(export_dir) if export_dir else db.with_name(db.name + ".exports"))
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        exports.close()
        access.close()

    app = FastAPI(title="sumame MDMS", version="1", lifespan=lifespan, responses=ERRORS,
                  description="Meter data of the head-end store: intervals (kWh, kvarh, V; JST), events, "
                              "outages and bulk exports, for the utility and consenting third parties.")
    app.state.access, app.state.reader, app.state.exports = access, reader, exports

    # ---------------------------------------------------------------- the gate: key, rate, audit
    @app.middleware("http")
    async def gate(request: Request, call_next):
        t0 = time.perf_counter()
        path, who = request.url.path, "-"
        request.state.reason = ""
        client = request.client.host if request.client else "-"
        try:
            length = request.headers.get("content-length")
            if length is None and "transfer-encoding" in request.headers:
                raise AccessError(411, "send the body with a Content-Length (no chunked bodies)")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                raise AccessError(413, f"request body over {MAX_BODY} bytes")
            if path == "/" or path.startswith(OPEN_PATHS):
                access.throttle(f"client:{client}")
            else:
                header = request.headers.get("authorization", "")
                key = request.headers.get("x-api-key") or (header[7:].strip() if header[:7].lower() == "bearer "
                                                           else None)
                try:
                    party = access.authenticate(key)
                except AccessError:
                    access.throttle(f"client:{client}")
                    raise
                who = party.name
                request.state.party = party
                access.throttle(f"party:{party.name}")
            response = await call_next(request)
        except AccessError as exc:
            headers = {"Retry-After": f"{max(1, round(exc.retry_after))}"} if exc.retry_after else None
            response = error(exc.status, exc.reason, request, headers)
        except Exception:    # a bug: logged with its stack here, one line to the caller
            log.exception("internal error on %s %s", request.method, path)
            response = error(500, "internal error (logged on the server)", request)
        access.audit(who, request.method, path, request.url.query, response.status_code, request.state.reason,
                     (time.perf_counter() - t0) * 1000, client)
        return response

    @app.exception_handler(AccessError)
    async def _access(request: Request, exc: AccessError):
        headers = {"Retry-After": f"{max(1, round(exc.retry_after))}"} if exc.retry_after else None
        return error(exc.status, exc.reason, request, headers)

    @app.exception_handler(BadInput)
    async def _bad(request: Request, exc: BadInput):
        return error(exc.status, exc.reason, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:3]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body"))
            parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return error(400, "; ".join(parts) or "invalid request", request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), request, getattr(exc, "headers", None))   # 405: Allow

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return error(500, "internal error (logged on the server)", request)

    def who(request: Request, _k=Security(api_key), _b=Security(bearer)) -> Party:
        return request.state.party

    def meter_for(sp: str, party: Party, scope: str, start=None, end=None) -> str:
        access.check(party, sp, scope, start, end)
        mid = reader.meter_of(sp)
        if mid is None:
            raise BadInput(f"no meter with supply point {sp}", 404)
        return mid

    # ---------------------------------------------------------------- API
    @app.get("/v1/meters", summary="Meters the caller may see, with identity numbers and status")
    def meters(request: Request, supply_point_: str | None = Query(None, alias="supply_point", max_length=64, json_schema_extra=SP),
               _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        visible = access.visible(party, "intervals")
        rows = reader.meters(visible)
        if supply_point_ is not None:
            sp = supply_point(supply_point_)
            access.check(party, sp, "intervals")
            rows = [r for r in rows if r["supply_point"] == sp]
            if not rows:
                raise BadInput(f"no meter with supply point {sp}", 404)
        counts = {s: sum(r["status"] == s for r in rows) for s in ("up", "late", "outage")}
        return JSONResponse({"party": party.name, "role": party.role, "count": len(rows), "status_counts": counts,
                             "meters": rows})

    @app.get("/v1/items", summary="Items, their units and meaning")
    def items(request: Request, _k=Security(api_key), _b=Security(bearer)):
        return {"items": {n: {"unit": i.unit, "doc": i.doc} for n, i in ITEMS.items()}}

    @app.get("/v1/intervals", summary="Interval values of one supply point (JST; null = no data)")
    def intervals(request: Request,
                  supply_point_: str = Query(..., alias="supply_point", max_length=64, json_schema_extra=SP,
                                             description="22-digit supply point number"),
                  item: list[str] = Query(..., max_length=32, description="item name (repeat or comma-separate)"),
                  grid: int = Query(30, description="interval length, min: 30, 15 or 5",
                                    json_schema_extra={"enum": [30, 15, 5]}),
                  from_: str = Query(..., alias="from", max_length=40, description="JST; interval ends >= this"),
                  to: str = Query(..., max_length=40, description="JST; interval ends <= this"),
                  _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        if grid not in (30, 15, 5):
            raise BadInput(f"grid {grid}: use 30, 15 or 5 (minutes)")
        sp = supply_point(supply_point_)
        names = [n.strip() for i in item for n in i.split(",") if n.strip()]
        unknown = [n for n in names if n not in ITEMS]
        if unknown or not names:
            raise BadInput(f"unknown item {unknown[0][:40]!r}; known: {', '.join(ITEMS)}" if unknown
                           else "give at least one item")
        start, end = jst(from_, "from"), jst(to, "to")
        period(start, end)
        n = int((end - start) // (grid * 60)) + 1
        if n > MAX_SYNC_INTERVALS:
            raise BadInput(f"{n} intervals asked for; a synchronous call gives at most {MAX_SYNC_INTERVALS} "
                           f"(use POST /v1/exports for more)", 413)
        mid = meter_for(sp, party, "intervals", data_from(start, grid), end)
        rows = reader.intervals(mid, names, grid, start, end)
        # plain JSON (no jsonable_encoder pass): the rows are str/float/None already
        return JSONResponse({"supply_point": sp, "grid_min": grid, "from": iso_jst(start), "to": iso_jst(end),
                             "items": {n: {"unit": ITEMS[n].unit, "doc": ITEMS[n].doc} for n in names},
                             "count": len(rows), "intervals": rows})

    @app.get("/v1/events", summary="Meter events (power, switch, security logs) and head-end commands")
    def events(request: Request, supply_point_: str = Query(..., alias="supply_point", max_length=64, json_schema_extra=SP),
               _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        sp = supply_point(supply_point_)
        mid = meter_for(sp, party, "events")
        periods = None if party.utility else (access.windows(party, "events") or {}).get(sp, [])
        return {"supply_point": sp, "events": reader.events(mid, periods), "commands": reader.commands(mid, periods)}

    @app.get("/v1/outages", summary="Outages the head-end detected (all visible supply points, or one)")
    def outages(request: Request, supply_point_: str | None = Query(None, alias="supply_point", max_length=64, json_schema_extra=SP),
                _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        windows = access.windows(party, "outages")      # consent periods per supply point (None: all)
        if supply_point_ is not None:
            sp = supply_point(supply_point_)
            meter_for(sp, party, "outages")
            windows = {sp: None if windows is None else windows.get(sp, [])}
        return {"outages": reader.outages(reader.supply_point_of(), windows)}

    # ---------------------------------------------------------------- consent (utility)
    def utility(party: Party) -> None:
        if not party.utility:
            raise AccessError(403, f"party {party.name} is a third party; consents are managed by the utility")

    @app.get("/v1/consents", summary="Consent records (a third party sees its own)")
    def consents(request: Request, _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        return {"consents": [c.as_dict() for c in access.consents(None if party.utility else party.name)]}

    @app.post("/v1/consents", status_code=201, summary="Record a consent (utility only)")
    def grant(request: Request, party_: str = Body(..., alias="party", max_length=64),
              supply_point_: str = Body(..., alias="supply_point", max_length=64, json_schema_extra=SP),
              scope: list[Literal["intervals", "events", "outages"]] = Body(list(SCOPES)),
              from_: str = Body(..., alias="from", max_length=40), to: str | None = Body(None, max_length=40),
              _k=Security(api_key), _b=Security(bearer)):
        me = who(request)
        utility(me)
        start, end = jst(from_, "from"), jst(to, "to", required=False)
        try:
            return access.grant(party_, supply_point(supply_point_), scope, valid_from=start, valid_to=end,
                                by=me.name).as_dict()
        except ValueError as exc:
            raise BadInput(str(exc)) from None

    @app.delete("/v1/consents/{consent_id}", summary="Revoke a consent (utility only)")
    def revoke(request: Request, consent_id: int = PathParam(..., ge=1, le=2 ** 63 - 1), _k=Security(api_key),
               _b=Security(bearer)):
        me = who(request)
        utility(me)
        try:
            return access.revoke(consent_id, by=me.name).as_dict()
        except KeyError:
            raise BadInput(f"no consent {consent_id}", 404) from None

    @app.get("/v1/audit", summary="The latest requests (utility only)")
    def audit(request: Request, limit: int = Query(100, ge=1, le=1000), _k=Security(api_key), _b=Security(bearer)):
        utility(who(request))
        return {"requests": access.audit_rows(limit)}

    # ---------------------------------------------------------------- bulk export jobs
    @app.post("/v1/exports", status_code=202, summary="Queue a bulk export (CSV or Parquet)")
    def export(request: Request, body: ExportRequest, _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        start, end = jst(body.from_, "from"), jst(body.to, "to")
        period(start, end)
        if end - start > MAX_EXPORT_DAYS * 86400:
            raise BadInput(f"an export covers at most {MAX_EXPORT_DAYS} days", 413)
        sps = None if body.supply_points is None else [supply_point(s) for s in body.supply_points]
        ids = reader.supply_point_of()
        if sps is None and not party.utility:
            sps = sorted(access.visible(party, "intervals"))
        meters = None
        if sps is not None:
            for sp in sps:
                access.check(party, sp, "intervals", data_from(start, body.grid), end)
            by_sp = {v: k for k, v in ids.items()}
            meters = [by_sp[sp] for sp in sps if sp in by_sp]
        job = exports.submit(party.name, grid=body.grid, start=start, end=end, fmt=body.format, meters=meters,
                             supply_points=sps)
        return {k: v for k, v in job.items() if not k.startswith("_")}

    @app.get("/v1/exports", summary="Export jobs of the caller (the utility sees all)")
    def export_list(request: Request, _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        return {"exports": [{k: v for k, v in j.items() if not k.startswith("_")}
                            for j in exports.list(None if party.utility else party.name)]}

    @app.get("/v1/exports/{job_id}", summary="The job's state (202) or, once done, its file",
             responses={200: {"content": {MEDIA["csv"]: {}, MEDIA["parquet"]: {}}}, 202: {"description": "pending"}})
    def export_get(request: Request, job_id: str, _k=Security(api_key), _b=Security(bearer)):
        party = who(request)
        job = exports.get(job_id[:64])
        if job is None or (job["party"] != party.name and not party.utility):
            raise BadInput(f"no export job {job_id[:64]!r}", 404)
        public = {k: v for k, v in job.items() if not k.startswith("_")}
        if job["status"] in ("queued", "running"):
            return JSONResponse(public, 202)
        if job["status"] == "failed":
            raise BadInput(f"export failed: {job['error']}", 409)
        for sp in job["supply_points"] or ():     # consent may have been revoked since the job was queued
            access.check(party, sp, "intervals", data_from(job["_from"], job["grid_min"]), job["_to"])
        return FileResponse(job["_path"], media_type=MEDIA[job["format"]],
                            filename=f"sumame-export-{job_id}.{job['format']}")

    portal.mount(app)
    return app
