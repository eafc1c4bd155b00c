"""A bad record fails alone, never the batch: whatever a Kinesis batch holds (real agent reports in
long and short form with IPv6 peers and custom metrics, telemetry, IoT log batches, and records
broken in every way a device or an attacker can break them: wrong types, huge or infinite numbers,
deep nesting, bad thing names, bad endpoints, gzip bombs), the evaluator raises nothing, reports
exactly the bad records in ``batchItemFailures``, counts each in ``RejectedRecords``, and takes
every datapoint of every good record once."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iot_defender_runtime.detect_evaluator import batch, handler, intake
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind

T0 = 1_700_000_100
NOW = T0 + 20
_SEQUENCES = itertools.count(1)  # one moto world serves every example: sequence numbers only grow


def _rule(name: str, metric: str, operator: str, value: dict[str, Any], duration: int | None = None) -> dict:
    definition = BehaviorDefinition(
        name=name,
        metric=metric,
        kind=BehaviorKind.RULE,
        comparison_operator=operator,
        value=value,
        duration_seconds=duration,
    )
    return definition.to_api()


# One behavior on each kind of value a record can carry: every watched datapoint is grouped and judged
WATCHED = {
    "aws:num-messages-sent": _rule("Storm", "aws:num-messages-sent", "less-than-equals", {"count": 100}, 300),
    "aws:all-bytes-out": _rule("Exfil", "aws:all-bytes-out", "less-than", {"count": 10**9}, 300),
    "aws:destination-ip-addresses": _rule(
        "Peers", "aws:destination-ip-addresses", "in-cidr-set", {"cidrs": ["10.0.0.0/8", "2001:db8::/32"]}
    ),
    "aws:listening-tcp-ports": _rule("Ports", "aws:listening-tcp-ports", "in-port-set", {"ports": [22, 443]}),
    "aws:num-authorization-failures": _rule(
        "AuthFailures", "aws:num-authorization-failures", "less-than", {"count": 5}, 300
    ),
    "battery": _rule("Battery", "battery", "greater-than", {"number": 10}),
}


@pytest.fixture
def evaluator(world, monkeypatch):
    profile = {"name": "fleet", "behaviors": list(WATCHED.values()), "customMetrics": {"battery": "number"}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    intakes: list[intake.Intake] = []

    class Recorded(intake.Intake):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            intakes.append(self)

    rejected = Counter[str]()
    add_metric = intake.metrics.add_metric

    def counted(*, name: str, **kwargs: Any) -> None:
        rejected[name] += kwargs.get("value", 1)
        add_metric(name=name, **kwargs)

    monkeypatch.setattr(batch, "Intake", Recorded)
    monkeypatch.setattr(intake.metrics, "add_metric", counted)
    world.intakes, world.rejected = intakes, rejected
    return world


def kinesis_record(sequence: str, data: bytes) -> dict[str, Any]:
    return {
        "kinesis": {
            "partitionKey": "k",
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": float(T0 + 10),
        },
        "eventID": f"shardId-000000000000:{sequence}",
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/datapoints",
    }


# --- good records: (data, how many watched datapoints it gives) ---------------------------------

_THINGS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    lambda name: len(name.encode()) <= 128
)
_ENDPOINTS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(0, 65535)).map(lambda p: f"{p[0]}:{p[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 65535)).map(lambda p: f"[{p[0]}]:{p[1]}"),
    st.ip_addresses(v=6).map(str),
    st.just("[::1]:631"),
)
_COUNTS = st.integers(0, 2**64 - 1)
_MS = (T0 + 5) * 1000


def _report(short: bool, thing: str, bytes_out: int, peers: list[str], ports: list[int], battery: float) -> bytes:
    names = ("hed", "rid", "v", "met", "ns", "bo", "tc", "ec", "cs", "rad", "tp", "pts", "pt", "cmet")
    longs = (
        "header", "report_id", "version", "metrics", "network_stats", "bytes_out", "tcp_connections",
        "established_connections", "connections", "remote_addr", "listening_tcp_ports", "ports", "port",
        "custom_metrics",
    )  # fmt: skip
    n = dict(zip(longs, names if short else longs, strict=True))
    report = {
        n["header"]: {n["report_id"]: 1, n["version"]: "1.0"},
        n["metrics"]: {
            n["network_stats"]: {n["bytes_out"]: bytes_out},
            n["tcp_connections"]: {
                n["established_connections"]: {n["connections"]: [{n["remote_addr"]: p} for p in peers]}
            },
            n["listening_tcp_ports"]: {n["ports"]: [{n["port"]: p} for p in ports]},
        },
        n["custom_metrics"]: {"battery": [{"number": battery}]},
        "thingName": thing,
        "receivedAt": _MS,
    }
    return json.dumps(report).encode()


def _log_envelope(events: list[dict[str, Any]]) -> bytes:
    envelope = {"messageType": "DATA_MESSAGE", "logGroup": "AWSIotLogsV2", "logEvents": events}
    return gzip.compress(json.dumps(envelope).encode())


def _failures(clients: list[str]) -> bytes:
    entries = [{"reason": "AUTHORIZATION_FAILURE", "clientId": c, "topicName": "dt/x"} for c in clients]
    return _log_envelope([{"id": str(i), "timestamp": _MS, "message": json.dumps(e)} for i, e in enumerate(entries)])


_GOOD = st.one_of(
    st.builds(
        lambda thing, value, topic: (
            json.dumps(
                {"thingName": thing, "metric": "aws:num-messages-sent", "value": value, "timestamp": _MS, **topic}
            ).encode(),
            1,
        ),
        _THINGS,
        st.integers(0, 100),
        st.just({}) | st.builds(lambda t: {"topic": t}, st.text(min_size=1, max_size=40)),
    ),
    st.builds(
        lambda thing, length: (
            json.dumps({"thingName": thing, "kind": "message", "base64Length": length * 4, "timestamp": _MS}).encode(),
            1,
        ),
        _THINGS,
        st.integers(0, 50_000),
    ),
    st.builds(
        lambda short, thing, out, peers, ports, battery: (_report(short, thing, out, peers, ports, battery), 4),
        st.booleans(),
        _THINGS,
        _COUNTS,
        st.lists(_ENDPOINTS, max_size=4),
        st.lists(st.integers(0, 65535), max_size=4),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    st.lists(_THINGS, min_size=1, max_size=3).map(lambda clients: (_failures(clients), len(clients))),
)

# --- bad records ---------------------------------------------------------------------------------

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
_NOT_A_COUNT = (
    st.none()
    | st.booleans()
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.integers(max_value=-1)
    | st.integers(min_value=2**64)
    | st.floats().filter(lambda x: x != x or x in (float("inf"), float("-inf")) or not float(x).is_integer() or x < 0)
)
_BAD_THING = (
    st.just("")
    | st.text(min_size=129, max_size=140)
    | st.just("é" * 65)  # 65 characters, 130 bytes of UTF-8
    | st.builds(
        lambda name, control: name + control, st.text(max_size=5), st.sampled_from(["\x00", "\n", "\x7f", "\x85"])
    )
    | st.just("\ud800")  # a lone surrogate: JSON carries it, UTF-8 cannot
    | st.none()
    | st.integers()
    | st.lists(st.integers(), max_size=2)
)
_BAD_TIME = _NOT_A_COUNT.filter(lambda t: not isinstance(t, int | float) or isinstance(t, bool)) | st.sampled_from(
    [0, -1, 946_684_799, 32_503_680_000, float("inf"), 10**30]
)
_BAD_ENDPOINT = st.sampled_from(
    ["[2001:db8::1]:70000", "203.0.113.9:", "example.com:443", "[203.0.113.9]:443", "1.2.3.4.5", "", 7, None, "x" * 80]
)


def _datapoint(**fields: Any) -> bytes:
    body = {"thingName": "bad-thing", "metric": "aws:num-messages-sent", "value": 1, "timestamp": _MS}
    return json.dumps({**body, **fields}).encode()


def _without(key: str) -> bytes:
    body = json.loads(_datapoint())
    del body[key]
    return json.dumps(body).encode()


def _bad_report(path: tuple[str, ...], value: Any, short: bool = False) -> bytes:
    report = json.loads(_report(short, "bad-thing", 1, ["10.0.0.1:1"], [22], 50.0))
    block = report
    for key in path[:-1]:
        block = block[key]
    block[path[-1]] = value
    return json.dumps(report).encode()


_CONNECTION = ("metrics", "tcp_connections", "established_connections", "connections")
_BAD_REPORTS = st.one_of(
    _NOT_A_COUNT.filter(lambda v: v is not None).map(  # a null field is a field left out
        lambda v: _bad_report(("metrics", "network_stats", "bytes_out"), v)
    ),
    st.just(_bad_report(("metrics", "network_stats", "bytes_out"), "lots")),
    st.sampled_from(["22", True, -1, 65536, 2.5]).map(
        lambda p: _bad_report(("metrics", "listening_tcp_ports", "ports"), [{"port": p}])
    ),
    _BAD_ENDPOINT.map(lambda a: _bad_report(_CONNECTION, [{"remote_addr": a}])),
    st.sampled_from([[1], "full", None, [], {"n": 1}]).map(
        lambda v: _bad_report(("custom_metrics", "battery"), [{"number": v}])
    ),
    st.sampled_from([{"number": 1}, [], [{"number": 1}, {"number": 2}], [{"word": 1}]]).map(
        lambda v: _bad_report(("custom_metrics", "battery"), v)
    ),
    st.sampled_from(["aws:battery", "bad name", "", "b" * 129]).map(
        lambda name: _bad_report(("custom_metrics",), {name: [{"number": 1}]})
    ),
    st.sampled_from([{}, {"report_id": 1}, {"version": "1.0"}, {"report_id": "1", "version": "1.0"}, []]).map(
        lambda header: _bad_report(("header",), header)
    ),
    st.just(json.dumps({"header": {"report_id": 1, "version": "1.0"}, "thingName": "t", "receivedAt": _MS}).encode()),
    _BAD_TIME.map(lambda t: _bad_report(("receivedAt",), t)),
    _BAD_THING.map(lambda thing: _bad_report(("thingName",), thing)),
)
_RAW = st.sampled_from(
    [
        b"[" * 100_000,  # nesting deeper than the recursion limit
        b'{"thingName": "t", "metric": "aws:num-messages-sent", "value": 1e400, "timestamp": 1700000005000}',
        b'{"thingName": "t", "metric": "aws:num-messages-sent", "value": 1' + b"0" * 400 + b', "timestamp": 1}',
        b'{"thingName": "t", "metric": "aws:num-messages-sent", "value": 1' + b"0" * 5000 + b"}",  # int digit limit
        b'{"thingName": "\\ud800", "metric": "aws:num-messages-sent", "value": 1, "timestamp": 1700000005000}',
        b'{"thingName": "t", "metric": "aws:num-messages-sent", "value": 1, "timestamp": 17e11, "x": "'
        + b"a" * 140_000
        + b'"}',
        b"\xff\xfe\x00{",  # not UTF-8
        gzip.compress(b" " * (17 * 1024 * 1024)),  # a gzip bomb: inflates past the envelope limit
        gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": 5}'),
        gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": [1]}'),
        gzip.compress(b"{}")[:-6],  # truncated
    ]
)
_BAD_DATA = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda data: b"\x1f\x8b" + data),  # gzip's magic, then anything
    _JSON.map(lambda value: json.dumps(value).encode()),
    _JSON.map(lambda value: gzip.compress(json.dumps(value).encode())),
    _BAD_THING.map(lambda thing: _datapoint(thingName=thing)),
    (st.none() | st.integers() | st.text(max_size=10)).map(lambda metric: _datapoint(metric=metric)),
    _NOT_A_COUNT.map(lambda value: _datapoint(value=value)),
    st.sampled_from(["10.0.0.1:99999", "10.0.0.256", 7, [None]]).map(
        lambda v: _datapoint(metric="aws:source-ip-address", value=v)
    ),
    st.just(_datapoint(metric="battery", value=1.0)),  # custom metrics come in agent reports only
    _BAD_TIME.map(lambda timestamp: _datapoint(timestamp=timestamp)),
    (st.integers() | st.just("") | st.booleans() | st.lists(st.integers(), max_size=1)).map(
        lambda t: _datapoint(topic=t)
    ),
    st.just(_datapoint(topic="t" * 257)),
    st.sampled_from(["thingName", "metric", "value"]).map(_without),
    st.one_of(_NOT_A_COUNT, st.integers(1, 999).filter(lambda n: n % 4)).map(
        lambda length: json.dumps({"thingName": "bad-thing", "kind": "message", "base64Length": length}).encode()
    ),
    _BAD_TIME.map(
        lambda t: _log_envelope(
            [{"id": "1", "timestamp": t, "message": json.dumps({"reason": "AUTHORIZATION_FAILURE", "clientId": "c"})}]
        )
    ),
    _BAD_THING.filter(lambda c: isinstance(c, str) and c).map(lambda client: _failures([client])),
    st.just(
        _log_envelope(
            [
                {
                    "id": "1",
                    "timestamp": _MS,
                    "message": json.dumps({"reason": "AUTHORIZATION_FAILURE", "clientId": "c", "topicName": 7}),
                }
            ]
        )
    ),
    _BAD_REPORTS,
    _RAW,
)


def _batch(entries: list[tuple[str, bytes, int]]) -> tuple[list[dict[str, Any]], list[str], dict[str, int]]:
    records, bad, expected = [], [], {}
    for kind, data, datapoints in entries:
        sequence = str(next(_SEQUENCES))
        records.append(kinesis_record(sequence, data))
        if kind == "bad":
            bad.append(sequence)
        else:
            expected[sequence] = datapoints
    return records, bad, expected


def _taken(world) -> Counter[str]:
    """Datapoints taken in by the batch's intake, per record sequence number."""
    [taken] = world.intakes
    return Counter(str(parsed.sequence) for parsed_list in taken.grouped.values() for parsed in parsed_list)


_ENTRIES = st.lists(
    st.one_of(
        _GOOD.map(lambda good: ("good", good[0], good[1])),
        _BAD_DATA.map(lambda data: ("bad", data, 0)),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=_ENTRIES)
def test_a_mixed_batch_fails_exactly_its_bad_records_and_takes_each_good_one_once(evaluator, entries):
    # Given good and bad records mixed in one batch
    records, bad, expected = _batch(entries)
    evaluator.intakes.clear()
    evaluator.rejected.clear()
    # When the evaluator takes the batch, Then nothing escapes, exactly the bad records fail, each is counted
    response = handler.evaluate_batch(records, now=NOW)
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in bad]}
    assert evaluator.rejected["RejectedRecords"] == len(bad)
    # And every watched datapoint of every good record is taken once, nothing of a bad one
    assert _taken(evaluator) == Counter({sequence: n for sequence, n in expected.items() if n})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(good=_GOOD)
def test_every_good_record_is_taken_alone(evaluator, good):
    data, datapoints = good
    [record] = [kinesis_record(str(next(_SEQUENCES)), data)]
    evaluator.intakes.clear()
    assert handler.evaluate_batch([record], now=NOW) == {"batchItemFailures": []}
    assert sum(_taken(evaluator).values()) == datapoints


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_bad_report(_CONNECTION, [{"remote_addr": "[2001:db8::1]:70000"}]), "port 70000 is outside 0-65535"),
        (_bad_report(("metrics", "network_stats", "bytes_out"), "lots"), "network_stats.bytes_out"),
        (_bad_report(("metrics", "listening_tcp_ports", "ports"), [{"port": "22"}]), "got '22'"),
        (_bad_report(("custom_metrics", "battery"), [{"number": [1]}]), "custom_metrics.battery.number"),
        (_datapoint(thingName="é" * 65), "1 to 128 bytes of UTF-8"),
        (_datapoint(timestamp=0), "from 2000-01-01 to 3000-01-01"),
        (b"[" * 100_000, "RecursionError"),
    ],
)
def test_a_rejected_record_is_logged_with_its_reason(evaluator, caplog, data, reason):
    sequence = str(next(_SEQUENCES))
    assert handler.evaluate_batch([kinesis_record(sequence, data)], now=NOW) == {
        "batchItemFailures": [{"itemIdentifier": sequence}]
    }
    [logged] = [record for record in caplog.records if record.getMessage() == "rejected record"]
    assert logged.levelname == "WARNING"
    assert reason in logged.reason
    assert evaluator.rejected["RejectedRecords"] == 1


def test_a_report_with_an_ipv6_peer_alarms_on_the_address_without_its_port(evaluator):
    # Given a report whose peer is outside the allowed CIDRs, written as the agent writes IPv6 peers
    data = _report(True, "cam-6", 5, ["[2001:db9::1]:443", "10.0.0.2:8883"], [22], 50.0)
    assert handler.evaluate_batch([kinesis_record(str(next(_SEQUENCES)), data)], now=NOW) == {"batchItemFailures": []}
    # Then the alarm carries the addresses alone
    [alarm] = [m for m in evaluator.notifications() if m["behavior"]["name"] == "Peers"]
    assert alarm["metricValue"] == {"cidrs": ["2001:db9::1", "10.0.0.2"]}
