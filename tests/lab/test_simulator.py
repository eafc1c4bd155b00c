"""The fleet simulator: deterministic, read whole by the real evaluator intake, agent reports in both
name forms shaped as the official examples, daily and weekly patterns, Kinesis delivery as Lambda
sees it, and each attack abnormal in its labelled metrics, on its thing, in its window, and nowhere else."""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from detect_lab.simulator import (
    DEFAULT_START,
    AttackKind,
    AttackLabel,
    AttackPlan,
    FleetSpec,
    read_labels,
    read_records,
    simulate,
    write_records,
)
from iot_defender_runtime.detect_evaluator.intake import Intake
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.metric_catalog import AWS_METRICS, DurationRule, ValueKind
from iot_defender_runtime.model.self_hosted_metrics import SUPPORTED_METRICS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agent_reports"
FRIDAY = DEFAULT_START + 4 * 86_400
SPEC = FleetSpec(things=24, days=3.0, seed=11, start=FRIDAY, shards=3, attacks=AttackPlan(per_kind=2))


def _behavior(spec: Any) -> BehaviorDefinition:
    """A rule behavior on the metric, so that the intake checks every datapoint of it by its kind."""
    values = {
        ValueKind.COUNT: ("less-than-equals", {"count": 10**12}),
        ValueKind.CIDRS: ("in-cidr-set", {"cidrs": ["0.0.0.0/0"]}),
        ValueKind.PORTS: ("in-port-set", {"ports": [22]}),
    }
    operator, value = values[spec.value_kind]
    return BehaviorDefinition(
        name=spec.name.removeprefix("aws:").replace("-", "_"),
        metric=spec.name,
        kind=BehaviorKind.RULE,
        comparison_operator=operator,
        value=value,
        duration_seconds=None if spec.duration is DurationRule.NONE else 300,
    )


@pytest.fixture(scope="module")
def fleet():
    return simulate(SPEC)


@pytest.fixture(scope="module")
def batches(fleet):
    return list(fleet.batches())


@pytest.fixture(scope="module")
def intake(batches):
    """Every record through the evaluator's own record handler, with a behavior on every ingested metric."""
    behaviors = [_behavior(spec) for spec in AWS_METRICS if spec.name in SUPPORTED_METRICS]
    profiles = DetectProfiles.from_json(
        json.dumps({"profiles": [{"name": "lab", "behaviors": [b.to_api() for b in behaviors]}]})
    )
    handler = Intake(profiles)
    for batch in batches:
        for record in batch.records:
            handler(KinesisStreamRecord(record))
    return handler


@pytest.fixture(scope="module")
def datapoints(intake):
    """(thing, metric) -> [(time, value)] in time order."""
    found: dict[tuple[str, str], list[tuple[float, Any]]] = defaultdict(list)
    for (_, thing), parsed in intake.grouped.items():
        for record in parsed:
            found[(thing, record.metric)].append((record.datapoint.timestamp, record.datapoint.value))
    for series in found.values():
        series.sort(key=lambda pair: pair[0])
    return found


def bodies(batches) -> list[dict[str, Any]]:
    """The JSON records' bodies (not the CloudWatch Logs ones)."""
    raw = (base64.b64decode(r["kinesis"]["data"]) for b in batches for r in b.records)
    return [json.loads(data) for data in raw if not data.startswith(b"\x1f\x8b")]


@pytest.fixture(scope="module")
def reports(batches) -> dict[str, list[dict[str, Any]]]:
    """The first 50 agent reports of each name form."""
    found: dict[str, list[dict[str, Any]]] = {"header": [], "hed": []}
    for record in (r for b in batches for r in b.records):
        data = base64.b64decode(record["kinesis"]["data"])
        body = {} if data.startswith(b"\x1f\x8b") else json.loads(data)
        for marker, kept in found.items():
            if marker in body and len(kept) < 50:
                kept.append(body)
        if all(len(kept) == 50 for kept in found.values()):
            break
    return found


def test_the_same_spec_gives_byte_identical_records_and_another_seed_others():
    spec = FleetSpec(things=6, days=0.2, seed=5, attacks=AttackPlan(per_kind=1))
    first = [json.dumps(r) for r in simulate(spec).records()]
    assert first == [json.dumps(r) for r in simulate(spec).records()]
    other = FleetSpec(things=6, days=0.2, seed=6, attacks=AttackPlan(per_kind=1))
    assert first != [json.dumps(r) for r in simulate(other).records()]


def test_a_things_records_do_not_depend_on_the_size_of_the_fleet():
    small, large = (simulate(FleetSpec(things=n, days=0.25, seed=3)) for n in (3, 30))
    assert large.things[:3] == small.things

    def of_thing(fleet, name):
        return [
            (r["kinesis"]["approximateArrivalTimestamp"], r["kinesis"]["data"])
            for r in fleet.records()
            if r["kinesis"]["partitionKey"] == name
        ]

    for thing in small.things:
        assert of_thing(small, thing.name) == of_thing(large, thing.name) != []


def test_every_record_is_accepted_by_the_evaluator_intake_and_gives_every_ingested_metric(intake, fleet, datapoints):
    metrics = {metric for (_, metric) in datapoints}
    assert metrics == set(SUPPORTED_METRICS)
    assert {thing for (thing, _) in datapoints} == {t.name for t in fleet.things}


def test_records_per_thing_day_stay_within_the_replay_budget(batches, fleet):
    records = sum(len(b.records) for b in batches)
    assert 300 <= records / fleet.device_days <= 650


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else "str"


@pytest.mark.parametrize(("marker", "fixture"), [("header", "guide_long.json"), ("hed", "guide_short.json")])
def test_agent_reports_come_in_both_name_forms_shaped_as_the_guides_examples(reports, marker, fixture):
    assert len(reports[marker]) == 50
    official = json.loads((FIXTURES / fixture).read_text())
    for report in map(dict, reports[marker]):
        assert isinstance(report.pop("thingName"), str) and isinstance(report.pop("receivedAt"), int)
        assert _shape(report) == _shape(official)


def test_reports_come_every_five_minutes_from_a_connected_thing(datapoints, fleet):
    thing = fleet.things[0].name
    times = [t for t, _ in datapoints[(thing, "aws:all-bytes-out")]]
    gaps = Counter(round((b - a) / 300) for a, b in itertools.pairwise(times))
    assert gaps[1] > 0.9 * sum(gaps.values())
    assert all(abs((b - a) % 300) < 5 or abs((b - a) % 300) > 295 for a, b in itertools.pairwise(times))


def _messages_per_thing_hour(datapoints, fleet, device_class: str, hours: range, days: list[int]) -> float:
    stormed = {x.thing for x in fleet.labels if x.kind is AttackKind.MESSAGE_STORM}
    things = [t.name for t in fleet.things if t.device_class.name == device_class and t.name not in stormed]
    count = 0
    for name in things:
        for t, _ in datapoints[(name, "aws:num-messages-sent")]:
            day, hour = int((t - FRIDAY) // 86_400), int(t % 86_400 // 3600)
            count += day in days and hour in hours
    return count / (len(things) * len(hours) * len(days))


def test_the_daily_and_weekly_patterns_show(datapoints, fleet):
    friday, weekend = [0], [1, 2]
    office = range(9, 17)
    gateway_weekday = _messages_per_thing_hour(datapoints, fleet, "gateway", office, friday)
    assert gateway_weekday > 2 * _messages_per_thing_hour(datapoints, fleet, "gateway", office, weekend)
    evening = range(17, 23)
    camera_weekend = _messages_per_thing_hour(datapoints, fleet, "camera", evening, weekend)
    assert camera_weekend > 1.2 * _messages_per_thing_hour(datapoints, fleet, "camera", evening, friday)
    sensor_day = _messages_per_thing_hour(datapoints, fleet, "sensor", range(8, 18), [0, 1, 2])
    assert sensor_day > 1.5 * _messages_per_thing_hour(datapoints, fleet, "sensor", range(0, 5), [0, 1, 2])


def test_records_reach_their_shard_in_order_a_little_after_their_time(batches, fleet):
    last: dict[str, int] = {}
    previous_arrival = 0.0
    seen_minutes = Counter()
    for batch in batches:
        assert batch.arrival >= previous_arrival
        previous_arrival = batch.arrival
        seen_minutes[(batch.shard, int(batch.arrival // 60))] += 1
        for record in batch.records:
            kinesis = record["kinesis"]
            assert record["eventID"] == f"{batch.shard}:{kinesis['sequenceNumber']}"
            assert record["eventSourceARN"] == fleet.stream_arn
            hashed = int.from_bytes(hashlib.md5(kinesis["partitionKey"].encode()).digest(), "big")
            assert batch.shard == f"shardId-{hashed * 3 // 2**128:012d}"
            sequence = int(kinesis["sequenceNumber"])
            assert sequence > last.get(batch.shard, 0)
            last[batch.shard] = sequence
            assert 0 < kinesis["approximateArrivalTimestamp"] - _earliest(kinesis["data"]) < 60
            assert int(kinesis["approximateArrivalTimestamp"] // 60) == int(batch.arrival // 60)
    assert set(seen_minutes.values()) == {1}


def _earliest(data: str) -> float:
    raw = base64.b64decode(data)
    if raw.startswith(b"\x1f\x8b"):
        return min(event["timestamp"] for event in json.loads(gzip.decompress(raw))["logEvents"]) / 1000
    body = json.loads(raw)
    return body.get("receivedAt", body.get("timestamp")) / 1000


# -- attacks: abnormal in the labelled metrics, on the labelled thing, in the labelled window only --


def _flagged(kind: AttackKind, datapoints, fleet) -> list[tuple[str, float]]:
    """(thing, time) of every datapoint (or window) clearly abnormal for the thing's class."""
    classes = {t.name: t.device_class for t in fleet.things}
    found = []
    for (thing, metric), series in datapoints.items():
        cls = classes[thing]
        if kind is AttackKind.MESSAGE_STORM and metric == "aws:num-messages-sent":
            found += _dense(thing, series, 900, cls.peak_messages_per_hour)  # 4x the peak
        elif kind is AttackKind.CREDENTIAL_PROBING and metric == "aws:num-authorization-failures":
            found += _dense(thing, series, 300, 3)
        elif kind is AttackKind.CLONED_IDENTITY and metric == "aws:num-connection-attempts":
            found += _dense(thing, series, 900, 6)
        elif kind is AttackKind.NEW_LISTENING_PORT and metric == "aws:listening-tcp-ports":
            found += [(thing, t) for t, ports in series if set(ports) - set(cls.tcp_ports)]
        elif kind is AttackKind.EXFILTRATION and metric == "aws:all-bytes-out":
            peak = cls.bytes_out_per_s * cls.weekly_peak * SPEC.report_interval * 1.5 * 1.15
            found += [(thing, t) for t, value in series if value > 5 * peak]
        elif kind is AttackKind.NEW_DESTINATION_IP and metric == "aws:destination-ip-addresses":
            found += [(thing, t) for t, addresses in series if any(a.startswith("203.0.113.") for a in addresses)]
    return found


def _dense(thing: str, series, width: float, at_least: float) -> list[tuple[str, float]]:
    """Times whose window of ``width`` seconds (starting there) holds at least ``at_least`` datapoints."""
    times = [t for t, _ in series]
    found, end = [], 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + width:
            end += 1
        if end - start >= at_least:
            found.append((thing, t))
    return found


@pytest.mark.parametrize("kind", list(AttackKind))
def test_each_attack_shows_in_its_metrics_on_its_thing_in_its_window_and_nowhere_else(kind, fleet, datapoints):
    labels = [label for label in fleet.labels if label.kind is kind]
    assert len(labels) == 2 and len({label.thing for label in fleet.labels}) == len(fleet.labels)
    flagged = _flagged(kind, datapoints, fleet)
    slack = SPEC.report_interval + 60  # a report covers the interval before it
    for thing, t in flagged:
        assert any(label.thing == thing and label.start - 3600 <= t <= label.end + slack for label in labels), (
            thing,
            t,
        )
    for label in labels:
        assert 15 * 60 <= label.end - label.start <= 90 * 60
        inside = [t for thing, t in flagged if thing == label.thing and label.start - 3600 <= t <= label.end + slack]
        assert inside, label
        assert set(label.metrics) <= {m for (thing, m) in datapoints if thing == label.thing}


def test_a_storm_is_five_to_twenty_times_the_class_peak(fleet, datapoints):
    classes = {t.name: t.device_class for t in fleet.things}
    for label in (x for x in fleet.labels if x.kind is AttackKind.MESSAGE_STORM):
        sent = [t for t, _ in datapoints[(label.thing, "aws:num-messages-sent")] if label.covers(t)]
        per_hour = len(sent) / (label.end - label.start) * 3600
        assert 4 <= per_hour / classes[label.thing].peak_messages_per_hour <= 23


def test_explicit_attacks_are_injected_as_given():
    spec = FleetSpec(things=3, days=0.1, seed=2, attacks=AttackPlan.none())
    thing = simulate(spec).things[1].name
    label = AttackLabel.of(AttackKind.NEW_DESTINATION_IP, thing, DEFAULT_START + 1200, DEFAULT_START + 3000, "x1")
    fleet = simulate(FleetSpec(things=3, days=0.1, seed=2, attacks=AttackPlan.of(label)))
    assert fleet.labels == (label,) and label.metrics == ("aws:destination-ip-addresses",)
    reports = [b for b in bodies(list(fleet.batches())) if b["thingName"] == thing and ("header" in b or "hed" in b)]
    hit = [b for b in reports if "203.0.113." in json.dumps(b)]
    assert hit and all(label.covers(b["receivedAt"] / 1000) for b in hit)


def test_a_fleet_written_as_json_lines_reads_back_the_same(tmp_path):
    fleet = simulate(FleetSpec(things=4, days=0.1, seed=9, attacks=AttackPlan(per_kind=1)))
    written = write_records(fleet, tmp_path / "fleet.jsonl")
    assert written.labels_path == tmp_path / "fleet.labels.jsonl"
    assert list(read_records(written.records_path)) == list(fleet.records())
    assert written.records == len(list(fleet.records()))
    assert read_labels(written.records_path) == fleet.labels
    assert fleet.device_days == pytest.approx(0.4)
