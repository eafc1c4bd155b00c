"""The window history's Firehose writer: rows packed into records and calls within the API's limits
(checked against botocore's firehose model), rejected records sent again a bounded number of times,
then dropped, logged and counted without failing the batch; and, on moto, the evaluator's windows
landing in the stream's bucket when ``HISTORY_STREAM_NAME`` is set."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_defender_runtime.adapters import window_history
from iot_defender_runtime.adapters.window_history import FirehoseWindowSink
from iot_defender_runtime.detect_evaluator import config as evaluator_config
from iot_defender_runtime.detect_evaluator import handler, invocation
from iot_defender_runtime.evaluation.engine import ClosedWindow
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import ProfileBehavior
from iot_defender_runtime.model.metric_catalog import METRICS
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS
from tests.lambdas.conftest import REGION

STREAM = "window-history"
STORM = BehaviorDefinition(
    name="MessageStorm",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.RULE,
    comparison_operator="less-than-equals",
    value={"count": 100},
    duration_seconds=300,
)
BEHAVIOR = ProfileBehavior("fleet", STORM, METRICS["aws:num-messages-sent"])
T0 = 1_700_000_100  # a window boundary


@cache
def put_record_batch_input() -> Any:
    return botocore.session.get_session().get_service_model("firehose").operation_model("PutRecordBatch").input_shape


def request_problems(request: dict[str, Any]) -> list[str]:
    """Where a PutRecordBatch request breaks the firehose model's limits (botocore checks types and
    minimums, not maximums or patterns), or the documented 4 MB per call."""
    shape = put_record_batch_input()
    name, records = shape.members["DeliveryStreamName"].metadata, shape.members["Records"]
    found = []
    if not name["min"] <= len(request["DeliveryStreamName"]) <= name["max"]:
        found.append("DeliveryStreamName length")
    if not records.metadata["min"] <= len(request["Records"]) <= records.metadata["max"]:
        found.append(f"{len(request['Records'])} records")
    data_max = records.member.members["Data"].metadata["max"]
    found += [f"record of {len(r['Data'])} bytes" for r in request["Records"] if len(r["Data"]) > data_max]
    if sum(len(r["Data"]) for r in request["Records"]) > 4_000_000:
        found.append("more than 4 MB in one call")
    return found


class RecordingFirehose:
    """Accepts every call, after checking it against the model; rejects the records ``reject`` says
    (call index -> record indexes) with a per-record ErrorCode, as Firehose does."""

    def __init__(self, reject: dict[int, set[int]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reject = reject or {}

    def put_record_batch(self, **request: Any) -> dict[str, Any]:
        assert request_problems(request) == []
        rejected = self.reject.get(len(self.requests), set()) & set(range(len(request["Records"])))
        self.requests.append(request)
        answers = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            if index in rejected
            else {"RecordId": f"r{index}"}
            for index in range(len(request["Records"]))
        ]
        return {"FailedPutCount": len(rejected), "Encrypted": True, "RequestResponses": answers}


def windows(count: int, value: float = 7) -> tuple[ClosedWindow, ...]:
    return tuple(ClosedWindow(T0 + 300 * i, T0 + 300 * (i + 1), value, i % 2 == 1) for i in range(count))


def rows_sent(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    data = b"".join(record["Data"] for request in requests for record in request["Records"])
    return [json.loads(line) for line in data.decode().splitlines()]


def test_rows_are_the_history_schema_newline_delimited_many_to_a_record():
    firehose = RecordingFirehose()
    sink = FirehoseWindowSink(STREAM, firehose=firehose)
    sink.record(BEHAVIOR, "meter-1", windows(2))
    sink.record(BEHAVIOR, "meter-2", windows(1, 250))
    sink.flush()
    [request] = firehose.requests
    assert request["DeliveryStreamName"] == STREAM
    [record] = request["Records"]  # three rows, one record: billed as one 5 KB increment, not three
    assert record["Data"].endswith(b"\n")
    assert rows_sent(firehose.requests) == [
        {"thing_name": "meter-1", "profile": "fleet", "behavior": "MessageStorm", "metric": "aws:num-messages-sent",
         "window_start": T0, "window_end": T0 + 300, "value": 7.0, "verdict": "normal"},
        {"thing_name": "meter-1", "profile": "fleet", "behavior": "MessageStorm", "metric": "aws:num-messages-sent",
         "window_start": T0 + 300, "window_end": T0 + 600, "value": 7.0, "verdict": "violating"},
        {"thing_name": "meter-2", "profile": "fleet", "behavior": "MessageStorm", "metric": "aws:num-messages-sent",
         "window_start": T0, "window_end": T0 + 300, "value": 250.0, "verdict": "normal"},
    ]  # fmt: skip
    assert [list(row) for row in rows_sent(firehose.requests)] == [[name for name, _ in HISTORY_COLUMNS]] * 3


def test_unjudged_windows_are_recorded_as_unjudged_and_an_empty_flush_sends_nothing():
    firehose = RecordingFirehose()
    sink = FirehoseWindowSink(STREAM, firehose=firehose)
    sink.flush()
    assert firehose.requests == []
    sink.record(BEHAVIOR, "meter-1", (ClosedWindow(T0, T0 + 300, 3, None),))
    sink.flush()
    sink.flush()  # what was sent is not sent again
    assert [row["verdict"] for row in rows_sent(firehose.requests)] == ["unjudged"]


def test_a_large_flush_is_split_within_the_record_and_call_limits():
    # Given about 5 MB of rows: more than one record (1,000 KiB) and more than one call (4 MB)
    firehose = RecordingFirehose()
    sink = FirehoseWindowSink(STREAM, firehose=firehose)
    for thing in range(2500):
        sink.record(BEHAVIOR, f"meter-with-a-long-enough-name-{thing:05d}", windows(8))
    sink.flush()
    assert [len(request["Records"]) for request in firehose.requests] == [3, 2]
    assert len(rows_sent(firehose.requests)) == 20_000


def test_no_call_carries_more_than_500_records(monkeypatch):
    monkeypatch.setattr(window_history, "RECORD_BYTES", 1)  # one row per record
    firehose = RecordingFirehose()
    sink = FirehoseWindowSink(STREAM, firehose=firehose)
    sink.record(BEHAVIOR, "meter-1", windows(1200))
    sink.flush()
    assert [len(request["Records"]) for request in firehose.requests] == [500, 500, 200]


def test_rejected_records_alone_are_sent_again_after_a_pause():
    # Given a call whose second record Firehose rejects once
    firehose = RecordingFirehose(reject={0: {1}})
    pauses: list[float] = []
    dropped: list[tuple[int, str]] = []
    sink = FirehoseWindowSink(
        STREAM, firehose=firehose, sleep=pauses.append, on_dropped=lambda n, why: dropped.append((n, why))
    )
    lines = [b'{"row": %d}\n' % i for i in range(3)]
    records = [window_history._Record(line, 1) for line in lines]
    assert sink._send(records) == (0, "")
    assert [[r["Data"] for r in request["Records"]] for request in firehose.requests] == [lines, [lines[1]]]
    assert pauses == [0.2]
    assert dropped == []


def test_fails_when_firehose_keeps_rejecting_then_rows_are_dropped_reported_and_the_flush_returns():
    firehose = RecordingFirehose(reject={0: {0}, 1: {0}, 2: {0}})
    pauses: list[float] = []
    dropped: list[tuple[int, str]] = []
    sink = FirehoseWindowSink(
        STREAM, firehose=firehose, sleep=pauses.append, on_dropped=lambda n, why: dropped.append((n, why))
    )
    sink.record(BEHAVIOR, "meter-1", windows(4))
    sink.flush()
    assert len(firehose.requests) == 3  # ATTEMPTS sends, then it gives up
    assert pauses == [0.2, 0.4]
    assert dropped == [(4, "ServiceUnavailableException: Slow down. (after 3 sends)")]


def test_fails_when_the_call_itself_fails_then_its_rows_are_dropped_without_retrying_on_top_of_the_client():
    # Given the real client, stubbed: validated against the firehose model as boto3 would send it
    client = boto3.client("firehose", region_name=REGION)
    dropped: list[tuple[int, str]] = []
    sink = FirehoseWindowSink(STREAM, firehose=client, on_dropped=lambda n, why: dropped.append((n, why)))
    sink.record(BEHAVIOR, "meter-1", windows(2))
    with Stubber(client) as stub:
        stub.add_client_error("put_record_batch", "ResourceNotFoundException", "Firehose window-history not found.")
        sink.flush()
        stub.assert_no_pending_responses()
    [(rows, why)] = dropped
    assert rows == 2
    assert why.startswith("PutRecordBatch failed: An error occurred (ResourceNotFoundException)")


def test_a_partial_failure_is_read_from_the_documented_response_shape():
    client = boto3.client("firehose", region_name=REGION)
    sink = FirehoseWindowSink(STREAM, firehose=client, sleep=lambda _: None)
    sink.record(BEHAVIOR, "meter-1", windows(1))
    data = rows_data(windows(1))
    with Stubber(client) as stub:  # the Stubber checks each response against the model too
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "Try again."}
        stub.add_response(
            "put_record_batch",
            {"FailedPutCount": 1, "RequestResponses": [failed]},
            {"DeliveryStreamName": STREAM, "Records": [{"Data": data}]},
        )
        stub.add_response(
            "put_record_batch",
            {"FailedPutCount": 0, "Encrypted": True, "RequestResponses": [{"RecordId": "r0"}]},
            {"DeliveryStreamName": STREAM, "Records": [{"Data": data}]},
        )
        sink.flush()
        stub.assert_no_pending_responses()


def rows_data(closed: tuple[ClosedWindow, ...]) -> bytes:
    firehose = RecordingFirehose()
    sink = FirehoseWindowSink(STREAM, firehose=firehose)
    sink.record(BEHAVIOR, "meter-1", closed)
    sink.flush()
    return firehose.requests[0]["Records"][0]["Data"]


names = st.text(min_size=1, max_size=128)
rejections = st.lists(st.sets(st.integers(0, 5), max_size=6), max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    things=st.lists(names, min_size=1, max_size=30),
    values=st.lists(st.floats(0, 1e15, allow_nan=False), min_size=1, max_size=5),
    rejected=rejections,
)
def test_every_row_is_either_delivered_once_or_counted_as_dropped(monkeypatch_module, things, values, rejected):
    # Given any rows (any thing names) and any pattern of rejected records, with small records
    monkeypatch_module.setattr(window_history, "RECORD_BYTES", 700)
    firehose = RecordingFirehose(reject=dict(enumerate(rejected)))
    dropped: list[int] = []
    sink = FirehoseWindowSink(
        STREAM, firehose=firehose, sleep=lambda _: None, on_dropped=lambda n, _: dropped.append(n)
    )
    closed = tuple(ClosedWindow(T0, T0 + 300, value, False) for value in values)
    for thing in things:
        sink.record(BEHAVIOR, thing, closed)
    sink.flush()  # never raises
    # Then each accepted record's rows parse back, and accepted + dropped is every row, once
    accepted = [
        record["Data"]
        for index, request in enumerate(firehose.requests)
        for position, record in enumerate(request["Records"])
        if position not in firehose.reject.get(index, set())
    ]
    delivered = [json.loads(line) for data in accepted for line in data.decode().splitlines()]
    assert len(delivered) + sum(dropped) == len(things) * len(values)
    assert {row["thing_name"] for row in delivered} <= set(things)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_fails_at_cold_start_when_the_history_stream_name_is_not_a_stream_name(monkeypatch):
    monkeypatch.setenv("STATE_TABLE_NAME", "t")
    monkeypatch.setenv("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts")
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [STORM.to_api()]}]}))
    monkeypatch.setenv("HISTORY_STREAM_NAME", "no spaces allowed")
    evaluator_config.config.cache_clear()
    with pytest.raises(evaluator_config.ConfigurationError) as raised:
        evaluator_config.config()
    evaluator_config.config.cache_clear()
    assert str(raised.value) == (
        "invalid evaluator configuration: HISTORY_STREAM_NAME 'no spaces allowed' must be 1 to 64 characters "
        "of [a-zA-Z0-9_.-]"
    )


# On moto: the evaluator's own windows, through Invocation.open, into the stream's bucket


@pytest.fixture
def history_world(world, monkeypatch):
    s3 = boto3.client("s3", region_name=REGION)
    firehose = boto3.client("firehose", region_name=REGION)
    s3.create_bucket(Bucket="history")
    firehose.create_delivery_stream(
        DeliveryStreamName=STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/history-delivery",
            "BucketARN": "arn:aws:s3:::history",
            "Prefix": "windows/",
        },
    )
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [STORM.to_api()]}]}))
    monkeypatch.setenv("HISTORY_STREAM_NAME", STREAM)
    handler.clear_caches()
    return world, s3, firehose


def datapoints(sequence: str, thing: str, value: int, seconds: float) -> dict[str, Any]:
    from tests.lambdas.test_detect_evaluator import sent

    return sent(sequence, thing, value, seconds)


def landed_rows(s3) -> list[dict[str, Any]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="history", Prefix="windows/").get("Contents", [])]
    data = b"".join(s3.get_object(Bucket="history", Key=key)["Body"].read() for key in sorted(keys))
    return [json.loads(line) for line in data.decode().splitlines()]


def test_the_evaluators_closed_windows_land_in_the_history_bucket(history_world):
    _, s3, _ = history_world
    records = [datapoints("1", "t1", 500, 10), datapoints("2", "t2", 5, 20)]
    assert handler.evaluate_batch(records, now=1_700_000_100 + 380) == {"batchItemFailures": []}
    rows = sorted(landed_rows(s3), key=lambda row: row["thing_name"])
    assert [(r["thing_name"], r["value"], r["verdict"]) for r in rows] == [
        ("t1", 500.0, "violating"),
        ("t2", 5.0, "normal"),
    ]
    assert {(r["window_start"], r["window_end"], r["behavior"], r["profile"]) for r in rows} == {
        (1_700_000_100, 1_700_000_400, "MessageStorm", "fleet")
    }


def test_fails_when_the_stream_is_gone_yet_the_batch_succeeds_and_the_alarm_is_published(history_world, monkeypatch):
    world, _, firehose = history_world
    firehose.delete_delivery_stream(DeliveryStreamName=STREAM)
    counted: list[tuple[int, str]] = []
    monkeypatch.setattr(invocation, "report_dropped_rows", lambda rows, why: counted.append((rows, why)))
    assert handler.evaluate_batch([datapoints("1", "t1", 500, 10)], now=1_700_000_100 + 380) == {
        "batchItemFailures": []
    }
    assert [n["violationEventType"] for n in world.notifications()] == ["in-alarm"]
    [(rows, why)] = counted
    assert rows == 1 and "ResourceNotFoundException" in why


def test_dropped_rows_are_logged_and_counted_in_the_history_rows_dropped_metric(capsys, caplog):
    from iot_defender_runtime.detect_evaluator.observability import metrics

    metrics.clear_metrics()
    invocation.report_dropped_rows(3, "InternalFailure: Try again. (after 3 sends)")
    metrics.flush_metrics()
    [logged] = [record for record in caplog.records if record.getMessage() == "window history rows dropped"]
    assert (logged.levelname, logged.rows, logged.reason) == (
        "WARNING",
        3,
        "InternalFailure: Try again. (after 3 sends)",
    )
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    [metric] = [m for m in emitted if "HistoryRowsDropped" in m]
    assert metric["HistoryRowsDropped"] == [3.0]
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DeviceDefender/SelfHostedDetect"
