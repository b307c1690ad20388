"""Route-B credentials (B-route authentication ID and password) kept in the meter's StateStore.

The utility issues them; the board file gives the first pair, the head-end may renew them
(``renew_route_b``, reached from the A-route). The pair is ONE StateStore record
(``broute.credentials``: 32 hex digits + 12 characters, ASCII), so a power cut leaves the old
pair or the new pair, never a mix or neither. On renewal the Wi-SUN B-route restarts with the
new pair at once (PANA sessions made with the old password end) and the event
``route-b-credentials`` tells the display to show the new QR code.
"""
from __future__ import annotations

import re

STATE = "broute.credentials"
_ID = re.compile(r"[0-9A-F]{32}")
_PASSWORD = re.compile(r"[0-9A-Za-z]{12}")


class CredentialsRefused(ValueError):
    pass


def check(route_b_id: str, password: str) -> None:
    if not _ID.fullmatch(route_b_id):
        raise CredentialsRefused("route-B ID must be 32 upper-case hex digits")
    if not _PASSWORD.fullmatch(password):
        raise CredentialsRefused("route-B password must be 12 letters or digits")


def route_b_credentials(meter) -> tuple[str, str]:
    """(ID, password) in force: the renewed pair, else the board's."""
    raw = meter.storage.load(STATE)
    if raw is not None and len(raw) == 44:
        try:
            text = raw.decode("ascii")
            check(text[:32], text[32:])
            return text[:32], text[32:]
        except (UnicodeDecodeError, CredentialsRefused):
            pass
    return meter.config.identity.route_b_id, meter.config.options.get("identity", {}).get("route_b_password", "")


def renew_route_b(meter, route_b_id: str, password: str, *, source: str = "a-route") -> None:
    """Store the new pair (durable on return), then restart the Wi-SUN B-route with it."""
    check(route_b_id, password)
    meter.storage.save(STATE, (route_b_id + password).encode("ascii"))
    meter.events.record("route-b-credentials", source=source,
                        detail=f"route-B ID {route_b_id[:4]}…{route_b_id[-4:]} and password renewed; "
                               f"old credentials refused from now on")
    for service in meter.services:
        restart = getattr(service, "restart_wisun", None)
        if restart is not None:
            restart()
