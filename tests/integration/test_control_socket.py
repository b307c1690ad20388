"""The emulator's control socket under bad input (issue 9: every port): oversized, deeply
nested, non-JSON and out-of-range requests get a one-line error, and the server keeps serving."""
import json
import socket

import pytest
from aroute_helpers import meter

from sumame.tools.control import MAX_EVENTS, MAX_REQUEST, ControlServer


@pytest.fixture
def server(tmp_path):
    rt = meter(settle_s=60)
    srv = ControlServer(rt, tmp_path / "control.sock")
    yield rt, srv
    srv.close()


@pytest.mark.parametrize("raw, words", [
    (b"[" * 3000, "nested deeper"),                    # json.loads would raise RecursionError
    (b'{"command": "status", "args": ' + b"[" * 9 + b"]" * 9 + b"}", "nested deeper"),
    (b"x" * (MAX_REQUEST + 1), "longer than"),
    (b"\xff\xfe{", "not JSON"),
    (b'{"command": "events", "args": [1e999]}', "infinity"),          # int(inf): OverflowError
    (b'{"command": "events", "args": [1000000000]}', f"1 to {MAX_EVENTS}"),
    (b'{"command": "outage", "args": [' + b"9" * 3000 + b"]}", "too large"),
    (b'{"command": "load", "args": "0123456789"}', "must be a list"),
    (b'{"command": "quirk", "args": ' + json.dumps(["x"] * 17).encode() + b"}", "at most 16"),
])
def test_bad_requests_get_a_one_line_error(server, raw, words):
    _, srv = server
    reply = srv.handle(raw)
    assert reply["ok"] is False and words in reply["error"] and "\n" not in reply["error"]


def test_the_socket_keeps_serving_after_hostile_requests(server):
    rt, srv = server
    srv.start(rt.scheduler)
    path = str(srv.path)
    for raw in (b"[" * 4000 + b"\n", b"x" * (3 * MAX_REQUEST), b'{"command": "events", "args": [1e999]}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(path)
            c.sendall(raw)
            for _ in range(20):
                rt.scheduler.run_for(0.1)
            c.settimeout(5)
            reply = json.loads(c.recv(65536))
            assert reply["ok"] is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(path)
        c.sendall(b'{"command": "events", "args": [3]}\n')
        for _ in range(20):
            rt.scheduler.run_for(0.1)
        c.settimeout(5)
        reply = json.loads(c.recv(65536))
    assert reply["ok"] is True and len(reply["result"]) == 3
    assert srv.served == 4 and rt.scheduler.crashed == []
