"""Device Defender violations, quarantine decisions and audit remediations as findings in the AWS
Security Finding Format (ASFF), for Security Hub's ``BatchImportFindings``. Pure: the caller passes the
account, region and the time; nothing here reads the environment or the clock.

Shape: botocore ``securityhub`` model, shape ``AwsSecurityFinding``, and the ASFF pages of the Security Hub
user guide (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-format.html):
the documented required attributes (``SchemaVersion``, ``Id``, ``ProductArn``, ``GeneratorId``,
``AwsAccountId``, ``Types``, ``CreatedAt``, ``UpdatedAt``, ``Severity``, ``Title``, ``Description``,
``Resources``) and their limits (``Title`` 256 characters, ``Description`` 1024, ``Id`` and
``GeneratorId`` 512, at most 50 ``ProductFields`` with keys of 128 and values of 2048 characters).

One finding per violation id (``Id`` does not depend on the event type), so that ``alarm-cleared`` and
``alarm-invalidated`` update the finding ``in-alarm`` created: ``RecordState`` becomes ``ARCHIVED`` and
``Compliance`` ``PASSED`` (cleared) or ``NOT_AVAILABLE`` (invalidated); Security Hub then sets the
workflow to ``RESOLVED`` itself (``Workflow`` is the customer's after creation: ``BatchImportFindings``
cannot change it, so it is never sent). Severity goes in ``FindingProviderFields`` too, the field
finding providers update (https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from iot_defender_runtime.model.violation import ViolationEvent, ViolationEventType

SCHEMA_VERSION = "2018-10-08"
GENERATOR_PREFIX = "iot-device-defender-constructs"
# ASFF limits (user guide, "Required top-level attributes in ASFF" and "Optional top-level attributes").
TITLE_MAX, DESCRIPTION_MAX, ID_MAX = 256, 1024, 512
PRODUCT_FIELDS_MAX, FIELD_KEY_MAX, FIELD_VALUE_MAX = 50, 128, 2048
# A thing is no ASFF resource type of its own: "If the resource type ... is not in the list, set it to
# Other" (user guide, "Resources ASFF object", https://docs.aws.amazon.com/securityhub/latest/userguide/asff-resources-attributes.html).
RESOURCE_TYPE = "Other"
VIOLATION_TYPE = "Unusual Behaviors/Device/IoT Device Defender Detect"
DECISION_TYPE = "Unusual Behaviors/Device/IoT Device Defender quarantine decision"
AUDIT_TYPE = "Software and Configuration Checks/AWS Security Best Practices/IoT Device Defender Audit"


class SeverityLabel(str, Enum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


# Severity of a rule or statistical behavior by its metric (README, "Security Hub"): what an attacker on
# the device would change first is HIGH; volumes, which a busy but healthy device also moves, MEDIUM;
# connectivity, which a flaky network also moves, LOW. Custom and unknown metrics: MEDIUM.
METRIC_SEVERITY: Mapping[str, SeverityLabel] = {
    **dict.fromkeys(
        (
            "aws:num-authorization-failures",
            "aws:source-ip-address",
            "aws:destination-ip-addresses",
            "aws:listening-tcp-ports",
            "aws:listening-udp-ports",
        ),
        SeverityLabel.HIGH,
    ),
    **dict.fromkeys(("aws:num-disconnects", "aws:disconnect-duration"), SeverityLabel.LOW),
}
DEFAULT_METRIC_SEVERITY = SeverityLabel.MEDIUM
# ML Detect: the confidence the model was configured with is how sure the alarm is.
CONFIDENCE_SEVERITY = {"HIGH": SeverityLabel.HIGH, "MEDIUM": SeverityLabel.MEDIUM, "LOW": SeverityLabel.LOW}
# Audit findings carry their check's severity (API ``AuditFindingSeverity``).
AUDIT_SEVERITY = {label.value: label for label in SeverityLabel if label is not SeverityLabel.INFORMATIONAL}


# The notification topic's messages that are no finding (``source`` as the response functions write it).
NOTICE_SOURCES = frozenset({f"{GENERATOR_PREFIX}/quarantine", f"{GENERATOR_PREFIX}/audit"})
NOTICE_KEYS = ("breaker", "release", "audit")


class UnknownMessageError(ValueError):
    """The message is none of a violation, a quarantine decision or an audit remediation."""


@dataclass(frozen=True)
class FindingContext:
    """Where findings are imported: the account and region of this Security Hub, and the severity
    overrides by behavior name (``SecurityHubFindings(severity_by_behavior=...)``)."""

    account: str
    region: str
    partition: str = "aws"
    severity_by_behavior: Mapping[str, SeverityLabel] = field(default_factory=dict)

    @property
    def product_arn(self) -> str:
        """The account's default product: findings an account imports about itself."""
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"

    def iot_arn(self, resource: str) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}:{resource}"

    def violation_finding_id(self, violation_id: str) -> str:
        return f"{GENERATOR_PREFIX}/{self.region}/{self.account}/violation/{violation_id}"


def finding_of(message: Mapping[str, Any], context: FindingContext, *, now: datetime) -> dict[str, Any] | None:
    """The finding a message of the alert or notification topic becomes, or None for a notice of this
    library that reports no finding (a breaker trip, an operator's release, an audit summary); ``now``
    stands for the times a message does not carry (an audit finding without ``findingTime``)."""
    if "violationEventType" in message:
        return violation_finding(ViolationEvent.model_validate(dict(message)), context)
    if isinstance(message.get("decision"), Mapping) and isinstance(message.get("violation"), Mapping):
        return decision_finding(message, context)
    if isinstance(message.get("check"), str) and isinstance(message.get("finding"), Mapping):
        return audit_finding(message, context, now=now)
    if message.get("source") in NOTICE_SOURCES and any(key in message for key in NOTICE_KEYS):
        return None
    raise UnknownMessageError(
        "expected a violation (violationEventType), a quarantine decision (decision and violation) or an audit "
        f"remediation (check and finding); got the keys {sorted(message)[:10]}"
    )


def behavior_severity(violation: ViolationEvent, context: FindingContext) -> SeverityLabel:
    """The override for the behavior's name, else the ML confidence, else the metric's severity."""
    behavior = violation.behavior
    if behavior.name in context.severity_by_behavior:
        return context.severity_by_behavior[behavior.name]
    confidence = violation.confidence_level
    if confidence in CONFIDENCE_SEVERITY:
        return CONFIDENCE_SEVERITY[confidence]
    return METRIC_SEVERITY.get(behavior.metric or "", DEFAULT_METRIC_SEVERITY)


def violation_finding(violation: ViolationEvent, context: FindingContext) -> dict[str, Any]:
    """One finding per violation id; the event type sets its state (module docstring)."""
    at = _iso(violation.violation_event_time)
    label = behavior_severity(violation, context)
    active = violation.violation_event_type is ViolationEventType.IN_ALARM
    shown = label if active else SeverityLabel.INFORMATIONAL
    compliance = {
        ViolationEventType.IN_ALARM: "FAILED",
        ViolationEventType.ALARM_CLEARED: "PASSED",
        ViolationEventType.ALARM_INVALIDATED: "NOT_AVAILABLE",
    }[violation.violation_event_type]
    behavior = violation.behavior
    fields = {
        "iot-defender/securityProfileName": violation.security_profile_name,
        "iot-defender/behaviorName": behavior.name,
        "iot-defender/metric": behavior.metric or "",
        "iot-defender/violationId": violation.violation_id,
        "iot-defender/violationEventType": violation.violation_event_type.value,
        "iot-defender/metricValue": _json(violation.metric_value.model_dump(exclude_none=True))
        if violation.metric_value
        else "",
    }
    return {
        **_header(
            context,
            context.violation_finding_id(violation.violation_id),
            f"detect/{violation.security_profile_name}/{behavior.name}",
            at,
        ),
        "Types": [VIOLATION_TYPE],
        "Severity": {"Label": shown.value, "Original": label.value},
        "FindingProviderFields": {
            "Severity": {"Label": shown.value, "Original": label.value},
            "Types": [VIOLATION_TYPE],
        },
        "Title": _cut(f"Thing {violation.thing_name} violates behavior {behavior.name}", TITLE_MAX),
        "Description": _cut(
            f"Device Defender behavior '{behavior.name}' ({behavior.metric or 'no metric'}) of security profile "
            f"'{violation.security_profile_name}': {violation.violation_event_type.value} for thing "
            f"'{violation.thing_name}'.",
            DESCRIPTION_MAX,
        ),
        "Resources": [_thing(violation.thing_name, context)],
        "Compliance": {"Status": compliance},
        "RecordState": "ACTIVE" if active else "ARCHIVED",
        **({"FirstObservedAt": at} if active else {}),
        "LastObservedAt": at,
        "ProductFields": _fields(fields),
    }


def decision_finding(message: Mapping[str, Any], context: FindingContext) -> dict[str, Any]:
    """What the quarantine responder decided and did about a violation event: its own finding, one per
    violation id and event type (the ``alarm-cleared`` decision does not overwrite what ``in-alarm``
    did), related to the violation's finding. A decision on a cleared or invalidated violation is
    archived: nothing is left to look at."""
    violation = ViolationEvent.model_validate(dict(message["violation"]))
    decision = message["decision"]
    taken = [str(change) for change in message.get("actionsTaken") or []]
    at = _iso(violation.violation_event_time)
    outcome = str(decision.get("outcome", "unknown"))
    fields = {
        "iot-defender/violationId": violation.violation_id,
        "iot-defender/violationEventType": violation.violation_event_type.value,
        "iot-defender/quarantine/outcome": outcome,
        "iot-defender/quarantine/rule": str(decision.get("rule", "")),
        "iot-defender/quarantine/actions": ",".join(str(a) for a in decision.get("actions") or []),
        "iot-defender/quarantine/actionsTaken": _json(taken),
        "iot-defender/quarantine/dryRun": "true" if message.get("dryRun") else "false",
        "iot-defender/quarantine/reason": str(decision.get("reason", "")),
    }
    violation_id = context.violation_finding_id(violation.violation_id)
    event_type = violation.violation_event_type.value
    return {
        **_header(context, f"{violation_id}/decision/{event_type}", "quarantine-responder", at),
        "Types": [DECISION_TYPE],
        "Severity": {"Label": SeverityLabel.INFORMATIONAL.value, "Original": outcome},
        "FindingProviderFields": {
            "Severity": {"Label": SeverityLabel.INFORMATIONAL.value, "Original": outcome},
            "Types": [DECISION_TYPE],
            "RelatedFindings": [{"ProductArn": context.product_arn, "Id": violation_id}],
        },
        "RelatedFindings": [{"ProductArn": context.product_arn, "Id": violation_id}],
        "Title": _cut(f"Quarantine responder: {outcome} for thing {violation.thing_name}", TITLE_MAX),
        "Description": _cut(
            f"On {violation.violation_event_type.value} of behavior '{violation.behavior.name}': {outcome} "
            f"({decision.get('reason') or 'no reason given'}). Changes: {'; '.join(taken) or 'none'}.",
            DESCRIPTION_MAX,
        ),
        "Resources": [_thing(violation.thing_name, context)],
        "RecordState": "ACTIVE" if event_type == "in-alarm" else "ARCHIVED",
        "ProductFields": _fields(fields),
    }


def audit_finding(message: Mapping[str, Any], context: FindingContext, *, now: datetime) -> dict[str, Any]:
    """A non-compliant audit finding the remediator acted on (or notified), with what it did; one finding
    per audit finding id (``findingKey`` where the audit finding had none)."""
    check = str(message["check"])
    finding = message["finding"]
    key = str(message.get("findingKey") or finding.get("findingId") or "")
    if not key:
        raise UnknownMessageError("an audit remediation without findingId or findingKey cannot be one finding")
    label = AUDIT_SEVERITY.get(str(finding.get("severity", "")).upper(), DEFAULT_METRIC_SEVERITY)
    at = _iso(_time_of(finding.get("findingTime"), now))
    taken = [str(change) for change in message.get("actionsTaken") or []]
    resource = finding.get("nonCompliantResource") if isinstance(finding.get("nonCompliantResource"), Mapping) else {}
    fields = {
        "iot-defender/checkName": check,
        "iot-defender/findingId": key,
        "iot-defender/taskId": str(finding.get("taskId", "")),
        "iot-defender/audit/actions": ",".join(str(a) for a in message.get("actions") or []),
        "iot-defender/audit/actionsTaken": _json(taken),
        "iot-defender/audit/dryRun": "true" if message.get("dryRun") else "false",
    }
    reason = str(finding.get("reasonForNonCompliance") or "non-compliant")
    return {
        **_header(context, f"{GENERATOR_PREFIX}/{context.region}/{context.account}/audit/{key}", f"audit/{check}", at),
        "Types": [AUDIT_TYPE],
        "Severity": {"Label": label.value, "Original": str(finding.get("severity", label.value))},
        "FindingProviderFields": {
            "Severity": {"Label": label.value, "Original": str(finding.get("severity", label.value))},
            "Types": [AUDIT_TYPE],
        },
        "Title": _cut(f"Device Defender audit {check}: {reason}", TITLE_MAX),
        "Description": _cut(f"{reason}. Remediator changes: {'; '.join(taken) or 'none'}.", DESCRIPTION_MAX),
        "Resources": [_audit_resource(resource, context)],
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
        "ProductFields": _fields(fields),
    }


def _header(context: FindingContext, finding_id: str, generator: str, at: str) -> dict[str, Any]:
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": _cut(finding_id, ID_MAX),
        "ProductArn": context.product_arn,
        "GeneratorId": _cut(f"{GENERATOR_PREFIX}/{generator}", ID_MAX),
        "AwsAccountId": context.account,
        "CreatedAt": at,
        "UpdatedAt": at,
    }


def _thing(thing_name: str, context: FindingContext) -> dict[str, Any]:
    return {
        "Type": RESOURCE_TYPE,
        "Id": _cut(context.iot_arn(f"thing/{thing_name}"), ID_MAX),
        "Partition": context.partition,
        "Region": context.region,
        "Details": {"Other": {"thingName": _cut(thing_name, FIELD_VALUE_MAX)}},
    }


# The ARN an audit resource identifier names, where it is an IoT resource of this account and region.
_AUDIT_ARNS = {
    "deviceCertificateId": "cert/{}",
    "caCertificateId": "cacert/{}",
    "cognitoIdentityPoolId": None,
    "clientId": "client/{}",
    "roleAliasArn": None,
    "iamRoleArn": None,
}


def _audit_resource(resource: Mapping[str, Any], context: FindingContext) -> dict[str, Any]:
    raw = resource.get("resourceIdentifier")
    identifier: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    resource_id = f"{GENERATOR_PREFIX}/audit/{resource.get('resourceType', 'ACCOUNT_SETTINGS')}"
    policy = identifier.get("policyVersionIdentifier")
    if isinstance(policy, Mapping) and policy.get("policyName"):
        resource_id = context.iot_arn(f"policy/{policy['policyName']}")
    for name, pattern in _AUDIT_ARNS.items():
        value = identifier.get(name)
        if isinstance(value, str) and value:
            resource_id = value if pattern is None else context.iot_arn(pattern.format(value))
            break
    details = {str(k): _flat(v) for k, v in identifier.items()}
    return {
        "Type": RESOURCE_TYPE,
        "Id": _cut(resource_id, ID_MAX),
        "Partition": context.partition,
        "Region": context.region,
        "Details": {"Other": _fields({"resourceType": str(resource.get("resourceType", "")), **details})},
    }


def _time_of(value: Any, now: datetime) -> datetime:
    """An audit ``findingTime`` as the remediator wrote it: epoch seconds, or a datetime written as text."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**11:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return now
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now


def _iso(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as the ASFF examples write times."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _fields(values: Mapping[str, str]) -> dict[str, str]:
    """At most ``PRODUCT_FIELDS_MAX`` non-empty fields, keys and values cut to their limits."""
    kept = [(k, v) for k, v in values.items() if v and v.strip()][:PRODUCT_FIELDS_MAX]
    return {_cut(k, FIELD_KEY_MAX): _cut(v, FIELD_VALUE_MAX) for k, v in kept}


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters (ASFF rejects longer values), marked with '...' when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
