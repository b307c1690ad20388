"""The web portal, served by the API process: fleet status, a meter page (30/15/5-min charts of
forward and reverse energy, the event and command log), export jobs, and a sign-in page.

Pages are static HTML + ``static/portal.js``: the browser keeps the party's API key (session
storage) and calls the same /v1 API, so a page shows exactly what the API returns, and what the
API refuses (401/403) the page refuses too. No external scripts or fonts (works offline).
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PAGES = {"fleet": "Fleet status", "meter": "Meter", "exports": "Export jobs", "login": "Sign in"}


def page(name: str) -> str:
    nav = " ".join(f'<a href="/portal/{p}" id="nav-{p}">{escape(t)}</a>' for p, t in PAGES.items() if p != "meter")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sumame MDMS — {escape(PAGES[name])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/portal.css"></head>
<body data-page="{name}"><header><strong>sumame MDMS</strong> {nav} <span id="who"></span></header>
<main><h1>{escape(PAGES[name])}</h1><div id="error" class="refused" hidden></div><div id="content"></div></main>
<script src="/static/portal.js"></script></body></html>"""


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/portal/fleet")

    @app.get("/portal", include_in_schema=False)
    def portal_root():
        return RedirectResponse("/portal/fleet")

    for name in PAGES:
        app.add_api_route(f"/portal/{name}", lambda name=name: HTMLResponse(page(name)), include_in_schema=False)
