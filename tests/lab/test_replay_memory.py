"""The lab's in-memory adapters behave as the Lambda's: ``MemoryStates`` as ``DetectStates`` on moto
(get, put, version conflicts, delete, scan, fleet thresholds), for any sequence of operations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detect_lab.replay.memory import (
    CollectingHistory,
    CollectingPublisher,
    MemoryPositions,
    MemoryStates,
    class_membership,
)
from iot_defender_runtime.adapters.detect_state import DetectStates, StateConflictError, fleet_key, state_key
from iot_defender_runtime.evaluation.disconnect_duration import ConnectionState
from iot_defender_runtime.evaluation.engine import BehaviorState, ClosedWindow
from iot_defender_runtime.model.detect_profiles import ProfileTargets
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS

REGION = "us-east-1"
_tables = itertools.count()


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(key, "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)


def new_table(dynamodb: Any) -> DetectStates:
    name = f"detect-{next(_tables)}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return DetectStates(name, dynamodb)


KEYS = [state_key("sensors", "t-1"), state_key("sensors", "t#2"), state_key("cameras", "t-1")]
FLEET_KEYS = [fleet_key("sensors", "Storm"), fleet_key("cameras", "Storm")]
states = st.builds(
    BehaviorState,
    open_windows=st.lists(st.tuples(st.sampled_from([0.0, 300.0, 600.0]), st.integers(0, 10**6)), max_size=2).map(
        tuple
    ),
    seen_ids=st.lists(st.text("abc", min_size=1, max_size=3), max_size=2).map(tuple),
    violating_streak=st.integers(0, 3),
    normal_streak=st.integers(0, 3),
    in_alarm=st.booleans(),
    violation_id=st.none() | st.just("v-1"),
    last_datapoint_at=st.none() | st.floats(1.7e9, 1.8e9),
    judged_until=st.none() | st.sampled_from([300.0, 900.0]),
    closed=st.lists(st.tuples(st.sampled_from([0.0, 300.0]), st.integers(0, 9)), max_size=2).map(tuple),
)
connections = st.none() | st.builds(
    ConnectionState, connected=st.booleans(), timestamp=st.floats(1.7e9, 1.8e9), version=st.integers(0, 5)
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.sampled_from(KEYS),
            st.dictionaries(st.sampled_from(["Storm", "Churn"]), states, max_size=2),
            st.integers(-1, 1),  # the version offset: 0 is the stored one, others conflict
            st.dictionaries(st.sampled_from(["shardId-000000000000", "shardId-000000000001"]), st.integers(0, 10**40)),
            connections,
        ),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.integers(-1, 1)),
        st.tuples(
            st.just("fleet"),
            st.sampled_from(FLEET_KEYS),
            st.dictionaries(
                st.sampled_from([0.0, 300.0, 1.7e9 + 0.5]), st.tuples(st.floats(0, 1e6), st.integers(0, 99))
            ),
        ),
    ),
    max_size=8,
)


def apply(store: Any, operation: tuple[Any, ...]) -> str:
    """Run one operation; what happened, as text, for comparing two stores."""
    kind, key = operation[0], operation[1]
    if kind == "fleet":
        store.put_fleet_thresholds(key, operation[2])
        return "ok"
    stored = store.get_many([key]).get(key)
    version = stored.version if stored else 0
    try:
        if kind == "put":
            _, _, behaviors, offset, marks, connection = operation
            store.put(key, behaviors, version + offset, marks, connection)
        else:
            store.delete(key, version + operation[2])
    except StateConflictError:
        return "conflict"
    return "ok"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_memory_states_behave_as_detect_states_on_moto(dynamodb: Any, script: list[tuple[Any, ...]]) -> None:
    # Given the Lambda's store on moto and the lab's in memory
    table, memory = new_table(dynamodb), MemoryStates()
    # When the same operations run on both
    outcomes = [(apply(table, op), apply(memory, op)) for op in script]
    # Then each succeeds or conflicts alike, and both hold the same states and thresholds
    assert [a for a, _ in outcomes] == [b for _, b in outcomes]
    assert table.get_many(KEYS) == memory.get_many(KEYS)
    assert sorted(table.scan()) == sorted(memory.scan())
    assert table.fleet_thresholds(FLEET_KEYS) == memory.fleet_thresholds(FLEET_KEYS)


def test_fails_when_a_first_write_expects_a_version() -> None:
    # Given an empty store, When a write expects version 1, Then it conflicts; at 0 it is written as version 1
    store = MemoryStates()
    with pytest.raises(StateConflictError, match="changed concurrently"):
        store.put(KEYS[0], {}, 1, {})
    store.put(KEYS[0], {"Storm": BehaviorState(in_alarm=True, violation_id="v")}, 0, {"s": 1})
    assert store.get_many([KEYS[0]])[KEYS[0]].version == 1
    with pytest.raises(StateConflictError):
        store.delete(KEYS[0], 0)


def test_scan_leaves_out_fleet_thresholds() -> None:
    store = MemoryStates()
    store.put(KEYS[0], {}, 0, {})
    store.put_fleet_thresholds(FLEET_KEYS[0], {0.0: (5.0, 3)})
    assert [key for key, _ in store.scan()] == [KEYS[0]]


def test_positions_are_those_recorded_for_the_open_shards() -> None:
    # Given two open shards, one read up to 100 s
    positions = MemoryPositions()
    positions.save_caught_up({"a": None, "b": 50.0})
    positions.record("a", "9", 100.0)
    # Then the stream's position is the earliest shard's
    loaded = positions.load()
    assert loaded.open_shards == ("a", "b")
    assert loaded.position("a", 120.0) == 50.0


def test_history_rows_have_the_history_columns_and_verdicts() -> None:
    from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
    from iot_defender_runtime.model.detect_profiles import ProfileBehavior
    from iot_defender_runtime.model.metric_catalog import METRICS

    behavior = ProfileBehavior(
        "sensor",
        BehaviorDefinition(
            "Storm", "aws:num-messages-sent", BehaviorKind.RULE, "less-than-equals", {"count": 5}, None, None, 300
        ),
        METRICS["aws:num-messages-sent"],
    )
    history = CollectingHistory()
    history.record(behavior, "t-1", (ClosedWindow(0, 300, 7, True), ClosedWindow(300, 600, 2.5, None)))
    rows = list(history.rows())
    assert [list(row) for row in rows] == [[name for name, _ in HISTORY_COLUMNS]] * 2
    assert [(r["value"], r["verdict"]) for r in rows] == [(7.0, "violating"), (2.5, "unjudged")]
    assert history.columns()["thing_name"] == ["t-1", "t-1"]


def test_membership_follows_the_things_groups() -> None:
    watches = class_membership({"sensor-000001": ["sensor"]})
    assert watches(ProfileTargets(frozenset({"sensor"})), "sensor-000001", 0.0, 300.0)
    assert not watches(ProfileTargets(frozenset({"camera"})), "sensor-000001", 0.0, 300.0)
    assert not watches(ProfileTargets(frozenset({"sensor"})), "stranger", 0.0, 300.0)
    assert watches(ProfileTargets(unregistered_things=True), "stranger", 0.0, 300.0)


def test_publisher_keeps_each_message() -> None:
    publisher = CollectingPublisher()
    assert publisher.publish("s", {"violationId": "v"}) == "lab-1"
    assert publisher.messages == [{"violationId": "v"}]
