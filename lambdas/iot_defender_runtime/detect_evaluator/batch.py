"""A Kinesis batch: records read one by one (a bad record fails alone), datapoints grouped per
profile and thing, every behavior judged over them, violations published, then each thing's state
written once."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from iot_defender_runtime.adapters.detect_state import ThingState, state_key
from iot_defender_runtime.detect_evaluator.connection import after_events
from iot_defender_runtime.detect_evaluator.intake import Intake
from iot_defender_runtime.detect_evaluator.invocation import (
    Invocation,
    fleet_key_of,
    is_statistical,
    percentiles_of,
    publish,
    publish_invalidated,
)
from iot_defender_runtime.detect_evaluator.learned_bands import learned_bands, learned_key
from iot_defender_runtime.detect_evaluator.observability import metrics, tracer
from iot_defender_runtime.detect_evaluator.records import ParsedRecord
from iot_defender_runtime.detect_evaluator.stream_time import (
    BatchPosition,
    Settled,
    batch_position,
    fills_empty,
    needs_stream_position,
    unique_records,
)
from iot_defender_runtime.evaluation.disconnect_duration import DISCONNECT_DURATION_METRIC
from iot_defender_runtime.evaluation.engine import Band, BehaviorState, Datapoint, Evaluation, evaluate
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior
from iot_defender_runtime.model.self_hosted_metrics import IOT_LOG_METRICS

# Powertools' BatchProcessor takes the records in one by one and reports those whose record handler
# raised in batchItemFailures. Only the intake runs per record: a thing's datapoints are judged
# together across the batch (windows, streaks, redelivery marks) and its state is written once per
# batch, so the judging runs after the processor, over the grouped datapoints, where an error
# (SNS, DynamoDB) fails the whole batch and Kinesis retries it with nothing lost. A batch of bad
# records only is reported record by record, not raised (raise_on_entire_batch_failure=False).
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@tracer.capture_method
def evaluate_batch(records: list[dict[str, Any]], now: float) -> dict[str, Any]:
    return judge_batch(Invocation.open(now), records)


def judge_batch(run: Invocation, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch with the adapters ``run`` carries (the Lambda's, or the Detect lab's in memory)."""
    intake = Intake(run.profiles)
    unique = unique_records(records)  # a record delivered twice in one batch counts once
    run.counts["redelivered"] += len(records) - len(unique)
    response: dict[str, Any] = {"batchItemFailures": []}
    if unique:
        response = dict(process_partial_response({"Records": unique}, intake, processor))
    position = batch_position(unique)
    run.counts["datapoints"] += sum(len(parsed) for parsed in intake.grouped.values())  # per profile watching
    watched = _watched(run, intake.grouped)
    unwatched = [pair for pair in intake.grouped if pair not in set(watched)]
    settled = _settled(run, position, watched)
    stored = run.states.get_many([state_key(profile, thing) for profile, thing in [*watched, *unwatched]])
    _forget_unwatched(run, unwatched, stored)
    percentiles = percentiles_of(run.states.fleet_thresholds(_statistical_keys(run.profiles, watched)))
    bands = learned_bands(run.models, _watched_behaviors(run.profiles, watched), run.now)
    for profile, thing in watched:
        before = stored.get(state_key(profile, thing), ThingState())
        _judge_thing(run, profile, thing, before, intake.grouped[(profile, thing)], (percentiles, bands), settled)
    if position is not None and position.shard:
        run.positions.record(position.shard, position.sequence, position.arrival)
    run.history.flush()
    _add_batch_metrics(run.counts)
    return response


def _settled(run: Invocation, position: BatchPosition | None, watched: list[tuple[str, str]]) -> Settled:
    """Windows ending by these times are judged (``stream_time``): the batch's own shard position for
    metrics from topic rules; the earliest open shard's for metrics from AWS IoT logs."""
    skew = run.config.max_clock_skew_seconds
    own = min(position.arrival, run.now) if position is not None else run.now
    stream = own
    if position is not None and needs_stream_position(_watched_behaviors(run.profiles, watched)):
        stream = run.positions.load().position(position.shard, own)
    return Settled(thing=own - skew, stream=stream - skew)


def _watched(run: Invocation, grouped: Mapping[tuple[str, str], list[ParsedRecord]]) -> list[tuple[str, str]]:
    """The (profile, thing) pairs whose profile targets the thing."""
    max_age = run.config.membership_cache_seconds
    watched = [
        (profile, thing)
        for profile, thing in grouped
        if run.watches(run.profiles.by_profile[profile][0].targets, thing, run.now, max_age)
    ]
    if len(watched) < len(grouped):
        metrics.add_metric(name="UnwatchedThings", unit=MetricUnit.Count, value=len(grouped) - len(watched))
    return watched


def _forget_unwatched(run: Invocation, unwatched: list[tuple[str, str]], stored: Mapping[str, ThingState]) -> None:
    """A thing its profile no longer targets (it left the group, or the targets changed) but that has a
    state: its alarms get ``alarm-invalidated`` and its state is dropped, so the sweep does not go on
    judging it (its empty windows would look like silence)."""
    for profile, thing in unwatched:
        key = state_key(profile, thing)
        if key not in stored:
            continue
        publish_invalidated(run, profile, thing, stored[key].behaviors, "no longer targeted")
        run.states.delete(key, stored[key].version)
        run.counts["untargeted"] += 1


def _statistical_keys(profiles: DetectProfiles, watched: list[tuple[str, str]]) -> list[str]:
    """The fleet keys of the statistical behaviors of the watched profiles."""
    return list({fleet_key_of(b) for profile, _ in watched for b in profiles.by_profile[profile] if is_statistical(b)})


def _watched_behaviors(profiles: DetectProfiles, watched: list[tuple[str, str]]) -> list[ProfileBehavior]:
    """The behaviors of the profiles that watch a thing of this batch."""
    return [b for profile in {p for p, _ in watched} for b in profiles.by_profile[profile]]


Fresh = dict[str, list[tuple[str | None, Datapoint]]]  # metric -> (topic, datapoint) not counted before


def _fresh_datapoints(
    records: list[ParsedRecord], before: ThingState, counts: Counter[str]
) -> tuple[Fresh, dict[str, int]]:
    """The datapoints not counted before, by metric with their topic, and the shard marks once they are counted."""
    marks = dict(before.marks)
    fresh: Fresh = defaultdict(list)
    for parsed in records:
        if parsed.sequence <= before.marks.get(parsed.shard, -1):
            counts["redelivered"] += 1
            continue
        fresh[parsed.metric].append((parsed.topic, parsed.datapoint))
        marks[parsed.shard] = max(marks.get(parsed.shard, -1), parsed.sequence)
    return fresh, marks


def _datapoints_of(behavior: ProfileBehavior, fresh: Fresh, disconnects: list[Datapoint]) -> list[Datapoint]:
    """The behavior's datapoints: those of its metric, within its dimension's topics when it has one."""
    if behavior.definition.metric == DISCONNECT_DURATION_METRIC:
        return disconnects
    scope = behavior.topic_filter
    return [point for topic, point in fresh.get(behavior.definition.metric, ()) if scope is None or scope(topic)]


def _judge_thing(
    run: Invocation,
    profile: str,
    thing: str,
    before: ThingState,
    records: list[ParsedRecord],
    thresholds: tuple[dict[str, dict[float, float]], dict[str, Band]],
    settled: Settled,
) -> None:
    """Every behavior of the profile over the thing's fresh datapoints and the windows settled by now;
    violations published, then the state written once if anything changed."""
    percentiles, bands = thresholds  # statistical behaviors' fleet percentiles, learned behaviors' bands
    settled = _for_thing(settled, records)
    fresh, marks = _fresh_datapoints(records, before, run.counts)
    lifecycle = [point for _, point in fresh.get(DISCONNECT_DURATION_METRIC, ())]
    connection, disconnects = after_events(before.connection, lifecycle)
    after, changed = dict(before.behaviors), connection != before.connection
    first = min((point.timestamp for points in fresh.values() for _, point in points), default=None)
    for behavior in run.profiles.by_profile[profile]:
        name = behavior.definition.name
        result = evaluate(
            thing,
            behavior.definition,
            behavior.spec,
            before.of(name),
            _datapoints_of(behavior, fresh, disconnects),
            now=run.now,
            settled_until=settled.for_behavior(behavior),
            max_clock_skew=run.config.max_clock_skew_seconds,
            fill_empty=fills_empty(behavior),  # the thing reports: it is not silent
            known_since=first,
            fleet=percentiles.get(fleet_key_of(behavior)),
            band=bands.get(learned_key(behavior)),
            profile=profile,
        )
        publish(run, behavior, thing, result)
        after[name], changed = result.state, changed or result.changed
        _count_dropped(run.counts, result)
    if changed or _activity_gone_stale(before, after, run.config.silence_seconds):
        run.states.put(state_key(profile, thing), after, before.version, marks, connection)
        run.counts["writes"] += 1


def _for_thing(settled: Settled, records: list[ParsedRecord]) -> Settled:
    """The batch's own shard position tells a thing's stream time only on the thing's own shard, where
    the topic rules put its records. A thing that comes in this batch through AWS IoT log entries alone
    (CloudWatch Logs records land on any shard) has its other records on another shard, which may lag:
    every window of it is judged by the earliest open shard's position then."""
    if any(record.metric not in IOT_LOG_METRICS for record in records):
        return settled
    return Settled(thing=settled.stream, stream=settled.stream)


def _activity_gone_stale(before: ThingState, after: Mapping[str, BehaviorState], silence: float) -> bool:
    """Whether the stored last datapoint time lags the thing's by a quarter of the silence period: a
    steady normal thing writes nothing, but the sweep reads that time to tell a silent thing, so it is
    refreshed a few times per silence period (at most 4 writes per thing in 2 days)."""
    stored = max((s.last_datapoint_at for s in before.behaviors.values() if s.last_datapoint_at), default=None)
    latest = max((s.last_datapoint_at for s in after.values() if s.last_datapoint_at), default=None)
    return latest is not None and (stored is None or latest - stored >= silence / 4)


def _count_dropped(counts: Counter[str], result: Evaluation) -> None:
    """The engine's counters: datapoints dropped (late, from the future, seen before) and windows closed
    without a fleet threshold."""
    counts["late"] += result.late
    counts["future"] += result.future
    counts["redelivered"] += result.duplicates
    counts["unjudged"] += result.unjudged


# Metric name, counter; StateWrites is published every batch, the others when not zero.
_BATCH_METRICS = (
    ("RedeliveredDatapoints", "redelivered"),
    ("LateDatapoints", "late"),
    ("FutureDatapoints", "future"),
    ("WindowsWithoutFleetThreshold", "unjudged"),
)


def _add_batch_metrics(counts: Counter[str]) -> None:
    metrics.add_metric(name="StateWrites", unit=MetricUnit.Count, value=counts["writes"])
    for name, counter in _BATCH_METRICS:
        if counts[counter]:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts[counter])
