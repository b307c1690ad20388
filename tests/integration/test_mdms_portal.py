"""``sumame hes serve`` as a real process, and its web portal in a real headless browser
(Debian's chromium + chromedriver, driven by selenium): pages load, the charts show exactly the
values the API returns (30- and 5-min, forward and reverse), the export page runs a job, and an
unauthorised user (no key, a wrong key, a party without consent) is refused."""
import os
import shutil
import sqlite3
import sys

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the MDMS API needs the api extra (fastapi, uvicorn)")

from mdms_helpers import Server, data_digest, fleet_store, sumame  # noqa: E402
from sumame.tools.fleet.fleet import supply_point_of  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DAY = "2026-04-03"


def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium/chromedriver missing under CI (.ci/run installs chromium chromium-driver)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = fleet_store(tmp_path_factory.mktemp("portal") / "hes.sqlite", 6, 2.1)
    before = data_digest(db)
    server = Server(db)
    r = sumame("hes", "party", "add", "--db", db, "--name", "aggr", "--role", "third_party")
    assert r.returncode == 0, r.stderr
    aggr = r.stdout.split("api-key ")[1].strip()
    r = sumame("hes", "consent", "grant", "--db", db, "--party", "aggr", "--supply-point", supply_point_of(1),
               "--from", "2026-04-01")
    assert r.returncode == 0 and "consent 1" in r.stdout, r.stderr
    yield server, db, {"utility": server.utility_key, "aggr": aggr}
    server.stop()
    assert data_digest(db) == before        # serving, reading, refusing: the collected data unchanged


@pytest.fixture(scope="module")
def driver():
    d = browser()
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def api(server, key, path, **params):
    return httpx.get(server.url + path, params=params, headers={"X-API-Key": key}, timeout=10)


def open_page(driver, url, key=None):
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    if key is not None:
        driver.execute_script("sessionStorage.setItem('sumame-mdms-key', arguments[0])", key)
        driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")


def chart_values(driver, item):
    rects = driver.find_elements("css selector", f"#chart-{item} rect")
    return [(r.get_attribute("data-end"), None if r.get_attribute("data-value") == "" else float(r.get_attribute("data-value")))
            for r in rects]


def test_serve_answers_over_http_and_logs_every_request(served):
    server, db, keys = served
    r = api(server, keys["utility"], "/v1/meters")
    assert r.status_code == 200 and r.json()["count"] == 6
    assert api(server, "smk_bad", "/v1/meters").status_code == 401
    assert api(server, keys["aggr"], "/v1/events", supply_point=supply_point_of(0)).status_code == 403
    audit = api(server, keys["utility"], "/v1/audit", limit=10).json()["requests"]
    seen = {(a["party"], a["path"], a["status"]) for a in audit}
    assert {("util" if False else "utility", "/v1/meters", 200), ("-", "/v1/meters", 401),
            ("aggr", "/v1/events", 403)} <= seen
    assert httpx.get(server.url + "/openapi.json", timeout=10).json()["info"]["title"] == "sumame MDMS"


def test_sign_in_and_fleet_status(served, driver):
    from selenium.webdriver.support.ui import WebDriverWait
    server, db, keys = served
    driver.get(server.url + "/portal/login")
    WebDriverWait(driver, 20).until(lambda d: d.find_elements("id", "api-key"))
    driver.find_element("id", "api-key").send_keys(keys["utility"])
    driver.find_element("id", "sign-in").click()
    WebDriverWait(driver, 20).until(lambda d: "/portal/fleet" in d.current_url
                                    and d.find_element("tag name", "body").get_attribute("data-ready") == "1")
    body = api(server, keys["utility"], "/v1/meters").json()
    rows = driver.find_elements("css selector", "#meters tr")[1:]
    assert len(rows) == body["count"] == 6
    assert [r.find_elements("tag name", "td")[0].text for r in rows] == [m["supply_point"] for m in body["meters"]]
    assert driver.find_element("id", "count-up").text == f"up {body['status_counts']['up']}"
    assert len(driver.find_elements("css selector", "#outages tr")) - 1 == len(
        api(server, keys["utility"], "/v1/outages").json()["outages"])


@pytest.mark.parametrize("grid", [30, 5])
def test_meter_charts_show_what_the_api_returns(served, driver, grid):
    server, db, keys = served
    meter = sqlite3.connect(db).execute("SELECT meter FROM intervals WHERE grid=5 LIMIT 1").fetchone()[0] \
        if grid == 5 else "inproc://SMLV00000002"
    sp = sqlite3.connect(db).execute("SELECT supply_point FROM meters WHERE id=?", (meter,)).fetchone()[0]
    open_page(driver, f"{server.url}/portal/meter?sp={sp}&grid={grid}&date={DAY}", keys["utility"])
    got = api(server, keys["utility"], "/v1/intervals", supply_point=sp, item="forward_kwh,reverse_kwh", grid=grid,
              **{"from": f"{DAY}T00:{grid:02d}", "to": "2026-04-04T00:00"}).json()["intervals"]
    assert len(got) == 24 * 60 // grid
    for item in ("forward_kwh", "reverse_kwh"):
        assert chart_values(driver, item) == [(r["interval_end"], r[item]["value"]) for r in got]
    assert any(v for _, v in chart_values(driver, "forward_kwh"))
    assert driver.find_element("id", "chart-forward_kwh").get_attribute("data-unit") == "kWh"
    assert driver.find_elements("id", "events") and driver.find_elements("id", "commands")


def test_export_page_runs_a_job(served, driver):
    from selenium.webdriver.support.ui import WebDriverWait
    server, db, keys = served
    open_page(driver, server.url + "/portal/exports", keys["utility"])
    driver.find_element("id", "export-start").click()
    WebDriverWait(driver, 30).until(lambda d: any(b.text == "download" for b in d.find_elements(
        "css selector", "#exports button")))
    jobs = api(server, keys["utility"], "/v1/exports").json()["exports"]
    assert jobs and jobs[0]["status"] == "done" and jobs[0]["rows"] > 0


def test_unauthorised_users_are_refused(served, driver):
    from selenium.webdriver.support.ui import WebDriverWait
    server, db, keys = served
    driver.get(server.url + "/portal/fleet")
    driver.execute_script("sessionStorage.clear()")
    open_page(driver, server.url + "/portal/fleet")
    box = driver.find_element("id", "error")
    assert box.get_attribute("data-status") == "401" and "not signed in" in box.text
    assert not driver.find_elements("css selector", "#meters")
    open_page(driver, server.url + "/portal/fleet", "smk_forged")
    box = driver.find_element("id", "error")
    assert box.get_attribute("data-status") == "401" and "unknown API key" in box.text
    assert not driver.find_elements("css selector", "#meters")
    open_page(driver, f"{server.url}/portal/meter?sp={supply_point_of(0)}&date={DAY}", keys["aggr"])
    box = driver.find_element("id", "error")
    assert box.get_attribute("data-status") == "403" and "no consent" in box.text
    assert not driver.find_elements("css selector", "svg.chart")
    open_page(driver, f"{server.url}/portal/meter?sp={supply_point_of(1)}&date={DAY}", keys["aggr"])
    assert driver.find_elements("css selector", "svg.chart"), driver.find_element("id", "error").text


def test_serve_without_the_api_extra_says_what_to_install(tmp_path):
    fake = tmp_path / "fake"
    (fake / "fastapi").mkdir(parents=True)
    (fake / "fastapi" / "__init__.py").write_text("raise ImportError('fastapi hidden by the test')\n")
    db = tmp_path / "x.sqlite"
    sqlite3.connect(db).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), *sys.path])}
    r = sumame("hes", "serve", "--db", db, "--listen", "127.0.0.1:0", env=env)
    assert r.returncode == 2 and "pip install 'sumame[api]'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
