"""``sumame hes serve | party | consent``: the MDMS API and portal, and who may use them.

    sumame hes serve --db hes.sqlite --listen 127.0.0.1:8080      API + portal (needs sumame[api])
    sumame hes party add --db hes.sqlite --name aggr-1 --role third_party     prints its API key once
    sumame hes consent grant --db hes.sqlite --party aggr-1 --supply-point 0300… --from 2026-04-01
    sumame hes consent revoke --db hes.sqlite --id 3
    sumame hes consent list --db hes.sqlite
"""
from __future__ import annotations

import sys
from pathlib import Path

from sumame.hal.jst import format_jst, parse_jst

from ...cli import CliError
from .access import ROLES, SCOPES, Access
from .data import T_MAX, T_MIN
from .ids import NumberError

NEEDS = "the MDMS API needs FastAPI and uvicorn: pip install 'sumame[api]'"


def add_parsers(hs) -> None:
    q = hs.add_parser("serve", help="MDMS HTTP API and web portal over the head-end database")
    q.add_argument("--db", type=Path, required=True, help="head-end SQLite file (data opened read-only)")
    q.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (default %(default)s; port 0: any free)")
    q.add_argument("--rate", type=float, default=50.0, help="requests/s per party (default %(default)s)")
    q.add_argument("--burst", type=int, default=100, help="burst per party (default %(default)s)")
    q.add_argument("--export-dir", type=Path, help="where export files go (default DB.exports/)")
    q.add_argument("--header-timeout", type=float, default=10.0,
                   help="s a client has to send a complete request head (slow clients are closed; default %(default)s)")
    q.set_defaults(func=serve)
    p = hs.add_parser("party", help="API parties (utility, third parties) and their keys")
    ps = p.add_subparsers(dest="party_command", metavar="ACTION", required=True)
    q = ps.add_parser("add", help="create a party and print its API key (shown once)")
    q.add_argument("--db", type=Path, required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--role", choices=ROLES, default="third_party")
    q.set_defaults(func=party_add)
    q = ps.add_parser("list", help="parties and roles")
    q.add_argument("--db", type=Path, required=True)
    q.set_defaults(func=party_list)
    c = hs.add_parser("consent", help="consent records: which party may read which supply point")
    cs = c.add_subparsers(dest="consent_command", metavar="ACTION", required=True)
    q = cs.add_parser("grant", help="record a consent")
    q.add_argument("--db", type=Path, required=True)
    q.add_argument("--party", required=True)
    q.add_argument("--supply-point", required=True, help="22 digits")
    q.add_argument("--scope", default=",".join(SCOPES), help="comma-separated: %(default)s")
    q.add_argument("--from", dest="start", required=True, help="JST start of the data it covers")
    q.add_argument("--to", dest="end", help="JST end (default: open)")
    q.add_argument("--by", default="cli", help="who recorded it (audit)")
    q.set_defaults(func=consent_grant)
    q = cs.add_parser("revoke", help="revoke a consent")
    q.add_argument("--db", type=Path, required=True)
    q.add_argument("--id", type=int, required=True)
    q.add_argument("--by", default="cli")
    q.set_defaults(func=consent_revoke)
    q = cs.add_parser("list", help="consent records")
    q.add_argument("--db", type=Path, required=True)
    q.set_defaults(func=consent_list)


def _access(db: Path) -> Access:
    if not db.is_file():
        raise CliError(f"{db}: no such database")
    return Access(db)


def _jst(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        t = float(parse_jst(text))
    except (ValueError, OverflowError):
        raise CliError(f"{what} {text!r}: expected a JST date like 2026-04-02 or 2026-04-02T06:00") from None
    if not T_MIN <= t <= T_MAX:
        raise CliError(f"{what} {text!r}: outside 1970-01-01 .. 9999-12-31 JST")
    return t


def party_add(args) -> int:
    a = _access(args.db)
    try:
        key = a.add_party(args.name, args.role)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"party {args.name} ({args.role}) api-key {key}")
    return 0


def party_list(args) -> int:
    for p in _access(args.db).parties():
        print(f"{p.name:<24} {p.role}")
    return 0


def consent_grant(args) -> int:
    a = _access(args.db)
    try:
        c = a.grant(args.party, args.supply_point, [s.strip() for s in args.scope.split(",") if s.strip()],
                    valid_from=_jst(args.start, "--from"), valid_to=_jst(args.end, "--to"), by=args.by)
    except (ValueError, NumberError) as exc:
        raise CliError(str(exc)) from None
    print(f"consent {c.id}: {c.party} may read {','.join(c.scope)} of {c.supply_point} from "
          f"{format_jst(c.valid_from)}" + (f" to {format_jst(c.valid_to)}" if c.valid_to else ""))
    return 0


def consent_revoke(args) -> int:
    try:
        c = _access(args.db).revoke(args.id, by=args.by)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    print(f"consent {c.id} revoked at {format_jst(c.revoked_at)}")
    return 0


def consent_list(args) -> int:
    for c in _access(args.db).consents():
        state = "revoked " + format_jst(c.revoked_at) if c.revoked_at else "active"
        print(f"{c.id:>4} {c.party:<20} {c.supply_point} {','.join(c.scope):<24} {state}")
    return 0


def serve(args) -> int:
    try:
        import uvicorn

        from .app import create_app
        from .deadline import protocol
    except ImportError:
        raise CliError(NEEDS) from None
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise CliError(f"--listen {args.listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    if not 0 < args.header_timeout <= 3600:
        raise CliError(f"--header-timeout {args.header_timeout:g}: give 0 < s <= 3600")
    if not args.db.is_file():
        raise CliError(f"{args.db}: no such database")
    try:
        app = create_app(args.db, export_dir=args.export_dir, rate=args.rate, burst=args.burst)
    except Exception as exc:   # not a database, unreadable: one line
        raise CliError(f"{args.db}: {exc}") from None
    access = app.state.access
    if not any(p.utility for p in access.parties()):
        key = access.add_party("utility", "utility")
        print(f"api-key utility {key}   (first start: the utility party; shown once)", flush=True)
    config = uvicorn.Config(app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False,
                            proxy_headers=False,      # X-Forwarded-For would let a client pick its rate-limit key
                            http=protocol(args.header_timeout))
    server = uvicorn.Server(config)
    import socket
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), int(port)))
        sock.listen(128)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    bound = sock.getsockname()
    print(f"endpoint mdms-api http://{host}:{bound[1]}/v1  portal http://{host}:{bound[1]}/portal  "
          f"database {args.db} (read-only)", flush=True)
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0
