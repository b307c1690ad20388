"""Profile names, presets, and ``NAME[:k=v,...]`` specs (CLI, board ``[quirks]``, ctl)."""
from __future__ import annotations

from .base import Quirk, QuirkError
from .echonet_profiles import PROFILES as ECHONET_PROFILES
from .wisun_dongle_profiles import PROFILES as DONGLE_PROFILES
from .wisun_profiles import PROFILES as WISUN_PROFILES

PROFILES: dict[str, type[Quirk]] = {cls.name: cls for cls in ECHONET_PROFILES}
PROFILES.update({cls.name: cls for cls in WISUN_PROFILES + DONGLE_PROFILES})   # silent-spell: IP + Wi-SUN

PRESETS: dict[str, list[str]] = {
    "kansai-meter": ["utility-profile:preset=kansai", "opc-cap:max_opc=7"],
    "gateway-meter": ["utility-profile:preset=no-e1", "opc-cap:max_opc=5", "slow-answer:median_s=0.8"],
    "weak-link": ["silent-spell:duration_s=120,every_s=3600,at=60", "slow-answer:median_s=2.5",
                  "link-quality:rssi_dbm=-82,drift_to_dbm=-92,drift_s=3600,jitter_db=3,loss_pct=20"],
    "flaky-dongle": ["dongle-wedge:after_n_cmds=200,mode=mute,recover=skreset", "scan-hard:min_duration=5",
                     "pana-fail:n_failures=1"],
    "late-announcer": ["announce:offset_s=240,miss_prob=0.2"],
    "odd-values": ["values:reverse_flow=true,glitch=backwards,prob=0.05"],
}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'name:k=v,k=v' -> (name, {k: v}); QuirkError naming what is wrong."""
    name, _, rest = spec.strip().partition(":")
    if name not in PROFILES:
        raise QuirkError(f"unknown quirk {name!r}; known: {', '.join(PROFILES)}")
    params = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise QuirkError(f"quirk {name}: {item!r} is not key=value")
        params[key.strip()] = value.strip()
    return name, params


def make(name: str, params: dict) -> Quirk:
    if name not in PROFILES:
        raise QuirkError(f"unknown quirk {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name](**params)


def preset(name: str) -> list[tuple[str, dict[str, str]]]:
    if name not in PRESETS:
        raise QuirkError(f"unknown quirk preset {name!r}; known: {', '.join(PRESETS)}")
    return [parse_spec(s) for s in PRESETS[name]]
