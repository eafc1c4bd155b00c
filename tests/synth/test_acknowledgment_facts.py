"""Every acknowledgment is true: each reason in the templates' Metadata (``cdk_nag.rules_to_suppress``)
of app.py (each Detect mode, with and without the compliance packs) and of the examples is checked
against the resource it is on, wherever what it claims can be read from the template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.synth.templates import Template, acknowledgments, every_template, of_type, references

READ_OR_TRACE = ("Get", "List", "Describe", "PutTraceSegments", "PutTelemetryRecords")
_DEAD_LETTER_KEYS = ("DeadLetter", "Redrive", "Destination", "ErrorAction")


def _under_keys(value: Any, keys: tuple[str, ...], inside: bool = False) -> set[str]:
    """Logical ids referred to under a property whose name contains one of ``keys``."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, inner in value.items():
            hit = inside or any(k in name for k in keys)
            found |= references(inner) if hit else _under_keys(inner, keys)
    elif isinstance(value, list):
        for inner in value:
            found |= _under_keys(inner, keys, inside)
    return found


def _subject(template: Template, key: str, resource: dict, wants: str) -> tuple[str, dict]:
    """The resource a reason is about: acknowledgments on a queue or a role also land on its policy."""
    if resource["Type"] == "AWS::SQS::QueuePolicy" and wants == "AWS::SQS::Queue":
        [key] = references(resource["Properties"]["Queues"])
    elif resource["Type"] == "AWS::IAM::Policy" and wants == "AWS::IAM::Role":
        [key] = references(resource["Properties"]["Roles"])
    return key, template["Resources"][key]


def _policies_of_role(template: Template, role: str) -> list[dict]:
    return [p for p in of_type(template, "AWS::IAM::Policy").values() if role in references(p["Properties"]["Roles"])]


def _alarm_notifies_on(template: Template, key: str, _: dict, __: str) -> str | None:
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        if key in references(alarm["Properties"].get("Dimensions", [])) and alarm["Properties"].get("AlarmActions"):
            return None
    return "no alarm with actions watches it"


def _kept_14_days(_: Template, __: str, resource: dict, ___: str) -> str | None:
    return None if resource["Properties"].get("MessageRetentionPeriod") == 14 * 24 * 3600 else "not kept 14 days"


def _is_a_dead_letter_queue(template: Template, key: str, _: dict, __: str) -> str | None:
    for other, resource in template["Resources"].items():
        if other != key and key in _under_keys(resource.get("Properties", {}), _DEAD_LETTER_KEYS):
            return None
    return "no resource uses it as a dead-letter queue or failure destination"


def _not_in_a_vpc(_: Template, __: str, resource: dict, ___: str) -> str | None:
    return "it has a VpcConfig" if "VpcConfig" in resource["Properties"] else None


def _point_in_time_recovery(_: Template, __: str, resource: dict, ___: str) -> str | None:
    spec = resource["Properties"].get("PointInTimeRecoverySpecification", {})
    return None if spec.get("PointInTimeRecoveryEnabled") is True else "point-in-time recovery is off"


def _in_no_backup_plan(template: Template, key: str, _: dict, __: str) -> str | None:
    for selection in of_type(template, "AWS::Backup::BackupSelection").values():
        if key in references(selection["Properties"]):
            return "a backup plan selects it"
    return None


def _policy_of_one_role(_: Template, __: str, resource: dict, ___: str) -> str | None:
    if resource["Type"] != "AWS::IAM::Policy" or len(resource["Properties"].get("Roles", [])) != 1:
        return "not an inline policy of exactly one role"
    return None


def _star_statements_read_or_trace_only(template: Template, key: str, _: dict, __: str) -> str | None:
    for policy in _policies_of_role(template, key):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement.get("Resource") == "*" and not all(a.split(":")[1].startswith(READ_OR_TRACE) for a in actions):
                return f"actions on * that are not read-only: {actions}"
    return None


def _role_of_a_traced_function(template: Template, key: str, _: dict, __: str) -> str | None:
    for function in of_type(template, "AWS::Lambda::Function").values():
        if key in references(function["Properties"]["Role"]):
            return None if function["Properties"].get("TracingConfig") == {"Mode": "Active"} else "no active tracing"
    return "no function has this role"


def _never(_: Template, __: str, ___: dict, ____: str) -> str | None:
    return "CloudFormation invokes custom resource functions asynchronously"


# (what the reason says, which acknowledgments it applies to, how to check it)
Check = Callable[[Template, str, dict, str], "str | None"]
CHECKS: list[tuple[str, Callable[[str, str], bool], Check]] = [
    (
        "an alarm notifies",
        lambda rule, reason: "Alarm notifies" in reason or "Alarm fires" in reason,
        _alarm_notifies_on,
    ),
    ("kept 14 days", lambda rule, reason: "14 days" in reason, _kept_14_days),
    (
        "a dead-letter queue",
        lambda rule, reason: rule.startswith(("Serverless-SQSRedrivePolicy", "AwsSolutions-SQS3")),
        _is_a_dead_letter_queue,
    ),
    ("not in a VPC", lambda rule, reason: rule.endswith("LambdaInsideVPC"), _not_in_a_vpc),
    ("point-in-time recovery", lambda rule, reason: "Point-in-time recovery is on" in reason, _point_in_time_recovery),
    ("in no backup plan", lambda rule, reason: rule.endswith("DynamoDBInBackupPlan"), _in_no_backup_plan),
    ("an inline policy of one role", lambda rule, reason: rule.endswith("IAMNoInlinePolicy"), _policy_of_one_role),
    (
        "read-only actions on *",
        lambda rule, reason: rule == "AwsSolutions-IAM5[Resource::*]" and "read" in reason.lower(),
        _star_statements_read_or_trace_only,
    ),
    ("X-Ray for active tracing", lambda rule, reason: "active tracing" in reason, _role_of_a_traced_function),
    ("invoked synchronously", lambda rule, reason: "synchronously" in reason, _never),
]


SUBJECTS = {
    "an alarm notifies": "AWS::SQS::Queue",
    "kept 14 days": "AWS::SQS::Queue",
    "a dead-letter queue": "AWS::SQS::Queue",
    "not in a VPC": "AWS::Lambda::Function",
    "point-in-time recovery": "AWS::DynamoDB::Table",
    "in no backup plan": "AWS::DynamoDB::Table",
    "an inline policy of one role": "AWS::IAM::Policy",
    "read-only actions on *": "AWS::IAM::Role",
    "X-Ray for active tracing": "AWS::IAM::Role",
    "invoked synchronously": "AWS::Lambda::Function",
}


def test_every_acknowledgment_states_what_the_template_shows(
    reference_assembly, compliance_assemblies, example_assemblies
):
    # Given every acknowledgment of every template, When each reason's checkable claims are checked
    # against its resource, Then none is false, and every check met at least one reason.
    false: list[str] = []
    used: set[str] = set()
    for where, template in every_template(reference_assembly, compliance_assemblies, example_assemblies):
        for key, resource, rule, reason in acknowledgments(template):
            for claim, applies, check in CHECKS:
                if applies(rule, reason):
                    used.add(claim)
                    subject, subject_resource = _subject(template, key, resource, SUBJECTS[claim])
                    if subject_resource["Type"] != SUBJECTS[claim]:
                        false.append(f"{where} {key} {rule}: {claim} said of a {subject_resource['Type']}")
                        continue
                    problem = check(template, subject, subject_resource, reason)
                    if problem:
                        false.append(f"{where} {key} {rule} claims {claim}: {problem}")
    assert false == [], "\n".join(false)
    # The reference app with the compliance packs has its state table in a backup plan, so the table's
    # acknowledgment is read in tests/constructs/test_compliance_options.py instead.
    not_in_these_templates = {"invoked synchronously", "point-in-time recovery", "in no backup plan"}
    assert used == {claim for claim, _, _ in CHECKS} - not_in_these_templates
