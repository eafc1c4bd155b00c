"""The default remediation policy, table-driven: pure logic, no AWS."""

from __future__ import annotations

import json

import pytest

from lambdas.quarantine.decision import Action, Outcome, decide
from lambdas.shared.things import ThingFacts
from lambdas.shared.violation import parse_violation_message
from tests.lambdas.conftest import load_event

IN_ALARM = parse_violation_message(json.dumps(load_event("violation_in_alarm_rule.json")))
CLEARED = parse_violation_message(json.dumps(load_event("violation_alarm_cleared_rule.json")))
INVALIDATED = parse_violation_message(json.dumps(load_event("violation_alarm_invalidated_ml.json")))


@pytest.mark.parametrize(
    ("violation", "thing", "outcome", "actions"),
    [
        (IN_ALARM, ThingFacts("t", True, {}, ("fleet",)), Outcome.QUARANTINE, (Action.QUARANTINE, Action.NOTIFY)),
        (IN_ALARM, ThingFacts("t", True, {}, ("fleet", "q")), Outcome.ALREADY_QUARANTINED, (Action.NOTIFY,)),
        (IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": "true"}), Outcome.EXEMPT, (Action.NOTIFY,)),
        (IN_ALARM, ThingFacts("t", True, {"quarantine_exempt": " TRUE "}), Outcome.EXEMPT, (Action.NOTIFY,)),
        (
            IN_ALARM,
            ThingFacts("t", True, {"quarantine_exempt": "no"}),
            Outcome.QUARANTINE,
            (Action.QUARANTINE, Action.NOTIFY),
        ),
        (IN_ALARM, ThingFacts("t", False), Outcome.THING_NOT_FOUND, (Action.NOTIFY,)),
        (CLEARED, ThingFacts("t", True, {}, ("q",)), Outcome.NOTIFY_ONLY_EVENT, (Action.NOTIFY,)),
        (INVALIDATED, ThingFacts("t", True), Outcome.NOTIFY_ONLY_EVENT, (Action.NOTIFY,)),
        (CLEARED, ThingFacts("t", True, {"quarantine_exempt": "true"}), Outcome.EXEMPT, (Action.NOTIFY,)),
    ],
)
def test_default_policy(violation, thing, outcome, actions):
    decision = decide(violation, thing, quarantine_group_name="q")
    assert (decision.outcome, decision.actions) == (outcome, actions)
    assert decision.reason
