"""The lab's charts, as PNG files: per behavior the value distribution with today's and the proposed
threshold and the trade-off curve of the tuner's candidates; per run the fleet's alarm timeline with the
injected attacks marked.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
state), so charts can be drawn from any thread or process without a window system.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from detect_lab.report.model import BehaviorView, Panel, Threshold, Timeline

NORMAL, ATTACK, TODAY, PROPOSED = "#4c78a8", "#e45756", "#9d755d", "#54a24b"
MISSED = "#bab0ac"
MAX_TIMELINE_ROWS = 60  # things drawn on a timeline; attacked things first
MAX_CATEGORIES = 20  # values of a set metric drawn on its chart
DPI = 100


def slug(text: str) -> str:
    """A file-name-safe form of a behavior name (``aws:num-messages-sent`` -> ``aws-num-messages-sent``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-") or "behavior"


def _figure(panels: int, height: float = 3.2) -> tuple[Figure, list]:
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.6 * columns, height * rows), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for unused in axes[panels:]:
        unused.set_visible(False)
    return figure, axes[:panels]


def _wide_range(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and len(positive) == len(values) and max(positive) / min(positive) > 1000


def _mark(axis, threshold: Threshold | None, color: str, style: str, name: str) -> None:
    if threshold is not None and threshold.value is not None:
        axis.axvline(threshold.value, color=color, linestyle=style, linewidth=1.6, label=f"{name}: {threshold.label}")


def _numeric_panel(axis, panel: Panel) -> None:
    values = [*panel.normal_values, *panel.attack_values]
    marks = [t.value for t in (panel.today, panel.proposed) if t is not None and t.value is not None]
    log = _wide_range([*values, *marks])
    low, high = min([*values, *marks]), max([*values, *marks])
    if log:
        bins = [low * (high / low) ** (i / 40) for i in range(41)]
        axis.set_xscale("log")
    else:
        bins = 40 if high > low else 1
    if panel.normal_values:
        axis.hist(panel.normal_values, bins=bins, color=NORMAL, alpha=0.8, label="normal devices")
    if panel.attack_values:
        axis.hist(panel.attack_values, bins=bins, color=ATTACK, alpha=0.7, label="during attacks")
    axis.set_yscale("log")
    axis.set_ylabel("values")
    _mark(axis, panel.today, TODAY, "--", "today")
    _mark(axis, panel.proposed, PROPOSED, "-", "proposed")


def _category_panel(axis, panel: Panel) -> None:
    """A set metric: how often each value was seen on normal devices and in attacks; the values the
    proposed behavior allows are marked."""
    shown = sorted(panel.categories, key=lambda c: -(c[1] + c[2]))[:MAX_CATEGORIES]
    allowed = set(panel.proposed.allowed) if panel.proposed is not None else set()
    names = [f"{value}{' (allowed)' if value in allowed else ''}" for value, _, _ in shown]
    rows = range(len(shown))
    axis.barh(rows, [normal for _, normal, _ in shown], color=NORMAL, label="normal devices")
    axis.barh(rows, [attack for _, _, attack in shown], left=[n for _, n, _ in shown], color=ATTACK, label="attacks")
    axis.set_yticks(list(rows), names, fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("symlog")
    axis.set_xlabel("datapoints with the value")


def draw_distribution(view: BehaviorView, path: Path) -> Path | None:
    """The behavior's values per profile (normal devices and attacks) with today's and the proposed
    threshold; None when no profile has values to draw."""
    panels = [p for p in view.panels if p.normal_values or p.attack_values or p.categories]
    if not panels:
        return None
    figure, axes = _figure(len(panels))
    for axis, panel in zip(axes, panels, strict=True):
        if panel.categories:
            _category_panel(axis, panel)
        else:
            _numeric_panel(axis, panel)
        axis.set_title(f"{panel.profile}", fontsize=9)
        axis.legend(fontsize=7, loc="best")
    figure.suptitle(f"{view.name} ({view.metric}): value distribution", fontsize=10)
    figure.savefig(path)
    return path


def draw_tradeoff(view: BehaviorView, target: float, path: Path) -> Path | None:
    """Per profile, false alarms per 1,000 device-days (left, log) and the share of attacks detected
    (right) against the threshold, one line per ``consecutiveDatapointsToAlarm``; the proposed
    behavior and the target are marked. None when no profile has candidates."""
    panels = [p for p in view.panels if p.tradeoff]
    if not panels:
        return None
    figure, axes = _figure(len(panels), height=3.4)
    for axis, panel in zip(axes, panels, strict=True):
        _tradeoff_panel(axis, panel, target)
    figure.suptitle(f"{view.name} ({view.metric}): threshold trade-off", fontsize=10)
    figure.savefig(path)
    return path


def _tradeoff_panel(axis, panel: Panel, target: float) -> None:
    detected_axis = axis.twinx()
    floor = target / 10  # zero false alarms drawn just under the target on the log axis
    for consecutive in sorted({p.consecutive for p in panel.tradeoff}):
        points = sorted((p for p in panel.tradeoff if p.consecutive == consecutive), key=lambda p: p.threshold)
        thresholds = [p.threshold for p in points]
        rates = [max(p.false_alarms_per_1000_device_days, floor) for p in points]
        line = axis.plot(thresholds, rates, marker=".", linewidth=1.2, label=f"{consecutive} window(s)")[0]
        if any(p.attacks for p in points):
            shares = [p.detected / p.attacks if p.attacks else math.nan for p in points]
            detected_axis.plot(thresholds, shares, linestyle=":", color=line.get_color(), linewidth=1.2)
    axis.axhline(target, color="black", linestyle="--", linewidth=0.8, label=f"target {target:g}")
    if panel.proposed is not None and panel.proposed.value is not None:
        axis.axvline(panel.proposed.value, color=PROPOSED, linewidth=1.6, label=f"proposed: {panel.proposed.label}")
    if _wide_range([p.threshold for p in panel.tradeoff]):
        axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("threshold")
    axis.set_ylabel("false alarms / 1,000 device-days (solid)")
    detected_axis.set_ylim(0, 1.05)
    detected_axis.set_ylabel("attacks detected (dotted)")
    axis.set_title(panel.profile, fontsize=9)
    axis.legend(fontsize=7, loc="upper right")


def _timeline_rows(timeline: Timeline) -> tuple[list[str], int]:
    """Things to draw: attacked ones first, then those with the most alarms; and how many were left out."""
    alarms: dict[str, int] = {}
    for span in timeline.alarms:
        alarms[span.thing] = alarms.get(span.thing, 0) + 1
    attacked = sorted({a.thing for a in timeline.attacks})
    others = sorted((t for t in alarms if t not in set(attacked)), key=lambda t: (-alarms[t], t))
    everything = attacked + others
    return everything[:MAX_TIMELINE_ROWS], max(0, len(everything) - MAX_TIMELINE_ROWS)


def draw_timeline(timeline: Timeline, path: Path) -> Path:
    """Hours since the run's start across, things down: each injected attack a band (coloured when a
    behavior detected it, grey when missed), each alarm a bar coloured by behavior."""
    rows, hidden = _timeline_rows(timeline)
    index = {thing: i for i, thing in enumerate(rows)}
    figure = Figure(figsize=(11, max(2.5, 0.6 + 0.16 * len(rows))), dpi=DPI, layout="constrained")
    axis = figure.subplots()
    hours = (timeline.end - timeline.start) / 3600

    def at(t: float) -> float:
        return (t - timeline.start) / 3600

    for attack in timeline.attacks:
        if attack.thing in index:
            color = ATTACK if attack.detected else MISSED
            axis.barh(
                index[attack.thing],
                at(attack.end) - at(attack.start),
                left=at(attack.start),
                height=0.9,
                color=color,
                alpha=0.35,
                linewidth=0,
            )
    colors = _behavior_colors(sorted({span.behavior for span in timeline.alarms}))
    for span in timeline.alarms:
        if span.thing in index:
            end = at(span.end) if span.end is not None else hours
            axis.barh(
                index[span.thing],
                max(end - at(span.start), hours / 400),
                left=at(span.start),
                height=0.45,
                color=colors[span.behavior],
            )
    _timeline_legend(axis, colors)
    axis.set_yticks(range(len(rows)), rows, fontsize=6)
    axis.set_ylim(len(rows) - 0.5, -0.5)
    axis.set_xlim(0, hours)
    axis.set_xlabel("hours since the start of the run" + (f"  ({hidden} more things not drawn)" if hidden else ""))
    axis.set_title(timeline.title, fontsize=10)
    figure.savefig(path)
    return path


def _behavior_colors(behaviors: Sequence[str]) -> dict[str, str]:
    palette = ["#4c78a8", "#f58518", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#eeca3b", "#54a24b"]
    return {name: palette[i % len(palette)] for i, name in enumerate(behaviors)}


def _timeline_legend(axis, colors: dict[str, str]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=ATTACK, alpha=0.35, label="attack (detected)"),
        Patch(color=MISSED, alpha=0.35, label="attack (missed)"),
    ]
    handles += [Patch(color=color, label=f"alarm: {name}") for name, color in colors.items()]
    axis.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
