"""Load profiles: what the emulated metering chip "sees" on its inputs.

A profile is a step function of time: within a step the site draws a constant active power
(W, negative = export), reactive power (var), supply voltage (V, element to neutral) and puts
``r_share`` of the load on the R element (the rest on T). Being steps, energy over any span is
integrated exactly, so energies do not depend on how often the firmware polls the chip.

Profiles are deterministic: the same seed gives the same watts at the same time, whatever the
order of queries.

* ``ConstantProfile``: one fixed operating point.
* ``ResidentialProfile``: a built-in Japanese household day (morning and evening peaks, random
  appliance events, a rooftop PV system that exports at midday), 1-minute steps, seeded.
* ``CommercialProfile``: a business load (weekday hours) for HV boards, 1-minute steps.
* ``CsvProfile``: replay of recorded (timestamp, W, var, V) rows, sample-and-hold.
"""
from __future__ import annotations

import csv
import functools
import math
import random
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_datetime, jst_midnight, parse_jst


class ProfileError(ValueError):
    """A profile could not be built (bad name, unreadable or malformed CSV)."""


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """One operating point: power_w (W, + import / − export), reactive_var (var),
    voltage_v (V RMS element to neutral), r_share (0..1 of the load on the R element)."""

    power_w: float
    reactive_var: float
    voltage_v: float
    r_share: float = 0.5


class LoadProfile:
    """Step function of time. Subclasses implement ``_step(t) -> (start, end, LoadPoint)``."""

    name = "profile"
    fixed_steps = False
    """True when the answer for a time never changes once given (a pure function of time: the
    chip may keep the step it last read); False for profiles changed at run time (a site
    whose EV sessions are scheduled while it runs)."""

    def at(self, t: float) -> LoadPoint:
        return self._step(t)[2]

    def segments(self, t0: float, t1: float) -> Iterator[tuple[float, float, LoadPoint]]:
        """Yield (a, b, point) covering [t0, t1) with constant point on each piece.

        Raises ProfileError when a step does not end after the time asked for (a profile whose
        step times are rounded, e.g. computed relative to a start epoch, would otherwise make
        this loop forever)."""
        t = t0
        while t < t1:
            start, end, point = self._step(t)
            if not end > t:
                raise ProfileError(f"load profile {self.name}: the step at {t!r} ends at {end!r}, "
                                   f"not after it (step times must be absolute epoch s)")
            b = min(end, t1)
            yield t, b, point
            t = b

    def _step(self, t: float) -> tuple[float, float, LoadPoint]:
        raise NotImplementedError


class ConstantProfile(LoadProfile):
    name = "constant"
    fixed_steps = True

    def __init__(self, power_w: float = 1000.0, reactive_var: float = 200.0,
                 voltage_v: float = 101.0, r_share: float = 0.5):
        self.point = LoadPoint(power_w, reactive_var, voltage_v, r_share)

    def _step(self, t: float):
        return t, math.inf, self.point


class _MinuteProfile(LoadProfile):
    """Profiles defined per JST day as 1440 one-minute points, generated once per day.

    A generated day is kept as one flat ``array('d')`` of 4 x 1440 doubles (W, var, V, r share
    per minute: 46 KiB, not 1440 point objects of ~230 KiB), and a ``LoadPoint`` is made for
    the minute asked for (the last one is kept, so repeated reads return the same object)."""

    _shared: dict[tuple, array] = {}
    """Days already generated, shared by equal profiles (they are pure functions of their
    parameters), so rebuilding a meter does not regenerate its days."""
    _SHARED_MAX = 64
    fixed_steps = True

    def __init__(self, seed: int):
        self.seed = seed
        self._last: tuple[int, array] | None = None
        self._point: tuple[int, int, LoadPoint] | None = None

    def _key(self) -> tuple:
        return (type(self).__name__, self.seed, tuple(sorted(
            (k, v) for k, v in vars(self).items() if k not in ("seed", "_last", "_point"))))

    def _day(self, midnight: int) -> array:
        if self._last is not None and self._last[0] == midnight:
            return self._last[1]
        key = (self._key(), midnight)
        day = self._shared.get(key)
        if day is None:
            if len(self._shared) >= self._SHARED_MAX:
                self._shared.pop(next(iter(self._shared)))
            day_index = (midnight + JST_OFFSET_S) // DAY_S
            rng = random.Random((self.seed * 1_000_003) ^ day_index)
            day = self._shared[key] = array("d", self._day_values(midnight, rng))
        self._last = (midnight, day)
        return day

    def _step(self, t: float):
        return self._step_in_day(t, jst_midnight(t))

    def _step_in_day(self, t: float, midnight: int):
        """``_step(t)`` for a caller that already knows the JST midnight of ``t``."""
        minute = int((t - midnight) // 60)
        start = midnight + minute * 60
        last = self._point
        if last is None or last[0] != midnight or last[1] != minute:
            day, i = self._day(midnight), 4 * minute
            last = self._point = (midnight, minute, LoadPoint(day[i], day[i + 1], day[i + 2], day[i + 3]))
        return start, start + 60, last[2]

    def _make_day(self, midnight: int, rng: random.Random) -> list[LoadPoint]:
        """The day's 1440 points (from ``_day_values``)."""
        v = self._day_values(midnight, rng)
        return [LoadPoint(v[i], v[i + 1], v[i + 2], v[i + 3]) for i in range(0, len(v), 4)]

    def _day_values(self, midnight: int, rng: random.Random) -> list[float]:
        """The day as a flat list W, var, V, r share per minute (what ``_day`` stores)."""
        raise NotImplementedError


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


_HOURS = tuple(m / 60 for m in range(1440))
"""Hour of the day at the start of each minute (the profiles' time axis)."""


@functools.cache
def _residential_shape() -> tuple[tuple[float, ...], ...]:
    """Per minute: the three load bumps (07:00, 12:18, 19:30) and the 1.2 V daily voltage swing:
    pure functions of the hour, the same every day, so computed once (the same floats)."""
    return (tuple(_bump(h, 7.0, 0.9) for h in _HOURS), tuple(_bump(h, 12.3, 0.8) for h in _HOURS),
            tuple(_bump(h, 19.5, 1.6) for h in _HOURS),
            tuple(1.2 * math.sin(h / 24 * 2 * math.pi) for h in _HOURS))


@functools.lru_cache(maxsize=16)
def _sun_shape(daylight: float) -> tuple[float, ...]:
    """Per minute: the clear-sky PV shape ``sun ** 1.5`` for a month's day length."""
    return tuple(max(0.0, math.cos((h - 12.0) / (6.5 * daylight) * math.pi / 2)) ** 1.5 for h in _HOURS)


@functools.cache
def _commercial_shape() -> tuple[float, ...]:
    """Per minute: the business-hours plateau less the lunch dip, clamped at 0."""
    out = []
    for h in _HOURS:
        work = 1.0 / (1 + math.exp(-(h - 8.3) * 3)) - 1.0 / (1 + math.exp(-(h - 18.2) * 3))
        lunch = 0.12 * _bump(h, 12.5, 0.4)
        out.append(max(0.0, work - lunch))
    return tuple(out)


class ResidentialProfile(_MinuteProfile):
    """A household on a 1φ3W 100/200 V supply with rooftop PV.

    base_w:   standby load, W;  peak_w: evening peak, W;  pv_kw: PV array peak output, kW
    (0 = no PV, no reverse flow). Weather per day (sunny/cloudy/rainy) scales PV output.
    """

    name = "residential"

    def __init__(self, seed: int = 1, base_w: float = 250.0, peak_w: float = 2500.0,
                 pv_kw: float = 4.0, voltage_v: float = 101.0):
        super().__init__(seed)
        self.base_w, self.peak_w, self.pv_kw, self.voltage_v = base_w, peak_w, pv_kw, voltage_v

    def _day_values(self, midnight: int, rng: random.Random) -> list[float]:
        # the per-minute shapes are cached; every float below is computed by the same
        # operations in the same order as the formula they stand for (days are reproducible)
        month = jst_datetime(midnight).month
        season_ac = {1: 1.3, 2: 1.2, 7: 1.4, 8: 1.5, 12: 1.2}.get(month, 1.0)
        daylight = 1.0 + 0.25 * math.cos((month - 6.5) / 6.0 * math.pi)  # longer days in summer
        weather = rng.choice((1.0, 1.0, 0.95, 0.6, 0.35, 0.15))
        rnd = rng.random
        morning, noon, evening, swing = _residential_shape()
        base, k_morning, k_noon, k_evening = (self.base_w, 0.45 * self.peak_w, 0.25 * self.peak_w,
                                              self.peak_w * season_ac)
        # w = base + 0.45 peak bump(7) + 0.25 peak bump(12.3) + peak season bump(19.5), +-10 %
        load = [(base + k_morning * morning[m] + k_noon * noon[m] + k_evening * evening[m])
                * (0.9 + 0.2 * rnd()) for m in range(1440)]
        for _ in range(rng.randint(6, 14)):  # appliance events: kettle, microwave, dryer, IH
            start = rng.randrange(1440)
            watts = rng.choice((1200, 1300, 1000, 1400, 2000, 600))
            for m in range(start, min(1440, start + rng.randint(2, 25))):
                load[m] += watts
        values: list[float] = []
        add = values.extend
        r_share = 0.5 + 0.1 * (rnd() - 0.5)
        volts = self.voltage_v
        sun = _sun_shape(daylight) if self.pv_kw else None
        k_pv = 1000 * self.pv_kw * weather
        for m in range(1440):
            pv = 0.0
            if sun is not None:   # PV = 1000 kW x weather x sun^1.5 x (0.92..1.00)
                pv = k_pv * sun[m] * (0.92 + 0.08 * rnd())
            w = load[m]
            net = w - pv
            reactive = w * 0.33 * (0.8 + 0.4 * rnd())  # pf ~0.95 lagging
            v = volts + swing[m] + (1.5 * pv / 4000) + 0.6 * (rnd() - 0.5)
            add((round(net, 1), round(reactive, 1), round(v, 2), r_share + 0.05 * (rnd() - 0.5)))
        return values


class CommercialProfile(_MinuteProfile):
    """A business site (HV customer): primary-side watts; weekday 8–18 h plateau.

    base_kw / peak_kw: night and daytime demand, kW; voltage_v is the *secondary* element
    voltage the chip sees (VT secondary, ~110 V line-to-line on 3φ3W two-element metering).
    """

    name = "commercial"

    def __init__(self, seed: int = 1, base_kw: float = 40.0, peak_kw: float = 180.0,
                 voltage_v: float = 110.0):
        super().__init__(seed)
        self.base_kw, self.peak_kw, self.voltage_v = base_kw, peak_kw, voltage_v

    def _day_values(self, midnight: int, rng: random.Random) -> list[float]:
        weekday = jst_datetime(midnight).weekday() < 5
        rnd = rng.random
        base, span, day_factor = self.base_kw, self.peak_kw - self.base_kw, (1.0 if weekday else 0.25)
        values: list[float] = []
        add = values.extend
        for shape in _commercial_shape():   # kW = base + (peak - base) x max(0, work - lunch)
            kw = base + span * shape * day_factor
            kw *= 0.95 + 0.1 * rnd()
            add((round(kw * 1000, 1), round(kw * 1000 * 0.42, 1),
                 round(self.voltage_v + 0.8 * (rnd() - 0.5), 2), 0.5 + 0.02 * (rnd() - 0.5)))
        return values


class CsvProfile(LoadProfile):
    """Replay of a CSV file with columns ``timestamp, W, var, V`` (header optional).

    timestamp: ISO 8601 (JST when no offset is given) or epoch seconds. Rows are held until the
    next row (sample-and-hold). The recording is shifted by whole days so its first JST day
    starts at the emulation's first JST day, and repeats when the emulation runs longer.
    Gaps longer than ``max_gap_s`` are reported in ``warnings`` (values are held across them).
    """

    name = "csv"
    fixed_steps = True

    def __init__(self, path: str | Path, start_epoch: float, max_gap_s: float = 900.0,
                 r_share: float = 0.5):
        self.path = Path(path)
        self.warnings: list[str] = []
        rows = self._read(self.path, max_gap_s)
        self.r_share = r_share
        self._times = [r[0] for r in rows]
        self._points = [LoadPoint(w, var, v, r_share) for _, w, var, v in rows]
        steps = [b - a for a, b in zip(self._times, self._times[1:])] or [60.0]
        last_step = sorted(steps)[len(steps) // 2]
        self._t0 = self._times[0]
        self._period = self._times[-1] + last_step - self._t0
        self._shift = jst_midnight(start_epoch) - jst_midnight(self._t0)

    @staticmethod
    def _parse_time(text: str) -> float:
        text = text.strip()
        try:
            return float(text)
        except ValueError:
            return float(parse_jst(text))

    def _read(self, path: Path, max_gap_s: float) -> list[tuple[float, float, float, float]]:
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read load profile: {exc.strerror}") from None
        rows, errors = [], []
        with handle:
            try:
                lines = list(csv.reader(handle))
            except UnicodeDecodeError as exc:
                raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start}: "
                                   f"0x{exc.object[exc.start]:02X})") from None
            except csv.Error as exc:
                raise ProfileError(f"{path}: not CSV: {exc}") from None
            for lineno, fields in enumerate(lines, start=1):
                if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                    continue
                if lineno == 1 and not _looks_numeric(fields[1] if len(fields) > 1 else ""):
                    continue  # header
                if len(fields) < 4:
                    errors.append(f"{path}:{lineno}: expected 4 columns (timestamp, W, var, V), got {len(fields)}")
                    continue
                try:
                    t = self._parse_time(fields[0])
                    w, var, v = (float(f) for f in fields[1:4])
                except ValueError as exc:
                    errors.append(f"{path}:{lineno}: {exc}")
                    continue
                if not math.isfinite(t):
                    errors.append(f"{path}:{lineno}: timestamp {fields[0].strip()!r} is not a time")
                    continue
                if not all(math.isfinite(x) for x in (w, var, v)) or v < 0:
                    errors.append(f"{path}:{lineno}: values must be finite and V >= 0")
                    continue
                if rows and t <= rows[-1][0]:
                    errors.append(f"{path}:{lineno}: timestamp not after the previous row")
                    continue
                if rows and t - rows[-1][0] > max_gap_s:
                    self.warnings.append(
                        f"{path}:{lineno}: gap of {(t - rows[-1][0]) / 60:.0f} min before this row "
                        f"(values held across it)")
                rows.append((t, w, var, v))
        if errors:
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise ProfileError("malformed load profile:\n  " + "\n  ".join(errors[:5]) + more)
        if not rows:
            raise ProfileError(f"{path}: no data rows (expected timestamp, W, var, V)")
        return rows

    def _step(self, t: float):
        local = t - self._shift
        cycles = math.floor((local - self._t0) / self._period)
        local -= cycles * self._period
        i = max(0, bisect_right(self._times, local) - 1)
        start = self._times[i]
        end = self._times[i + 1] if i + 1 < len(self._times) else self._t0 + self._period
        offset = self._shift + cycles * self._period
        return start + offset, end + offset, self._points[i]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class OverrideProfile(LoadProfile):
    """Another profile with the load forced to ``power_w`` during [start, end) (fault
    injection: an overload that trips the breaker, a sudden export)."""

    name = "override"

    def __init__(self, base: LoadProfile, start: float, end: float, power_w: float):
        self.base, self.start, self.end, self.power_w = base, start, end, power_w
        self.fixed_steps = base.fixed_steps
        self.warnings = getattr(base, "warnings", [])

    def _step(self, t: float):
        if self.start <= t < self.end:
            point = self.base.at(t)
            return self.start, self.end, LoadPoint(self.power_w, abs(self.power_w) * 0.2,
                                                   point.voltage_v, point.r_share)
        a, b, point = self.base._step(t)
        if t < self.start:
            b = min(b, self.start)
        else:
            a = max(a, self.end)
        return a, b, point


BUILT_IN = ("constant", "residential", "residential-no-pv", "commercial")


def make_profile(spec: str, *, seed: int, start_epoch: float, **options) -> LoadProfile:
    """Build a profile from a name in BUILT_IN or a path to a CSV file.

    ``shared_days=K`` (residential / commercial): the fleet shares K generated days
    (see shared_profiles.py) instead of generating days per meter."""
    shared = options.pop("shared_days", None)
    if shared is not None and spec in ("residential", "residential-no-pv", "commercial"):
        from .shared_profiles import SharedDayProfile

        key = tuple(sorted(options.items()))
        return SharedDayProfile(spec, lambda j: make_profile(spec, seed=j, start_epoch=start_epoch, **options),
                                seed=seed, days=int(shared), options=key)
    if shared is not None:
        raise ProfileError(f"shared_days applies to residential or commercial profiles, not {spec!r}")
    if spec == "constant":
        return ConstantProfile(**options)
    if spec == "residential":
        return ResidentialProfile(seed=seed, **options)
    if spec == "residential-no-pv":
        return ResidentialProfile(seed=seed, **{**options, "pv_kw": 0.0})
    if spec == "commercial":
        return CommercialProfile(seed=seed, **options)
    if spec.endswith(".csv") or "/" in spec:
        return CsvProfile(spec, start_epoch)
    raise ProfileError(f"unknown load profile {spec!r}; use one of {', '.join(BUILT_IN)} or a .csv file")
