"""The sweep spread over parallel scan segments: the same judgements, writes and fleet percentiles as one
run over every state; a segment run twice or one that failed is safe; the segment event is checked; on
moto, the coordinator's events, the table's parts and the merged thresholds."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from detect_lab.replay.memory import CollectingPublisher, MemoryPositions, MemoryStates
from iot_defender_runtime.adapters.detect_state import state_key
from iot_defender_runtime.adapters.function_invoke import AsyncInvoker
from iot_defender_runtime.adapters.table_reads import item_count
from iot_defender_runtime.detect_evaluator import handler, sweep
from iot_defender_runtime.detect_evaluator.config import Config
from iot_defender_runtime.detect_evaluator.invocation import Invocation
from iot_defender_runtime.detect_evaluator.sweep_segments import (
    Segment,
    SweepEventError,
    SweepLayout,
    segment_of,
    segments_for,
)
from iot_defender_runtime.evaluation.engine import BehaviorState
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from tests.lambdas.conftest import TABLE
from tests.lambdas.test_detect_evaluator import LIKE_THE_FLEET, STORM, T0, fleet_window, sent

PROFILES = DetectProfiles.from_json(
    json.dumps({"profiles": [{"name": "fleet", "behaviors": [LIKE_THE_FLEET.to_api(), STORM.to_api()]}]})
)
CONFIG = Config(TABLE, "arn:aws:sns:us-east-1:123456789012:alerts", PROFILES, 2 * 86_400, 60)
NOW = T0 + 960  # windows up to T0 + 900 have settled


def _fleet(things: int) -> MemoryStates:
    """Things with closed statistical windows (to merge) and open storm windows (to judge): a tenth storm."""
    store = MemoryStates()
    for index in range(things):
        like = BehaviorState(closed=((T0, index % 23), (T0 + 300, index % 29)), last_datapoint_at=T0 + 590)
        total = 500.0 if index % 10 == 0 else 5.0
        storm = BehaviorState(open_windows=((T0 + 600, total),), last_datapoint_at=T0 + 610)
        store.put(state_key("fleet", f"t{index}"), {"LikeTheFleet": like, "MessageStorm": storm}, 0, {})
    return store


def _run(store: MemoryStates, published: CollectingPublisher) -> Invocation:
    return Invocation(config=CONFIG, states=store, notifier=published, now=NOW, positions=MemoryPositions())


def _segmented(store: MemoryStates, total: int, skip: frozenset[int] = frozenset()) -> CollectingPublisher:
    published, events = CollectingPublisher(), []
    assert sweep.coordinate(_run(store, published), total, events.append)["segments"] == total
    for event in events:
        if event["segment"] not in skip:
            sweep.sweep_states(_run(store, published), segment_of(json.loads(json.dumps(event))))
    return published


def _outcome(store: MemoryStates, published: CollectingPublisher) -> tuple[Any, ...]:
    alarms = sorted((m["thingName"], m["violationEventType"]) for m in published.messages)
    states = sorted((key, state.behaviors) for key, state in store.scan())
    return alarms, states, store.fleet_thresholds(["detect-fleet#fleet#LikeTheFleet"])


def test_a_sweep_over_seven_segments_does_what_one_run_over_every_state_does():
    # Given the same 300 things in two stores
    whole, spread = _fleet(300), _fleet(300)
    # When one is swept in one run and the other over seven segments
    published = CollectingPublisher()
    counts = sweep.sweep_states(_run(whole, published))
    # Then the same alarms, states and fleet percentiles (exact: the sketches hold few distinct values)
    assert _outcome(spread, _segmented(spread, 7)) == _outcome(whole, published)
    assert counts["swept"] == 300 and counts["windows_judged"] == 300
    assert len(published.messages) == 30
    thresholds = whole.fleet_thresholds(["detect-fleet#fleet#LikeTheFleet"])["detect-fleet#fleet#LikeTheFleet"]
    assert thresholds == {float(T0): (20.0, 300), float(T0 + 300): (25.0, 300)}


def test_every_thing_is_in_exactly_one_segment():
    store = _fleet(200)
    seen = [key for segment in range(6) for key, _ in store.scan(segment, 6)]
    assert sorted(seen) == sorted(key for key, _ in store.scan())


def test_a_failed_segment_leaves_the_thresholds_alone_until_every_segment_has_finished():
    # Given a sweep whose segment 2 failed
    store = _fleet(120)
    _segmented(store, 4, skip=frozenset({2}))
    # Then no segment merged (three of four finished), and the failed segment's things are judged next time
    assert store.fleet_thresholds(["detect-fleet#fleet#LikeTheFleet"]) == {}
    assert all(s.behaviors["MessageStorm"].open_windows for _, s in store.scan(2, 4))
    # When the next sweep runs every segment: the thresholds come from all things
    _segmented(store, 4)
    thresholds = store.fleet_thresholds(["detect-fleet#fleet#LikeTheFleet"])["detect-fleet#fleet#LikeTheFleet"]
    assert {things for _, things in thresholds.values()} == {120}


def test_a_segment_run_twice_changes_nothing_more():
    # Given a segmented sweep done
    store = _fleet(90)
    published = _segmented(store, 3)
    before = _outcome(store, published)
    # When segment 1's event is delivered again (an asynchronous retry)
    again = Segment(1, 3, "3@retry", float(NOW - 60))
    sweep.sweep_states(_run(store, published), again)
    # Then no further alarm, state or threshold
    assert _outcome(store, published) == before


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"segments": 0, "segment": 0, "sweepId": "s"}, "segments 0 must be a whole number from 1 to 1000"),
        ({"segments": True, "segment": 0, "sweepId": "s"}, "segments True must be a whole number from 1 to 1000"),
        ({"segments": 4, "segment": 4, "sweepId": "s"}, "segment 4 must be a whole number from 0 to 3"),
        ({"segments": 4, "segment": "1", "sweepId": "s"}, "segment '1' must be a whole number from 0 to 3"),
        ({"segments": 4, "segment": 1, "sweepId": ""}, "sweepId '' must be 1 to 64 characters"),
        ({"segments": 4, "segment": 1, "sweepId": "s", "settled": float("nan")}, "settled nan must be a finite"),
        ({"segments": 4, "segment": 1, "sweepId": "s", "settled": "1"}, "settled '1' must be a finite"),
    ],
)
def test_fails_when_a_segment_event_is_malformed(event, problem):
    with pytest.raises(SweepEventError, match=problem.replace("(", r"\(")):
        segment_of({"sweep": True, **event})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: JSON for k in ("segment", "segments", "sweepId", "settled")}))
def test_any_event_is_a_valid_segment_or_refused_with_a_reason(event):
    try:
        segment = segment_of(event)
    except SweepEventError as error:
        assert str(error)
        return
    assert 0 <= segment.index < segment.total <= 1000 and segment.sweep_id


@pytest.mark.parametrize(("items", "expected"), [(0, 1), (20_000, 1), (20_001, 2), (1_000_000, 50), (5_000_000, 64)])
def test_one_segment_per_20000_items_up_to_the_limit(items, expected):
    assert segments_for(items, SweepLayout(things_per_segment=20_000, max_segments=64)) == expected


def test_the_coordinator_invokes_each_segment_asynchronously_with_its_event():
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    event = Segment(2, 5, "5@1700000000.000", 1_700_000_000.0).to_event()
    payload = json.dumps(event, separators=(",", ":")).encode()
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202, "Payload": io.BytesIO(b"")},
            {"FunctionName": "arn:fn", "InvocationType": "Event", "Payload": payload},
        )
        AsyncInvoker("arn:fn", lambda_client)(event)
        stub.assert_no_pending_responses()


def test_on_moto_segments_keep_parts_and_the_last_one_merges_the_thresholds(statistical_world, monkeypatch):
    # Given ten things' window 0 and window 1 counted by the evaluator
    fleet = {f"t{i}": total for i, total in enumerate((10, 12, 11, 9, 10, 13, 10, 11, 12, 14))}
    handler.evaluate_batch(fleet_window(100, fleet, 0), now=T0 + 20)
    handler.evaluate_batch(fleet_window(200, fleet, 1), now=T0 + 380)
    assert item_count(statistical_world.dynamodb, TABLE) >= 10
    # When the schedule's event finds four segments allowed and the table small: one run does it all
    monkeypatch.setenv("SWEEP_MAX_SEGMENTS", "4")
    handler.clear_caches()
    assert "segments" not in sweep.sweep_event({"sweep": True}, T0 + 365, "arn:fn")
    # And a coordinator of three segments, whose events run one by one
    events: list[dict[str, Any]] = []
    sweep.coordinate(Invocation.open(T0 + 665), 3, events.append)
    swept = [sweep.sweep_event(json.loads(json.dumps(e)), T0 + 665, "arn:fn")["swept"] for e in events]
    # Then each thing was swept once, each segment kept its part, and the merged p90 is the exact one
    assert sum(swept) == 10
    items = statistical_world.dynamodb.scan(TableName=TABLE)["Items"]
    assert sorted(i["id"]["S"] for i in items if i["id"]["S"].startswith("detect-fleet-part#")) == [
        f"detect-fleet-part#3#{n}#fleet#LikeTheFleet" for n in range(3)
    ]
    item = statistical_world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect-fleet#fleet#LikeTheFleet"}})
    assert json.loads(item["Item"]["thresholds"]["S"]) == {repr(float(T0)): [13, 10], repr(float(T0 + 300)): [13, 10]}


@pytest.fixture
def statistical_world(world, monkeypatch):
    profile = {"name": "fleet", "behaviors": [LIKE_THE_FLEET.to_api()]}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    return world


def test_unused_helpers_are_the_evaluator_tests_own():
    assert sent("1", "t", 1, 0)["kinesis"]["sequenceNumber"] == "1"
