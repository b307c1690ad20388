"""Independent audit of issue 14 (MDMS API): found with schemathesis (PyPI) against a live
``sumame hes serve``: a method the API does not serve got 405 without the ``Allow`` header
RFC 9110 §15.5.6 requires (the error handler dropped Starlette's headers)."""
import pytest

pytest.importorskip("fastapi", reason="the MDMS API needs the api extra (fastapi, uvicorn)")
from fastapi.testclient import TestClient  # noqa: E402

from sumame.tools.hes.mdms.app import create_app  # noqa: E402
from sumame.tools.hes.db.store import HesStore  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("mdms405") / "hes.sqlite"
    HesStore(db).close()
    app = create_app(db, export_dir=tmp_path_factory.mktemp("exports"), rate=1000, burst=1000)
    key = app.state.access.add_party("util", "utility")
    with TestClient(app) as c:
        c.headers["X-API-Key"] = key
        yield c
    app.state.exports.close()


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/v1/meters", {"GET"}), ("TRACE", "/v1/audit", {"GET"}),
    ("PATCH", "/v1/consents/1", {"DELETE"}), ("DELETE", "/v1/exports", {"GET", "POST"})])
def test_405_names_the_allowed_methods(client, method, path, allowed):
    r = client.request(method, path)
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed" and r.json()["reason"]
    listed = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
    # Starlette names the methods of the first route matching the path (GET and POST /v1/exports
    # are two routes): at least one, and only methods the path serves
    assert listed and listed <= allowed | {"HEAD"}, r.headers
