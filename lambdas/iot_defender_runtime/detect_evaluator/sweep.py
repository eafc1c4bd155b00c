"""The scheduled sweep: what needs no datapoint, over every thing's state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.adapters.detect_state import StateConflictError, ThingState, parse_state_key
from iot_defender_runtime.adapters.function_invoke import AsyncInvoker
from iot_defender_runtime.adapters.stream_positions import ShardProbe, probe_stream
from iot_defender_runtime.adapters.table_reads import item_count
from iot_defender_runtime.detect_evaluator.connection import while_disconnected
from iot_defender_runtime.detect_evaluator.invocation import (
    Invocation,
    behavior_names,
    fleet_key_of,
    is_statistical,
    percentiles_of,
    publish,
    publish_invalidated,
)
from iot_defender_runtime.detect_evaluator.learned_bands import learned_bands, learned_key
from iot_defender_runtime.detect_evaluator.observability import logger, metrics, tracer
from iot_defender_runtime.detect_evaluator.stream_time import fills_empty
from iot_defender_runtime.detect_evaluator.sweep_segments import WHOLE, Segment, layout, plan, segment_of, segments_for
from iot_defender_runtime.evaluation.disconnect_duration import DISCONNECT_DURATION_METRIC
from iot_defender_runtime.evaluation.engine import (
    RECENT_WINDOWS,
    Band,
    BehaviorState,
    Evaluation,
    check_silence,
    evaluate,
)
from iot_defender_runtime.evaluation.fleet import (
    FleetPart,
    WindowSketch,
    latest,
    merge_parts,
    part_from_document,
    part_to_document,
    thresholds_of,
)
from iot_defender_runtime.model.detect_profiles import ProfileBehavior


@tracer.capture_method
def sweep(now: float) -> dict[str, Any]:
    """What needs no datapoint, over every thing's state:

    - a window that has settled (``stream_time``: the stream has been read past its end plus
      ``MAX_CLOCK_SKEW_SECONDS``) is judged, so a thing that goes quiet after a burst still raises
      its alarm, and settled windows of cloud-side counts with no datapoint are judged as 0 for a
      thing that still reports;
    - an alarm of a thing that reported nothing for ``SILENCE_SECONDS`` is invalidated;
    - each statistical behavior's fleet percentiles are computed from the things' closed windows;
    - the state of a behavior (or profile) no longer configured is dropped, and its alarm gets
      ``alarm-invalidated``, as managed Detect does when a behavior is deleted;
    - a thing silent for ``SILENCE_SECONDS`` with nothing left to judge is forgotten (its item deleted).

    A state the evaluator changed meanwhile is left for the next sweep. This is one run over every
    state; ``sweep_event`` spreads a large fleet over parallel segments (``sweep_segments``).
    """
    return sweep_states(Invocation.open(now))


@tracer.capture_method
def sweep_event(event: dict[str, Any], now: float, function_arn: str) -> dict[str, Any]:
    """The schedule's event coordinates (``coordinate``); a segment event sweeps its segment."""
    run = Invocation.open(now)
    if "segment" in event:
        return sweep_states(run, segment_of(event))
    chosen = layout()
    total = 1
    if chosen.max_segments > 1:
        total = segments_for(item_count(client("dynamodb"), run.config.state_table_name), chosen)
    return coordinate(run, total, AsyncInvoker(function_arn))


def coordinate(run: Invocation, total: int, invoke: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """One segment: the whole sweep in this run. More: the stream position read once, then one
    asynchronous run per segment, all judging by that position."""
    if total == 1:
        return sweep_states(run)
    segments = plan(total, f"{total}@{run.now:.3f}", stream_settled(run))
    for segment in segments:
        invoke(segment.to_event())
    metrics.add_metric(name="SweepSegments", unit=MetricUnit.Count, value=total)
    return {"segments": total, "sweepId": segments[0].sweep_id}


# Statistical behaviors' fleet percentiles by fleet key, learned behaviors' bands by model key.
Thresholds = tuple[dict[str, dict[float, float]], dict[str, Band]]


def sweep_states(run: Invocation, segment: Segment = WHOLE) -> dict[str, Any]:
    """The sweep of one segment (every state by default) with the adapters ``run`` carries (the
    Lambda's, or the Detect lab's in memory)."""
    settled = stream_settled(run) if segment.settled is None else segment.settled
    statistical = [b for b in run.profiles.behaviors if is_statistical(b)]
    fleet = run.states.fleet_thresholds([fleet_key_of(b) for b in statistical])
    thresholds = (percentiles_of(fleet), learned_bands(run.models, run.profiles.behaviors, run.now))
    sketches: dict[str, FleetPart] = defaultdict(dict)
    for key, stored in run.states.scan(segment.index, segment.total):
        run.counts["swept"] += 1
        after = _sweep_thing(run, key, stored, thresholds, settled)
        if after is None:
            continue  # left for the next sweep
        _fold_closed(run, key, after, sketches)
    if statistical:
        _update_fleet_thresholds(run, segment, statistical, sketches, fleet)
    run.history.flush()
    names = ("invalidated", "windows_judged", "conflicts", "retired", "forgotten", "swept")
    return {name: run.counts[name] for name in names}


def _fold_closed(run: Invocation, key: str, after: Mapping[str, BehaviorState], sketches: dict[str, FleetPart]) -> None:
    """The thing's closed windows of each statistical behavior, into this segment's sketches."""
    for behavior in run.profiles.by_profile.get(parse_state_key(key)[0], ()):
        if is_statistical(behavior) and behavior.definition.name in after:
            part = sketches[fleet_key_of(behavior)]
            for start, value in after[behavior.definition.name].closed:
                part.setdefault(start, WindowSketch()).add(value)


def stream_settled(run: Invocation) -> float:
    """Windows ending by this time are judged: the stream's position (the arrival of the first record
    not yet counted on any open shard, or now) less the clock skew. Without the stream's ARN, or when
    the stream cannot be listed, the positions the batches recorded."""
    store = run.positions
    known = store.load()
    position = known.position("", run.now)
    if run.config.stream_arn:
        try:
            probe = ShardProbe(run.config.stream_arn)
            position, caught_up = probe_stream(probe, store.load(probe.open_shards()), run.now)
            store.save_caught_up(caught_up)
        except (BotoCoreError, ClientError) as error:
            logger.warning("stream positions not read; using those recorded", extra={"reason": str(error)})
    return min(position, run.now) - run.config.max_clock_skew_seconds


def _sweep_thing(
    run: Invocation,
    key: str,
    stored: ThingState,
    thresholds: Thresholds,
    settled: float,
) -> dict[str, BehaviorState] | None:
    """One thing's state after the sweep, written (with its violations published) if it changed;
    None when the evaluator changed it meanwhile."""
    profile, thing = parse_state_key(key)
    configured = run.profiles.by_profile.get(profile, ())
    names = behavior_names(configured)
    retired = {name: state for name, state in stored.behaviors.items() if name not in names}
    after = {name: state for name, state in stored.behaviors.items() if name in names}
    changed, results = bool(retired), []
    last_activity = _last_activity(stored, names_of_metric(configured, DISCONNECT_DURATION_METRIC))
    for behavior in configured:
        state = stored.of(behavior.definition.name)
        if behavior.definition.metric == DISCONNECT_DURATION_METRIC:
            result = _sweep_disconnected(run, thing, behavior, state, stored)
        else:
            result = _sweep_behavior(run, thing, behavior, state, thresholds, settled, last_activity)
        after[behavior.definition.name], changed = result.state, changed or result.changed
        results.append((behavior, result))
    if not changed:
        if _forgotten(run, stored, after, last_activity):
            run.counts["forgotten"] += 1
            return {} if _write_swept(run, key, stored, {}) else None
        return after
    for behavior, result in results:
        publish(run, behavior, thing, result)
    _publish_retired(run, profile, thing, retired)
    return after if _write_swept(run, key, stored, after) else None


def names_of_metric(behaviors: tuple[ProfileBehavior, ...], metric: str) -> frozenset[str]:
    return frozenset(b.definition.name for b in behaviors if b.definition.metric == metric)


def _last_activity(stored: ThingState, sweep_fed: frozenset[str]) -> float | None:
    """The thing's last datapoint of any metric it reports: the datapoints the sweep itself takes
    (``aws:disconnect-duration`` while disconnected) are not the thing's; its last lifecycle event is."""
    times = [
        s.last_datapoint_at for name, s in stored.behaviors.items() if s.last_datapoint_at and name not in sweep_fed
    ]
    if stored.connection is not None:
        times.append(stored.connection.timestamp)
    return max(times, default=None)


def _forgotten(
    run: Invocation, stored: ThingState, after: dict[str, BehaviorState], last_activity: float | None
) -> bool:
    """A thing silent for ``SILENCE_SECONDS`` with nothing left to judge (no alarm, no open window, no
    streak, not disconnected) is forgotten: its item is deleted, so the table and the sweep's scan do
    not grow with every client id ever seen. It starts afresh if it reports again."""
    if last_activity is None or run.now - last_activity < run.config.silence_seconds:
        return False
    if stored.connection is not None and not stored.connection.connected:
        return False
    return all(not s.in_alarm and not s.open_windows and not s.violating_streak for s in after.values())


def _sweep_disconnected(
    run: Invocation, thing: str, behavior: ProfileBehavior, state: BehaviorState, stored: ThingState
) -> Evaluation:
    """``aws:disconnect-duration``: a datapoint for a thing known to be disconnected (a disconnected thing
    reports nothing by definition, so silence does not invalidate this alarm while it lasts); for a
    connected thing, the silence check from its last connect."""
    points = while_disconnected(stored.connection, run.now)
    if not points:
        last = stored.connection.timestamp if stored.connection else None
        result = check_silence(
            thing,
            behavior.definition,
            state,
            now=run.now,
            silence_seconds=run.config.silence_seconds,
            last_activity=last,
        )
        run.counts["invalidated"] += len(result.transitions)
        return result
    result = evaluate(thing, behavior.definition, behavior.spec, state, points, now=run.now, profile=behavior.profile)
    if not result.transitions and replace(result.state, last_datapoint_at=state.last_datapoint_at) == state:
        return Evaluation(state=state)  # the same judgement as last sweep: nothing to write
    return result


def _sweep_behavior(
    run: Invocation,
    thing: str,
    behavior: ProfileBehavior,
    state: BehaviorState,
    thresholds: Thresholds,
    settled: float,
    last_activity: float | None,
) -> Evaluation:
    """The silence check (from the thing's last datapoint of any metric), else the judgement of the
    windows that settled; empty ones as 0 for a cloud-side count while the thing is not silent."""
    silence = run.config.silence_seconds
    result = check_silence(
        thing, behavior.definition, state, now=run.now, silence_seconds=silence, last_activity=last_activity
    )
    if result.transitions:
        run.counts["invalidated"] += 1
        return result
    silent = last_activity is None or run.now - last_activity >= silence
    if not state.open_windows and (silent or not fills_empty(behavior)):
        return result
    result = evaluate(
        thing,
        behavior.definition,
        behavior.spec,
        state,
        [],
        now=run.now,
        settled_until=settled,
        max_clock_skew=run.config.max_clock_skew_seconds,
        fill_empty=fills_empty(behavior) and not silent,
        fleet=thresholds[0].get(fleet_key_of(behavior)),
        band=thresholds[1].get(learned_key(behavior)),
        profile=behavior.profile,
    )
    run.counts["windows_judged"] += result.judged + result.unjudged
    return result


def _publish_retired(run: Invocation, profile: str, thing: str, retired: Mapping[str, BehaviorState]) -> None:
    """``alarm-invalidated`` for each alarm of a behavior no longer configured."""
    run.counts["retired"] += len(retired)
    publish_invalidated(run, profile, thing, retired, "no longer configured")


def _write_swept(run: Invocation, key: str, stored: ThingState, after: dict[str, BehaviorState]) -> bool:
    """Write (or delete, when no behavior is left) the swept state; False if another writer was first."""
    try:
        if after:
            run.states.put(key, after, stored.version, stored.marks, stored.connection)
        else:
            run.states.delete(key, stored.version)
    except StateConflictError:
        # The evaluator judged this thing meanwhile, from the same windows: it publishes the same
        # violations (same violationId) unless datapoints older than the clock skew arrived.
        run.counts["conflicts"] += 1
        return False
    return True


# Window starts a part keeps: the RECENT_WINDOWS latest settled ones, and room for windows closed but
# not yet settled for the merger's clock (at most clock skew / duration + 1 of them).
PART_WINDOWS = RECENT_WINDOWS + 4


def _update_fleet_thresholds(
    run: Invocation,
    segment: Segment,
    statistical: list[ProfileBehavior],
    sketches: Mapping[str, FleetPart],
    fleet: Mapping[str, dict[float, tuple[float, int]]],
) -> None:
    """Each statistical behavior's fleet percentiles of the settled windows, written when they changed.
    Alone, a run takes them from its own sketches; a segment keeps its part, and the last segment of the
    sweep to finish merges every part (``evaluation.fleet.merge_parts``)."""
    parts = {fleet_key_of(b): latest(sketches.get(fleet_key_of(b), {}), PART_WINDOWS) for b in statistical}
    if segment.total > 1:
        for key, part in parts.items():
            run.states.put_fleet_part(key, segment.index, segment.total, part_to_document(part))
        if run.states.finish_segment(segment.sweep_id, segment.index, run.now) < segment.total:
            return
        parts = {
            key: merge_parts(part_from_document(kept) for kept in run.states.fleet_parts(key, segment.total))
            for key in parts
        }
    for behavior in statistical:
        assert behavior.definition.statistic is not None and behavior.definition.duration_seconds is not None
        thresholds = thresholds_of(
            parts[fleet_key_of(behavior)],
            behavior.definition.statistic,
            duration_seconds=behavior.definition.duration_seconds,
            now=run.now,
            settle_seconds=run.config.max_clock_skew_seconds,
        )
        if thresholds and thresholds != fleet.get(fleet_key_of(behavior)):
            run.states.put_fleet_thresholds(fleet_key_of(behavior), thresholds)
