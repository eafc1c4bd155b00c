"""Both SQS handlers, on moto, take batches of generated records, good and broken in every way a
sender or an attacker can break them: JSON nested far too deep, epoch times no date holds, numbers
beyond a double, ``NaN``/``Infinity``, wrong types for every field, lone surrogates (in the body or
escaped in a JSON string), SNS envelopes with a broken ``Message``/``Type``/``Timestamp``, bodies that
are not objects or not text; and good records carrying unknown fields (null ones included) at every
level of the violation.

Whatever a batch holds: no exception escapes; each bad record fails alone (``batchItemFailures``),
logged once as "rejected record" with its message id and a reason that the log can write (the JSON
line encodes to UTF-8) and counted once in ``RejectedRecords``; each good record is acted on once
(one notification per violation however often it is delivered, the thing quarantined; one per
audit notification) and its unknown fields reach the notification as they came."""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
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
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
VIOLATION = load_event("violation_in_alarm_rule.json")
AUDIT = {**load_event("audit_completed_legacy_names.json"), "taskStatus": "FAILED"}
THING = "good-thing"
_ids = itertools.count()

# --- unknown fields and JSON values --------------------------------------------------------------

_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.none() | st.booleans() | st.integers() | st.integers(10**20, 10**300) | st.text(max_size=8) | _FINITE
_JSON = st.recursive(
    _SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8
)
# Names no level of the violation models: new API fields, and the models' Python names (read as API names only)
_UNKNOWN_NAMES = st.sampled_from(["futureField", "thing_name", "suppress_alerts", "duration_seconds", "x"]) | st.text(
    st.characters(categories=["L", "N"]), min_size=1, max_size=8
).map(lambda name: f"u{name}")
_LEVELS = [(), ("behavior",), ("behavior", "criteria"), ("behavior", "criteria", "value"), ("metricValue",)]


def _at(event: dict[str, Any], level: tuple[str, ...]) -> dict[str, Any]:
    for key in level:
        event = event[key]
    return event


def _with_unknowns(event: dict[str, Any], unknowns: list[tuple[int, str, Any]]) -> dict[str, Any]:
    event = json.loads(json.dumps(event))
    for level, name, value in unknowns:
        block = _at(event, _LEVELS[level % len(_LEVELS)])
        block.setdefault(name, value)
    return event


_UNKNOWNS = st.lists(st.tuples(st.integers(0, 9), _UNKNOWN_NAMES, _JSON), max_size=4)


def _sns(body: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": body})


# --- bad bodies ----------------------------------------------------------------------------------


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _replaced(event: dict[str, Any], path: tuple[str, ...], value: Any) -> str:
    event = json.loads(json.dumps(event))
    _at(event, path[:-1])[path[-1]] = value
    return json.dumps(event)


_WRONG = (
    st.none()
    | st.booleans()
    | st.lists(st.integers(), min_size=1, max_size=2)
    | st.dictionaries(st.text(max_size=3), st.none())
)
_REQUIRED = [("thingName",), ("violationId",), ("behavior",), ("violationEventType",), ("securityProfileName",)]


def _bad_bodies(good: dict[str, Any], required: list[tuple[str, ...]]) -> st.SearchStrategy[str]:
    payloads = st.one_of(
        st.integers(33, 30_000).map(_deep),  # RecursionError in json, or past the depth limit
        st.integers(33, 2_000).map(lambda d: json.dumps(good)[:-1] + f', "deep": {_deep(d)}}}'),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]).map(
            lambda n: json.dumps(good)[:-1] + f', "x": {n}}}'
        ),  # not JSON / no double holds it
        st.tuples(st.sampled_from(required), _WRONG).map(lambda p: _replaced(good, *p)),  # wrong types
        st.sampled_from(required).map(lambda p: _replaced(good, p, "\ud800")),  # escaped lone surrogate
        st.just(json.dumps({**good, "\udcff": 1})),
        st.just("{\udc80}"),  # a lone surrogate in the body itself: not UTF-8
        st.text(max_size=30).filter(lambda t: not t.strip().startswith("{")),
        _JSON.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
        st.just(json.dumps({**good, "pad": "x" * 70_000})),  # over 64 KiB
    )
    envelopes = st.one_of(
        payloads.map(_sns),
        _WRONG.map(lambda m: json.dumps({"Type": "Notification", "Message": m})),  # Message not a string
        st.sampled_from(["{", "", "[1]", '{"a": 1}']).map(lambda m: json.dumps({"Type": "Notification", "Message": m})),
        st.sampled_from(["SubscriptionConfirmation", "\ud800", 7, None]).map(
            lambda t: json.dumps({"Type": t, "Message": json.dumps(good)})
        ),
        st.sampled_from([{"Timestamp": "yesterday"}, {"UnsubscribeURL": "not a url"}, {"MessageAttributes": 5}]).map(
            lambda extra: json.dumps({"Type": "Notification", "Message": json.dumps(good), **extra})
        ),
    )
    return payloads | envelopes


_BAD_VIOLATIONS = _bad_bodies(VIOLATION, _REQUIRED) | st.one_of(
    st.sampled_from([1e300, -1e300, 10**20, 10**400, -(10**17), True, "yesterday", None]).map(
        lambda t: _replaced(VIOLATION, ("violationEventTime",), t)  # OverflowError / OSError in fromtimestamp
    ),
    st.sampled_from([-1, 2**64, "many", 1.5]).map(lambda c: _replaced(VIOLATION, ("metricValue", "count"), c)),
    st.just(_replaced(VIOLATION, ("behavior", "criteria"), [])),
)
_BAD_AUDITS = _bad_bodies(AUDIT, [("accountId",), ("taskId",), ("auditDetails",), ("nonCompliantChecksCount",)])


# --- capture: log lines as the function writes them, and metrics -------------------------------


class Lines(logging.Handler):
    """Each warning as the Powertools formatter writes it, checked to encode as the Lambda log does."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[dict[str, Any]] = []
        self.powertools = formatter

    def emit(self, record: logging.LogRecord) -> None:
        line = self.powertools.format(record)
        line.encode("utf-8")  # a lone surrogate here would make the real log line vanish
        self.lines.append(json.loads(line))

    def take(self) -> list[dict[str, Any]]:
        taken, self.lines = self.lines, []
        return taken


@pytest.fixture
def captured(world, monkeypatch) -> Iterator[Any]:
    world.add_thing(THING)
    world.metric = Counter()
    handlers = []
    for module in (quarantine_handler, audit_handler):
        lines = Lines(module.logger.registered_formatter)
        logging.getLogger(module.SERVICE).addHandler(lines)
        handlers.append((module, lines))
        add_metric = module.metrics.add_metric

        def counted(*, name: str, _add: Any = add_metric, **kwargs: Any) -> None:
            world.metric[name] += 1
            _add(name=name, **kwargs)

        monkeypatch.setattr(module.metrics, "add_metric", counted)
    world.lines = {module: lines for module, lines in handlers}
    yield world
    for module, lines in handlers:
        logging.getLogger(module.SERVICE).removeHandler(lines)


def _deliver(world, module: Any, bodies: list[tuple[str, str]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Send one batch of (kind, body); return the failed message ids and the warnings logged."""
    world.metric.clear()
    world.notifications()
    world.lines[module].take()
    records = [sqs_record(body, f"{kind}-{i}") for i, (kind, body) in enumerate(bodies)]
    response = module.lambda_handler({"Records": records}, LambdaContext())  # raises nothing
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]], world.lines[module].take()


def _assert_bad_ones_rejected_alone(world, bodies: list[tuple[str, str]], failed: list[str], logged: list) -> None:
    bad = [f"{kind}-{i}" for i, (kind, _) in enumerate(bodies) if kind == "bad"]
    assert sorted(failed) == sorted(bad)
    rejected = Counter(line["message_id"] for line in logged if line["message"] == "rejected record")
    assert rejected == Counter(bad)
    assert all(line["reason"].strip() for line in logged if line["message"] == "rejected record")
    assert not [line for line in logged if line["message"] == "record failed"]
    assert world.metric["RejectedRecords"] == len(bad)


def _unknowns_kept(sent: dict[str, Any], notified: dict[str, Any]) -> None:
    """Every field of ``sent`` is in ``notified`` as it came, except the time (ISO there)."""
    for name, value in sent.items():
        if name == "violationEventTime":
            continue
        assert name in notified, name
        if isinstance(value, dict) and isinstance(notified[name], dict):
            _unknowns_kept(value, notified[name])
        else:
            assert notified[name] == value, name


# --- the properties ------------------------------------------------------------------------------

_GOOD_VIOLATION = st.tuples(_UNKNOWNS, st.booleans(), st.integers(1, 2))
_QUARANTINE_ENTRY = _GOOD_VIOLATION.map(lambda g: ("good", g)) | _BAD_VIOLATIONS.map(lambda b: ("bad", b))


@SETTINGS
@given(entries=st.lists(_QUARANTINE_ENTRY, min_size=1, max_size=5))
def test_quarantine_batch_rejects_each_bad_record_alone_and_acts_once_on_each_good_one(captured, entries):
    bodies, sent = [], {}
    for kind, entry in entries:
        if kind == "bad":
            bodies.append(("bad", entry))
            continue
        unknowns, wrapped, copies = entry
        event = _with_unknowns({**VIOLATION, "thingName": THING, "violationId": f"v-{next(_ids)}"}, unknowns)
        sent[event["violationId"]] = event
        bodies += [("good", _sns(json.dumps(event)) if wrapped else json.dumps(event))] * copies  # redelivered

    failed, logged = _deliver(captured, quarantine_handler, bodies)

    _assert_bad_ones_rejected_alone(captured, bodies, failed, logged)
    notified = [n["violation"] for n in captured.notifications() if n.get("thingName") == THING]
    once_each = Counter(dict.fromkeys(sent, 1))  # however often each was delivered
    assert Counter(n["violationId"] for n in notified) == once_each
    for violation in notified:
        _unknowns_kept(sent[violation["violationId"]], violation)
    if sent:
        assert QUARANTINE_GROUP in captured.groups_of(THING)


_AUDIT_ENTRY = _UNKNOWNS.map(lambda u: ("good", u)) | _BAD_AUDITS.map(lambda b: ("bad", b))


@SETTINGS
@given(entries=st.lists(_AUDIT_ENTRY, min_size=1, max_size=5))
def test_audit_batch_rejects_each_bad_record_alone_and_acts_once_on_each_good_one(captured, entries):
    bodies, sent = [], {}
    for kind, entry in entries:
        if kind == "bad":
            bodies.append(("bad", entry))
            continue
        audit = {**AUDIT, "taskId": f"t-{next(_ids)}"}
        unknowns = {name: value for _, name, value in entry}
        sent[audit["taskId"]] = unknowns
        bodies.append(("good", json.dumps({**unknowns, **audit})))

    failed, logged = _deliver(captured, audit_handler, bodies)

    _assert_bad_ones_rejected_alone(captured, bodies, failed, logged)
    notified = [n["audit"] for n in captured.notifications() if "audit" in n]
    assert Counter(n["taskId"] for n in notified) == Counter(dict.fromkeys(sent, 1))
    for audit in notified:
        unknowns = sent[audit["taskId"]]
        assert {name: audit.get(name, "missing") for name in unknowns} == unknowns
