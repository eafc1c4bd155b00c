"""A bad record fails alone, never the batch: whatever one Kinesis record holds (arbitrary bytes,
arbitrary JSON, a datapoint with one field broken, a broken IoT log envelope), the evaluator reports
exactly that record in ``batchItemFailures`` and counts every good record around it."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas.detect_evaluator import handler
from tests.lambdas.conftest import TABLE
from tests.lambdas.test_detect_evaluator import T0, evaluator, kinesis_record  # noqa: F401 (fixture)

_SEQUENCES = itertools.count(1)  # one moto world serves every example: sequence numbers only grow
_BATCHES = itertools.count(1)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def _not_integral(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_x4(length: int) -> bool:
    return length % 4 != 0


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
# Any JSON, except objects that name a thing or a log message type (those are datapoints or envelopes)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12).filter(lambda k: k not in ("thingName", "messageType")), children, max_size=4
        )
    ),
    max_leaves=12,
)
_NOT_A_STRING = st.none() | st.booleans() | st.integers() | st.floats() | st.lists(st.integers(), max_size=2)
_NOT_A_NUMBER = (
    st.none()
    | st.booleans()
    | st.text(max_size=20).filter(_not_a_number)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.sampled_from([float("nan"), float("inf"), float("-inf"), 10**400])
)
_BAD_THING = st.just("") | st.text(min_size=129, max_size=140) | _NOT_A_STRING
_BAD_TIME = _NOT_A_NUMBER | st.integers(max_value=-1)


def _datapoint(**fields: Any) -> dict[str, Any]:
    body = {"thingName": "bad-thing", "metric": "aws:num-messages-sent", "value": 1, "timestamp": (T0 + 5) * 1000}
    return {**body, **fields}


def _without(key: str) -> dict[str, Any]:
    body = _datapoint()
    del body[key]
    return body


def _log_envelope(timestamp: Any, client: str = "bad-thing") -> bytes:
    entry = {"reason": "AUTHORIZATION_FAILURE", "clientId": client}
    event = {"id": "1", "message": json.dumps(entry)}
    if timestamp is not None:
        event["timestamp"] = timestamp
    envelope = {"messageType": "DATA_MESSAGE", "logGroup": "AWSIotLogsV2", "logEvents": [event]}
    return gzip.compress(json.dumps(envelope).encode())


_BAD_DATA = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda data: b"\x1f\x8b" + data),  # gzip's magic, then anything
    _JSON.map(lambda value: json.dumps(value).encode()),
    _JSON.map(lambda value: gzip.compress(json.dumps(value).encode())),
    _BAD_THING.map(lambda thing: json.dumps(_datapoint(thingName=thing)).encode()),
    _NOT_A_STRING.map(lambda metric: json.dumps(_datapoint(metric=metric)).encode()),
    _NOT_A_NUMBER.map(lambda value: json.dumps(_datapoint(value=value)).encode()),
    _BAD_TIME.map(lambda timestamp: json.dumps(_datapoint(timestamp=timestamp)).encode()),
    st.sampled_from(["thingName", "metric", "value"]).map(lambda key: json.dumps(_without(key)).encode()),
    st.one_of(_NOT_A_NUMBER.filter(_not_integral), st.integers(max_value=-1), st.integers(1, 999).filter(_not_x4)).map(
        lambda length: json.dumps({"thingName": "bad-thing", "kind": "message", "base64Length": length}).encode()
    ),
    _BAD_TIME.filter(lambda t: t is not None).map(_log_envelope),
    st.just(_log_envelope(None)),  # a log event without its time
    st.text(min_size=129, max_size=140).map(lambda client: _log_envelope((T0 + 5) * 1000, client)),
)


def _good(thing: str, value: int) -> dict[str, Any]:
    body = {"thingName": thing, "metric": "aws:num-messages-sent", "value": value, "timestamp": (T0 + 5) * 1000}
    return kinesis_record(str(next(_SEQUENCES)), body)


def _aggregate(world, thing: str) -> float | None:
    item = world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"detect#fleet#{thing}"}}).get("Item")
    return json.loads(item["behaviors"]["S"])["MessageStorm"]["aggregate"] if item else None


def _other_states(world) -> int:
    """States of things that are not one of the good records' things."""
    items = world.dynamodb.scan(TableName=TABLE)["Items"]
    return sum(1 for item in items if not item["id"]["S"].startswith("detect#fleet#good-"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bad=_BAD_DATA,
    values=st.lists(st.integers(0, 100), min_size=1, max_size=4),
    position=st.integers(0, 4),
)
def test_one_bad_record_among_good_ones_fails_alone(evaluator, bad: bytes, values: list[int], position: int):  # noqa: F811
    batch = next(_BATCHES)
    things = [f"good-{batch}-{index}" for index in range(len(values))]
    records = [_good(thing, value) for thing, value in zip(things, values, strict=True)]
    bad_sequence = str(next(_SEQUENCES))
    records.insert(min(position, len(records)), kinesis_record(bad_sequence, bad))
    others = _other_states(evaluator)
    assert handler.evaluate_batch(records, now=T0 + 20) == {"batchItemFailures": [{"itemIdentifier": bad_sequence}]}
    assert [_aggregate(evaluator, thing) for thing in things] == values
    assert _other_states(evaluator) == others  # the bad record counted nothing


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(_BAD_DATA, min_size=1, max_size=3))
def test_a_batch_of_bad_records_only_reports_each_and_raises_nothing(evaluator, bad: list[bytes]):  # noqa: F811
    records = [kinesis_record(str(next(_SEQUENCES)), data) for data in bad]
    expected = [{"itemIdentifier": record["kinesis"]["sequenceNumber"]} for record in records]
    assert handler.evaluate_batch(records, now=T0 + 20) == {"batchItemFailures": expected}
