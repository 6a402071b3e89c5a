"""Telemetry: firing-rate probes (`probes.py`, from the models side) and helpers the trainer uses.

Import is cheap (no torch)."""

from __future__ import annotations

from typing import Any


def make_firing_recorder(model: Any) -> tuple[Any | None, str | None]:
    """`(FiringRecorder(model), None)`, or `(None, reason)` when the probes are not available."""
    try:
        from spikestudio.telemetry.probes import FiringRecorder
    except ImportError as exc:
        return None, f"firing-rate probes are not available ({exc})"
    return FiringRecorder(model), None


def clean_rates(rates: Any) -> list[dict]:
    """Normalise `FiringRecorder.rates()` output to the `firing` event's layer list (rates clamped to 0..1)."""
    out = []
    for layer in rates or []:
        name = str(layer.get("name", ""))
        rate = _clamp(layer.get("rate", 0.0))
        item = {"name": name, "rate": rate}
        per_t = layer.get("per_t")
        if per_t is not None:
            item["per_t"] = [_clamp(v) for v in per_t]
        out.append(item)
    return out


def _clamp(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    if f != f:  # NaN
        return 0.0
    return min(1.0, max(0.0, f))
