"""Clock views (service.clocks) -> the JSON the clock API answers, the island page renders and
``island-ssh clock --json`` prints, one shape for all three faces. Pure: no I/O, no clock reads;
the real "now" (for "0.4 s ago" and the island's time now) is passed in.

Also the one place a JSON clock request becomes the text the service parses (``change_text``),
so the API and the page's forms accept the same things.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from island_ssh.core.errors import InvalidInput

ACTIONS = ("freeze", "resume", "reset")
MAX_CLOCK_TEXT = 256


# -- requests ------------------------------------------------------------------------------------
def change_text(data: dict) -> str:
    """The one clock command a request body asks for: {"clock"}, {"preset"}, {"action"} or {"speed"}."""
    given = [k for k in ("clock", "preset", "action", "speed") if k in data]
    unknown = sorted(set(data) - {"clock", "preset", "action", "speed"})
    if unknown:
        raise InvalidInput(f"unknown field {str(unknown[0])[:40]!r}; send one of clock, preset, action, speed")
    if len(given) != 1:
        raise InvalidInput("send exactly one of: {\"clock\": \"2021-09-18 04:59:50\" | \"+1h\" | \"reset\"}, "
                           "{\"preset\": \"daily-reset\"}, {\"action\": \"freeze\" | \"resume\" | \"reset\"}, "
                           "{\"speed\": 10}")
    name, value = given[0], data[given[0]]
    if name == "speed":
        return "speed " + speed_text(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text, got {type(value).__name__}")
    if len(value) > MAX_CLOCK_TEXT:
        raise InvalidInput(f"{name}: {len(value)} characters; at most {MAX_CLOCK_TEXT}")
    if name == "action":
        if value not in ACTIONS:
            raise InvalidInput(f"action: {value[:40]!r} is not one of {', '.join(ACTIONS)}")
        return value
    if name == "preset":
        return "preset " + value
    return value


def speed_text(value) -> str:
    """10, 0.5, "10", "x10" -> "x10" (the service judges the range: 0 < x <= 1000)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"speed: expected a number like 10 or 0.5, got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("x")
        if not text or len(text) > 16:
            raise InvalidInput(f"speed: {value[:40]!r} is not a number like 10 or 0.5")
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"speed: {value[:40]!r} is not a number like 10 or 0.5") from None
    if not math.isfinite(value):
        raise InvalidInput("speed: expected a finite number from above 0 to 1000")
    return f"x{value:g}"


# -- answers ------------------------------------------------------------------------------------
def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _plain(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    return dict(vars(obj))


def iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def island_at(state, real: float) -> float | None:
    """What a clock state (ClockState.as_dict) reads at the real time ``real``."""
    if not state:
        return None
    if _get(state, "frozen", False):
        return float(_get(state, "island_epoch"))
    return float(_get(state, "island_epoch")) + float(_get(state, "rate", 1.0)) * (real - float(_get(state, "real_epoch")))


def badge(frozen: bool, rate: float) -> str:
    """The islands table's compact column: "" (running at real speed), "frozen", "x10"."""
    if frozen:
        return "frozen"
    if rate != 1.0:
        return f"x{rate:g}"
    return ""


def badge_of_setting(setting: str | None) -> str:
    """The compact column from the island row's last clock text alone (the table lists rows, not
    clock states): "frozen" after a freeze, "x10" after `speed x10`, "" otherwise. A change that
    keeps a freeze or a speed (a shift while frozen) shows "" here; the island page and GET
    .../clock show the state itself."""
    text = " ".join((setting or "").lower().split())
    if text == "freeze":
        return "frozen"
    if text.startswith("speed "):
        factor = text[6:].removeprefix("x")
        try:
            rate = float(factor)
        except ValueError:
            return ""
        return badge(False, rate) if math.isfinite(rate) else ""
    return ""


def clock_json(view, now: float, row=None) -> dict:
    """One island's clock (a service ClockView) as the faces show it: the view's own fields
    (state, setting, island_now, offset_seconds, rate, frozen, proof, proof_line, timelines ...)
    plus ``speed`` and ``badge``; ``now`` fills ``island_now`` for a view without it."""
    data = _plain(view)
    state = data.get("state")
    if "island_now" not in data and state:
        data["island_now"] = round(island_at(state, now), 3)
        data["offset_seconds"] = round(data["island_now"] - now, 3)
    if "offset_seconds" not in data:
        data["offset_seconds"] = float(_get(row, "clock_offset_seconds", 0) or 0)
    data.setdefault("island_id", _get(row, "island_id"))
    data.setdefault("setting", _get(row, "clock_setting") or "")
    frozen = bool(data.get("frozen", _get(state, "frozen", False)))
    rate = float(data.get("rate", _get(state, "rate", 1.0)) or 1.0)
    data.update(frozen=frozen, rate=rate, speed=rate, badge=badge(frozen, rate))
    data.setdefault("proof", None)
    data.setdefault("proof_line", "not read back yet")
    data["timelines"] = [timeline_json(t) for t in (data.get("timelines") or [])]
    return data


def history_json(island_id: int, entries) -> dict:
    """The clock history, newest first (the service's ClockChange dicts, times as ISO text)."""
    return {"island_id": island_id, "history": [_isos(_plain(e)) for e in entries or []]}


def presets_json(presets) -> dict:
    items = presets.items() if isinstance(presets, dict) else presets
    out = []
    for item in items:
        name, spec = (item if isinstance(item, (tuple, list)) else (_get(item, "name"), _get(item, "spec")))
        out.append({"name": str(name), "spec": str(spec)})
    return {"presets": out}


def timeline_json(t) -> dict:
    data = _isos(_plain(t))
    if "id" not in data and "timeline_id" in data:
        data["id"] = data["timeline_id"]
    return data


def _isos(data: dict) -> dict:
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in data.items()}
