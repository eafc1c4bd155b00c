"""Property: one bad SQS record among good ones fails alone, in both handlers, with a warning naming why.

Whatever the body (random text, random JSON, JSON nested far too deep, an epoch time no date can
hold, each raw or in an SNS notification), the batch answers exactly that record in
``batchItemFailures`` (SQS retries it, then moves it to the DLQ), logs "rejected record" with its
message id and a reason, and the good records around it are processed.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iot_defender_runtime.audit_remediation import handler as audit_handler
from iot_defender_runtime.quarantine import handler as quarantine_handler
from tests.lambdas.conftest import QUARANTINE_GROUP, LambdaContext, load_event
from tests.lambdas.test_quarantine_handler import sqs_record

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
VIOLATION = load_event("violation_in_alarm_rule.json")
AUDIT = load_event("audit_completed_legacy_names.json")
_ids = itertools.count()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


def _deep(depth: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return opener * depth + "0" + closer * depth


deep_json = st.builds(_deep, st.integers(min_value=33, max_value=20_000), st.sampled_from(["[", '{"a":']))
deep_inside_a_violation = st.integers(min_value=33, max_value=5_000).map(
    lambda depth: json.dumps(VIOLATION)[:-1] + ', "extra": ' + _deep(depth, "[") + "}"
)
beyond_any_date = st.one_of(
    st.integers(min_value=10**15, max_value=10**400),
    st.integers(max_value=-(10**15), min_value=-(10**400)),
    st.floats(min_value=1e15),
    st.floats(max_value=-1e15),
).map(lambda epoch: json.dumps({**VIOLATION, "violationEventTime": epoch}))
bad_payloads = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    deep_json,
    deep_inside_a_violation,
    beyond_any_date,
)
bad_bodies = st.one_of(
    bad_payloads, bad_payloads.map(lambda body: json.dumps({"Type": "Notification", "Message": body}))
)


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[tuple[str, str | None, str | None]]:
        taken = [(r.getMessage(), getattr(r, "message_id", None), getattr(r, "reason", None)) for r in self.records]
        self.records.clear()
        return taken


@pytest.fixture
def warnings() -> Iterator[Warnings]:
    collector = Warnings()
    loggers = [logging.getLogger(quarantine_handler.SERVICE), logging.getLogger(audit_handler.SERVICE)]
    for logger in loggers:
        logger.addHandler(collector)
    yield collector
    for logger in loggers:
        logger.removeHandler(collector)


def fresh_start(world, warnings: Warnings) -> None:
    """Examples share one moto account: forget what an earlier (perhaps failed) example left behind."""
    world.notifications()
    warnings.take()


def assert_failed_alone(response: dict[str, Any], warnings: Warnings) -> None:
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    [(message, message_id, reason)] = [w for w in warnings.take() if w[1] == "bad"]
    assert (message, message_id) == ("rejected record", "bad")
    assert reason and reason.strip()


@SETTINGS
@given(body=bad_bodies)
def test_quarantine_a_bad_record_fails_alone_and_is_logged(world, warnings, body):
    if "good-a" not in _things(world):
        world.add_thing("good-a")
    fresh_start(world, warnings)
    good = [{**VIOLATION, "thingName": "good-a", "violationId": f"good-{next(_ids)}"} for _ in range(2)]
    records = [sqs_record(json.dumps(good[0]), "g0"), sqs_record(body, "bad"), sqs_record(json.dumps(good[1]), "g1")]

    response = quarantine_handler.lambda_handler({"Records": records}, LambdaContext())

    assert_failed_alone(response, warnings)
    assert QUARANTINE_GROUP in world.groups_of("good-a")
    handled = [n["violation"]["violationId"] for n in world.notifications() if n.get("thingName") == "good-a"]
    assert sorted(handled) == sorted(g["violationId"] for g in good)


@SETTINGS
@given(body=bad_bodies)
def test_audit_a_bad_record_fails_alone_and_is_logged(world, warnings, body):
    fresh_start(world, warnings)
    good = [{**AUDIT, "taskStatus": "FAILED", "taskId": f"good-{next(_ids)}"} for _ in range(2)]
    records = [sqs_record(json.dumps(good[0]), "g0"), sqs_record(body, "bad"), sqs_record(json.dumps(good[1]), "g1")]

    response = audit_handler.lambda_handler({"Records": records}, LambdaContext())

    assert_failed_alone(response, warnings)
    notified = [n["audit"]["taskId"] for n in world.notifications() if "audit" in n]
    assert sorted(notified) == sorted(g["taskId"] for g in good)


def _things(world) -> set[str]:
    return {t["thingName"] for t in world.iot.list_things()["things"]}


def test_a_bad_direct_sns_message_fails_the_invocation_and_is_logged(world, warnings):
    # Direct SNS has no partial batches: Lambda retries the invocation, then uses the function's DLQ.
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "sns-1", "Message": "[" * 5000}}]}
    with pytest.raises(quarantine_handler.UnreadableRecordError, match="nested more than 32 levels deep"):
        quarantine_handler.lambda_handler(event, LambdaContext())
    [(message, message_id, reason)] = warnings.take()
    assert (message, message_id) == ("rejected record", "sns-1")
    assert "nested more than 32 levels deep" in reason
