"""Re-judge recorded windows with other behaviors: the window history's values are fed through the
evaluator's engine (``evaluation.engine.evaluate``) per thing and behavior, in time order.

For a windowed behavior each recorded window's value is one datapoint at the window's start, so the
engine sums it into the behavior's own window: a behavior may use the recorded windows' length or a
multiple of it (15-minute windows from 5-minute ones), never a shorter one. A behavior reads the
windows recorded under its own name in its profile when there are some, else those of its metric in
its profile (none: its things had none, nothing to judge), else, for a profile the history does not
know, those of its metric in any profile; with a window length that divides its own. Gaps are
judged as the Lambda judges them: a cloud-side count's missing window as 0 (``stream_time.fills_empty``).
Behaviors judged per report (set metrics: ports, addresses) have no windows to re-judge and are
skipped (counted in ``counts["skipped_behaviors"]``).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detect_lab.replay.history import HistoryError, Windows, read_history
from detect_lab.replay.memory import CollectingHistory, CollectingPublisher
from detect_lab.replay.result import ReplayResult
from iot_defender_runtime.detect_evaluator.invocation import violation_message
from iot_defender_runtime.detect_evaluator.stream_time import fills_empty
from iot_defender_runtime.evaluation.engine import BehaviorState, Datapoint, evaluate, is_windowed
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior

MAX_CLOCK_SKEW_SECONDS = 60.0


def replay_history(
    source: str | Path | Sequence[str | Path] | Windows, profiles: DetectProfiles, *, progress: bool = False
) -> ReplayResult:
    """Judge the recorded windows of ``source`` (Parquet files, or ``Windows``) with ``profiles``.

    :raises HistoryError: for a file that is not the history's, or a behavior no recorded window fits
        (naming it, its metric and window length, and what the history holds).
    """
    windows = source if isinstance(source, Windows) else read_history(source)
    started = time.perf_counter()
    publisher, history, counts = CollectingPublisher(), CollectingHistory(), Counter[str]()
    judged = [b for b in profiles.behaviors if is_windowed(b.definition, b.spec)]
    counts["skipped_behaviors"] = len(profiles.behaviors) - len(judged)  # per-report metrics have no windows
    plans = [(behavior, _source_rows(windows, behavior)) for behavior in judged]
    for behavior, rows in _progress(plans, progress):
        _judge_behavior(windows, behavior, rows, publisher, history, counts)
    things = {str(t): frozenset[str]() for t in set(windows.thing)}
    span = (float(windows.end.max()) - float(windows.start.min())) if len(windows) else 0.0
    return ReplayResult(
        profiles=profiles,
        violations=publisher.messages,
        history=history,
        things=things,
        start=float(windows.start.min()) if len(windows) else 0.0,
        end=float(windows.end.max()) if len(windows) else 0.0,
        device_days=len(things) * span / 86_400,
        datapoints=counts["datapoints"],
        seconds=time.perf_counter() - started,
        counts=counts,
    )


def _source_rows(windows: Windows, behavior: ProfileBehavior) -> np.ndarray:
    """The rows ``behavior`` reads (module docstring)."""
    definition = behavior.definition
    in_profile = windows.profile == behavior.profile
    own = np.flatnonzero(in_profile & (windows.behavior == definition.name))
    if own.size:
        return own
    on_metric = windows.metric == definition.metric
    lengths = windows.end - windows.start
    scope = on_metric & in_profile if in_profile.any() else on_metric
    if not on_metric.any() or (in_profile.any() and not scope.any()):
        if on_metric.any():
            return np.flatnonzero(scope)  # the profile's things had none of it: nothing to judge
        raise HistoryError(
            f"behavior '{definition.name}': the history holds no windows of {definition.metric}; it holds "
            f"{', '.join(sorted({str(m) for m in windows.metric})) or 'none'}"
        )
    sources = sorted({(str(p), str(b)) for p, b in zip(windows.profile[scope], windows.behavior[scope], strict=True)})
    for profile, name in sources:
        rows = np.flatnonzero(scope & (windows.profile == profile) & (windows.behavior == name))
        length = int(lengths[rows[0]])
        if definition.duration_seconds and length > 0 and definition.duration_seconds % length == 0:
            return rows
    held = sorted({f"{int(n)} s" for n in lengths[scope]})
    raise HistoryError(
        f"behavior '{definition.name}' ({definition.metric}, {definition.duration_seconds} s windows): the history "
        f"holds its metric in {', '.join(held)} windows only; a behavior takes windows of its length or a divisor of it"
    )


def _judge_behavior(
    windows: Windows,
    behavior: ProfileBehavior,
    rows: np.ndarray,
    publisher: CollectingPublisher,
    history: CollectingHistory,
    counts: Counter[str],
) -> None:
    """Each thing's windows through the engine at once, in time order, settled up to its last window."""
    if rows.size == 0:
        return
    order = rows[np.lexsort((windows.start[rows], windows.thing[rows]))]
    things = windows.thing[order]
    bounds = np.flatnonzero(np.r_[True, things[1:] != things[:-1], True])
    for first, last in itertools.pairwise(bounds):
        part = order[first:last]
        thing = str(things[first])
        points = [Datapoint(float(s), float(v)) for s, v in zip(windows.start[part], windows.value[part], strict=True)]
        settled = float(windows.end[part].max())
        result = evaluate(
            thing,
            behavior.definition,
            behavior.spec,
            BehaviorState(),
            points,
            now=settled + MAX_CLOCK_SKEW_SECONDS,
            settled_until=settled,
            max_clock_skew=MAX_CLOCK_SKEW_SECONDS,
            fill_empty=fills_empty(behavior),
            known_since=points[0].timestamp,
        )
        counts["datapoints"] += len(points)
        history.record(behavior, thing, result.windows)
        for transition in result.transitions:
            if not behavior.definition.suppress_alerts:
                publisher.publish("", violation_message(behavior, thing, transition))


def _progress(
    plans: list[tuple[ProfileBehavior, np.ndarray]], on: bool
) -> Sequence[tuple[ProfileBehavior, np.ndarray]]:
    if not on:
        return plans
    try:
        from tqdm import tqdm
    except ImportError:
        return plans
    return tqdm(plans, unit="behavior", desc="replay history")  # type: ignore[return-value]
