"""IoT calls the quarantine responder makes (counted with botocore's before-call events), the record it
keeps when it reads no certificate, and what importing its handler imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.model.remediation_policy import RemediationPolicy, RemediationRule
from iot_defender_runtime.quarantine import release
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP
from tests.lambdas.test_quarantine_handler import invoke, sqs_record
from tests.lambdas.test_remediation import cleared, in_alarm, use_policy

ROOT = Path(__file__).resolve().parents[2]
QUARANTINE_THEN_CONTAIN = RemediationPolicy(
    [
        RemediationRule("contain", actions=["quarantine", "deactivate-certificates", "notify"], behaviors=["contain"]),
        RemediationRule("quarantine", actions=["quarantine", "notify"], event_types=["in-alarm"]),
    ]
)


@pytest.fixture
def iot_calls(world) -> Iterator[list[str]]:
    """Every IoT operation the function's client makes, in order."""
    calls: list[str] = []

    def count(model, **_):
        calls.append(model.name)

    client("iot").meta.events.register("before-call.iot", count)
    yield calls


def deliver(event: dict, message_id: str = "m") -> None:
    assert invoke(sqs_record(json.dumps(event), message_id)) == {"batchItemFailures": []}


def test_a_newly_quarantined_thing_costs_three_iot_calls_and_a_duplicate_none(world, iot_calls):
    world.add_thing("meter-1")
    world.add_certificate("meter-1")

    deliver(in_alarm("meter-1"))
    assert iot_calls == ["DescribeThing", "ListThingGroupsForThing", "AddThingToThingGroup"]
    assert QUARANTINE_GROUP in world.groups_of("meter-1")

    iot_calls.clear()
    deliver(in_alarm("meter-1"), "again")
    assert iot_calls == []
    assert len(world.notifications()) == 1


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (None, "no-matching-rule"),  # the default policy has no rule for alarm-cleared
        (
            RemediationPolicy([RemediationRule("tell", actions=["notify"], event_types=["alarm-cleared"])]),
            "notify-only",
        ),
    ],
)
def test_an_event_the_thing_cannot_change_makes_no_iot_call(world, monkeypatch, iot_calls, policy, outcome):
    if policy is not None:
        use_policy(monkeypatch, policy)
    world.add_thing("meter-2")
    deliver(cleared("meter-2"))
    assert iot_calls == []
    [notified] = world.notifications()
    assert notified["decision"]["outcome"] == outcome


def test_an_already_quarantined_thing_is_read_and_left_alone(world, iot_calls):
    world.add_thing("meter-3", groups=(FLEET_GROUP, QUARANTINE_GROUP))
    deliver(in_alarm("meter-3"))
    assert iot_calls == ["DescribeThing", "ListThingGroupsForThing"]


def test_quarantine_alone_records_no_certificate_so_release_leaves_certificates_as_they_are(world, iot_calls):
    # Given a quarantined thing whose certificate an operator deactivated meanwhile
    world.add_thing("meter-4")
    certificate = world.add_certificate("meter-4")
    deliver(in_alarm("meter-4"))
    assert world.record_of("meter-4")["certificatesBefore"] == {"M": {}}
    world.iot.update_certificate(certificateId=certificate, newStatus="INACTIVE")

    # When it is released, it leaves the quarantine group and its certificate stays as the operator left it
    assert release.main(["meter-4"]) == 0
    assert world.groups_of("meter-4") == [FLEET_GROUP]
    assert world.certificate_status(certificate) == "INACTIVE"


def test_deactivation_after_a_quarantine_adds_the_certificate_states_to_the_record(world, monkeypatch, iot_calls):
    # Given a thing quarantined by a rule that leaves certificates alone
    use_policy(monkeypatch, QUARANTINE_THEN_CONTAIN)
    world.add_thing("meter-5")
    active = world.add_certificate("meter-5", active=True)
    inactive = world.add_certificate("meter-5", active=False)
    deliver(in_alarm("meter-5"))

    # When a later violation's rule deactivates its certificates
    iot_calls.clear()
    event = in_alarm("meter-5", violation_id="v2")
    event["behavior"] = {**event["behavior"], "name": "contain"}
    deliver(event, "m2")

    # Then their states before the change are recorded, and a release restores them
    assert iot_calls.count("DescribeCertificate") == 2 and iot_calls.count("UpdateCertificate") == 1
    record = world.record_of("meter-5")
    assert {k: v["S"] for k, v in record["certificatesBefore"]["M"].items()} == {active: "ACTIVE", inactive: "INACTIVE"}
    assert record["violationId"]["S"] == "123456789"  # the first record's cause is kept
    assert release.main(["meter-5"]) == 0
    assert (world.certificate_status(active), world.certificate_status(inactive)) == ("ACTIVE", "INACTIVE")


def test_certificate_states_already_recorded_are_kept(world):
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords

    world.add_thing("meter-6")
    certificate = world.add_certificate("meter-6")
    deliver(in_alarm("meter-6"))
    records = QuarantineRecords("defender-state", world.dynamodb)
    records.add_certificates_if_absent("meter-6", {certificate: "ACTIVE"})
    records.add_certificates_if_absent("meter-6", {certificate: "INACTIVE", "other": "REVOKED"})
    assert records.get("meter-6").certificates_before == {certificate: "ACTIVE", "other": "REVOKED"}
    records.add_certificates_if_absent("released-meanwhile", {certificate: "ACTIVE"})
    assert records.get("released-meanwhile") is None


def test_importing_the_handler_imports_neither_boto3_nor_the_xray_sdk():
    probe = (
        "import sys, iot_defender_runtime.quarantine.handler as h; "
        "print(sorted(m for m in ('boto3', 'aws_xray_sdk', 'aws_lambda_powertools.utilities.idempotency') "
        "if m in sys.modules))"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "lambdas")}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT, env=environment
    )
    assert out.stdout.strip() == "[]"
