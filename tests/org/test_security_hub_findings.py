"""Security Hub findings: the ASFF builder against botocore's ``securityhub`` model and the documented
required attributes, create + update on moto through the handler, bad records failing alone, and the
construct's template (IAM, filters), cdk-nag and cfn-lint."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from constructs_lib import AlertTopic, ConstructValidationError, apply_nag_packs
from constructs_lib.synth_report import cfn_lint_findings
from iot_defender_runtime.model.security_finding import (
    FindingContext,
    SeverityLabel,
    UnknownMessageError,
    finding_of,
)
from tests.lambdas.api_shapes import problems
from tests.synth.templates import of_type

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
ROOT = Path(__file__).resolve().parents[1]
VIOLATION = json.loads((ROOT / "events" / "violation_in_alarm_rule.json").read_text())
ML_INVALIDATED = json.loads((ROOT / "events" / "violation_alarm_invalidated_ml.json").read_text())
DECISION = json.loads((ROOT / "fixtures" / "securityhub" / "quarantine_decision.json").read_text())
AUDIT = json.loads((ROOT / "fixtures" / "securityhub" / "audit_remediation.json").read_text())
ACCOUNT, REGION = "123456789012", "us-east-1"
CONTEXT = FindingContext(account=ACCOUNT, region=REGION)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# ASFF required attributes (Security Hub user guide, "Required top-level attributes in ASFF"); botocore marks
# all but Severity and Types required.
DOCUMENTED_REQUIRED = {
    "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
    "CreatedAt", "UpdatedAt", "Severity", "Title", "Description", "Resources",
}  # fmt: skip


@cache
def finding_shape() -> Any:
    return botocore.session.get_session().get_service_model("securityhub").shape_for("AwsSecurityFinding")


def _event(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**message, **changes}


MESSAGES = {
    "in-alarm": VIOLATION,
    "alarm-cleared": _event(VIOLATION, violationEventType="alarm-cleared"),
    "ml-invalidated": ML_INVALIDATED,
    "quarantine decision": DECISION,
    "audit remediation": AUDIT,
}


@pytest.mark.parametrize("name", MESSAGES)
def test_every_finding_conforms_to_the_botocore_model_and_the_documented_required_attributes(name):
    finding = finding_of(MESSAGES[name], CONTEXT, now=NOW)
    assert finding is not None
    assert problems(finding, finding_shape()) == []
    assert set(finding) >= DOCUMENTED_REQUIRED
    assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


def test_one_finding_per_violation_id_whose_state_follows_the_event_type():
    created = finding_of(VIOLATION, CONTEXT, now=NOW)
    cleared = finding_of(_event(VIOLATION, violationEventType="alarm-cleared"), CONTEXT, now=NOW)
    invalidated = finding_of(_event(VIOLATION, violationEventType="alarm-invalidated"), CONTEXT, now=NOW)
    assert created and cleared and invalidated
    assert created["Id"] == cleared["Id"] == invalidated["Id"]
    assert (created["RecordState"], created["Compliance"], created["Severity"]["Label"]) == (
        "ACTIVE", {"Status": "FAILED"}, "MEDIUM",
    )  # fmt: skip
    assert (cleared["RecordState"], cleared["Compliance"], cleared["Severity"]) == (
        "ARCHIVED", {"Status": "PASSED"}, {"Label": "INFORMATIONAL", "Original": "MEDIUM"},
    )  # fmt: skip
    assert invalidated["Compliance"] == {"Status": "NOT_AVAILABLE"} and invalidated["RecordState"] == "ARCHIVED"
    assert "Workflow" not in created  # Security Hub's after creation
    assert created["Resources"][0]["Type"] == "Other"
    assert created["Resources"][0]["Id"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/myIoTDevice"


@pytest.mark.parametrize(
    ("metric", "confidence", "override", "expected"),
    [
        ("aws:num-authorization-failures", None, None, "HIGH"),
        ("aws:source-ip-address", None, None, "HIGH"),
        ("aws:message-byte-size", None, None, "MEDIUM"),
        ("iot:custom/temperature", None, None, "MEDIUM"),
        ("aws:num-disconnects", None, None, "LOW"),
        ("aws:num-disconnects", "HIGH", None, "HIGH"),
        ("aws:source-ip-address", "LOW", None, "LOW"),
        ("aws:num-disconnects", "HIGH", "CRITICAL", "CRITICAL"),
    ],
)
def test_severity_follows_the_override_then_the_ml_confidence_then_the_metric(metric, confidence, override, expected):
    behavior: dict[str, Any] = {"name": "b", "metric": metric}
    if confidence:
        behavior["criteria"] = {"mlDetectionConfig": {"confidenceLevel": confidence}}
    overrides = {"b": SeverityLabel(override)} if override else {}
    context = FindingContext(account=ACCOUNT, region=REGION, severity_by_behavior=overrides)
    finding = finding_of(_event(VIOLATION, behavior=behavior), context, now=NOW)
    assert finding is not None and finding["Severity"]["Label"] == expected
    assert finding["FindingProviderFields"]["Severity"]["Label"] == expected


def test_each_events_decision_is_a_finding_of_its_own_and_a_closed_violations_is_archived():
    """The alarm-cleared decision (notify) does not overwrite the in-alarm one (quarantine)."""
    violation_id = finding_of(VIOLATION, CONTEXT, now=NOW)["Id"]  # type: ignore[index]
    opened = finding_of(DECISION, CONTEXT, now=NOW)
    cleared_violation = {**DECISION["violation"], "violationEventType": "alarm-cleared"}
    cleared = finding_of({**DECISION, "violation": cleared_violation}, CONTEXT, now=NOW)
    assert opened and cleared
    assert opened["Id"] == f"{violation_id}/decision/in-alarm"
    assert cleared["Id"] == f"{violation_id}/decision/alarm-cleared"
    assert (opened["RecordState"], cleared["RecordState"]) == ("ACTIVE", "ARCHIVED")


def test_decision_and_audit_findings_carry_what_was_done():
    decision = finding_of(DECISION, CONTEXT, now=NOW)
    audit = finding_of(AUDIT, CONTEXT, now=NOW)
    assert decision and audit
    violation_id = finding_of(VIOLATION, CONTEXT, now=NOW)["Id"]  # type: ignore[index]
    assert decision["RelatedFindings"] == [{"ProductArn": CONTEXT.product_arn, "Id": violation_id}]
    assert decision["ProductFields"]["iot-defender/quarantine/actionsTaken"] == '["added to thing group quarantine"]'
    assert audit["Severity"] == {"Label": "CRITICAL", "Original": "CRITICAL"}
    assert audit["Resources"][0]["Id"] == (
        f"arn:aws:iot:{REGION}:{ACCOUNT}:cert/b193ab7162c0fadca83246d24fa090300a1236fe58137e121b011804d8ac1d6b"
    )
    assert audit["CreatedAt"] == "2019-06-10T10:03:37.592Z"
    assert audit["Compliance"] == {"Status": "FAILED"}


def test_notices_are_no_finding_and_other_messages_are_refused():
    breaker = {"source": "iot-device-defender-constructs/quarantine", "breaker": {"tripped": True}}
    assert finding_of(breaker, CONTEXT, now=NOW) is None
    with pytest.raises(UnknownMessageError):
        finding_of({"hello": "world"}, CONTEXT, now=NOW)


def test_long_values_are_cut_to_the_asff_limits():
    long_name = "t" * 128
    finding = finding_of(
        _event(DECISION, decision={**DECISION["decision"], "reason": "r" * 5000}, thingName=long_name), CONTEXT, now=NOW
    )
    assert finding is not None and problems(finding, finding_shape()) == []
    assert len(finding["Description"]) <= 1024 and len(finding["Title"]) <= 256
    assert all(len(value) <= 2048 for value in finding["ProductFields"].values())


# The handler on moto: create, update, and bad records failing alone.


def _record(body: str, message_id: str) -> dict[str, Any]:
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
    return {"messageId": message_id, "receiptHandle": "h", "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": queue, "attributes": {}, "messageAttributes": {}}  # fmt: skip


@pytest.fixture
def handler(monkeypatch):
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("FINDINGS_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("SEVERITY_BY_BEHAVIOR", '{"messageSize": "HIGH"}')
    with mock_aws():
        from iot_defender_runtime.adapters import aws_clients
        from iot_defender_runtime.security_hub_findings import handler as module

        aws_clients.client.cache_clear()
        runtime = module.runtime  # a test may replace it; the cached one is cleared either way
        runtime.cache_clear()
        yield module
        runtime.cache_clear()
        aws_clients.client.cache_clear()


def _context() -> Any:
    from tests.lambdas.conftest import LambdaContext

    return LambdaContext(function_name="security-hub-findings")


def test_handler_creates_then_updates_the_finding_and_fails_a_bad_record_alone(handler):
    cleared = json.dumps(_event(VIOLATION, violationEventType="alarm-cleared", violationEventTime=1582745460000))
    sns_wrapped = json.dumps({"Type": "Notification", "Message": json.dumps(VIOLATION)})
    first = handler.lambda_handler({"Records": [_record(sns_wrapped, "1"), _record("{not json", "2")]}, _context())
    assert first == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    securityhub = boto3.client("securityhub", region_name=REGION)
    [created] = securityhub.get_findings()["Findings"]
    assert (created["RecordState"], created["Severity"]["Label"]) == ("ACTIVE", "HIGH")
    second = handler.lambda_handler(
        {"Records": [_record(cleared, "3"), _record(json.dumps(DECISION), "4")]}, _context()
    )
    assert second == {"batchItemFailures": []}
    findings = {f["Id"]: f for f in securityhub.get_findings()["Findings"]}
    assert len(findings) == 2
    updated = findings[created["Id"]]
    assert (updated["RecordState"], updated["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")
    assert updated["UpdatedAt"] == "2020-02-26T19:31:00.000Z"


def test_handler_fails_a_record_security_hub_refuses(handler, monkeypatch):
    from iot_defender_runtime.adapters.security_hub import SecurityHubFindings

    class Refusing:
        def batch_import_findings(self, Findings):  # noqa: N803 - the API's parameter name
            refused = {"Id": Findings[0]["Id"], "ErrorCode": "InvalidInput", "ErrorMessage": "no"}
            return {"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [refused]}

    monkeypatch.setattr(handler, "runtime", lambda: (CONTEXT, SecurityHubFindings(Refusing())))
    result = handler.lambda_handler({"Records": [_record(json.dumps(VIOLATION), "1")]}, _context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}


def test_fails_at_cold_start_when_the_account_is_not_set(monkeypatch):
    from iot_defender_runtime.security_hub_findings.handler import ConfigurationError, context_from_environment

    with pytest.raises(ConfigurationError, match="FINDINGS_ACCOUNT_ID '' must be a 12-digit account id"):
        context_from_environment({"AWS_REGION": REGION})
    with pytest.raises(ConfigurationError, match="SEVERITY_BY_BEHAVIOR must be a JSON object"):
        context_from_environment(
            {"AWS_REGION": REGION, "FINDINGS_ACCOUNT_ID": ACCOUNT, "SEVERITY_BY_BEHAVIOR": '{"a": "SEVERE"}'}
        )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
_BROKEN = st.one_of(
    st.text(max_size=200),
    _JSON.map(json.dumps),
    st.dictionaries(st.sampled_from(["violationEventType", "decision", "violation", "check", "finding"]), _JSON).map(
        json.dumps
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(_BROKEN, min_size=1, max_size=4))
def test_each_broken_record_fails_alone_and_the_good_one_is_imported(handler, bodies):
    records = [_record(json.dumps(VIOLATION), "good")] + [_record(body, f"bad{i}") for i, body in enumerate(bodies)]
    result = handler.lambda_handler({"Records": records}, _context())
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    # none of these is a violation, a decision, an audit remediation or a notice of this library
    assert failed == {f"bad{i}" for i in range(len(bodies))}


# The construct.


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("security-hub")))
    stack = cdk.Stack(app, "Hub", env=cdk.Environment(account=ACCOUNT, region=REGION))
    from constructs_lib.org.security_hub_findings import SecurityHubFindings

    SecurityHubFindings(
        stack,
        "Findings",
        notification_topic=AlertTopic(stack, "Notes"),
        alert_topic=AlertTopic(stack, "Alerts"),
        severity_by_behavior={"messageSize": "HIGH"},
    )
    apply_nag_packs(app)
    assembly = app.synth()
    assert cfn_lint_findings(Path(assembly.directory) / "Hub.template.json") == []
    return assembly.get_stack_by_name("Hub").template


def test_function_may_import_into_its_own_default_product_only(template):
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    [importing] = [s for s in statements if "securityhub:BatchImportFindings" in str(s["Action"])]
    assert importing["Action"] == "securityhub:BatchImportFindings"
    assert importing["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"],
        ]
    }


def test_queue_takes_violations_and_the_response_functions_messages_only(template):
    policies = sorted(
        json.dumps(s["Properties"]["FilterPolicy"], sort_keys=True)
        for s in of_type(template, "AWS::SNS::Subscription").values()
    )
    assert policies == sorted(
        [
            json.dumps(
                {"source": ["iot-device-defender-constructs/audit", "iot-device-defender-constructs/quarantine"]}
            ),
            json.dumps({"violationEventType": [{"exists": True}]}),
        ]
    )
    [function] = of_type(template, "AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["SEVERITY_BY_BEHAVIOR"] == '{"messageSize": "HIGH"}'


def test_fails_when_no_topic_or_a_bad_severity_is_given():
    from constructs_lib.org.security_hub_findings import SecurityHubFindings

    with pytest.raises(ConstructValidationError) as raised:
        SecurityHubFindings(cdk.Stack(cdk.App(), "S"), "F", severity_by_behavior={"b": "SEVERE"})
    assert str(raised.value) == (
        "S/F: notification_topic and alert_topic are both None; give at least one topic to import from; "
        "severity_by_behavior['b'] 'SEVERE' must be one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL"
    )
