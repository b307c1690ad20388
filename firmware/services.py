"""Meter services: the route applications a meter runs on top of its core.

A service is built by a factory ``factory(meter, switchgear) -> service | None`` (None when the
board does not enable it) and has ``start()``, ``stop()`` and ``endpoints`` (list of
``(name, address)`` the emulator prints as ``endpoint <name> <address>``). Route layers add their
factory to SERVICE_FACTORIES; the meter starts them in that order at boot.
"""
from __future__ import annotations

from typing import Callable, Protocol


class Service(Protocol):
    name: str

    @property
    def endpoints(self) -> list[tuple[str, str]]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _b_route(meter, switchgear):
    section = meter.config.options.get("broute", {})
    if not section.get("enabled", True):
        return None
    from .routes.broute.wiring import BRouteApp
    return BRouteApp(meter, switchgear)


def _a_route(meter, switchgear):
    section = meter.config.options.get("aroute", {})
    if not section.get("enabled", True):
        return None
    from .routes.aroute.wiring import ARouteApp
    return ARouteApp(meter, switchgear)


def _iot_route(meter, switchgear):
    section = meter.config.options.get("iot", {})
    radio = meter.hw.extras.get("iot_radio")
    if not section.get("enabled", False) or radio is None:
        return None
    from .routes.iot.app import IotRouteApp
    return IotRouteApp(meter, switchgear, radio, section)


def _ext_security(meter, switchgear):
    from .security.service import factory
    return factory(meter, switchgear)


SERVICE_FACTORIES: list[Callable] = [_b_route, _a_route, _iot_route, _ext_security]
"""Order matters: ``_ext_security`` is last, it attaches itself to the routes built before it."""
