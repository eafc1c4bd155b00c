"""``quarantined``, ``release`` and ``actions``: the things in quarantine and why, releasing one as
``python -m iot_defender_runtime.quarantine.release`` does, and the action log of a thing or certificate."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from iot_defender_runtime.adapters.operator_reads import StateTableReader, group_members
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecord, QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.model.audit_checks import AuditCheck
from iot_defender_runtime.operator.results import Result, UsageError, iso
from iot_defender_runtime.operator.where import Where
from iot_defender_runtime.remediation.release import NoQuarantineRecordError, release_by_operator

_AUDIT_CHECKS = frozenset(check.value for check in AuditCheck)
_NO_RECORD = "in the quarantine group without a record: release cannot restore it (added by hand or by another tool?)"
_NOT_IN_GROUP = "has a record but is not in the quarantine group (removed by hand, or a release half done?)"


def quarantined(_: argparse.Namespace, where: Where) -> Result:
    """Records joined with the group's members (when the group is known), by thing name."""
    [table] = where.need("table", purpose="quarantined")
    group = where.get("quarantine_group")
    records = {record.thing_name: record for record in StateTableReader(table).quarantine_records()}
    members = set(group_members(group)) if group else None
    things = []
    for name in sorted(set(records) | (members or set())):
        entry = _entry(name, records.get(name), None if members is None else name in members)
        things.append(entry)
    header = f"{len(things)} thing(s) in quarantine" + (f" (group {group})" if group else " (records only)")
    lines = [header + (":" if things else "")] + [_line(entry) for entry in things]
    return Result({"quarantineGroup": group, "things": things}, "\n".join(lines))


def _entry(name: str, record: QuarantineRecord | None, in_group: bool | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"thingName": name, "inGroup": in_group, "since": None, "cause": None}
    if record is not None:
        entry.update(
            since=iso(record.quarantined_at),
            cause=_cause(record),
            groupsBefore=list(record.groups_before),
            certificatesBefore=dict(record.certificates_before),
        )
    if record is None:
        entry["note"] = _NO_RECORD
    elif in_group is False:
        entry["note"] = _NOT_IN_GROUP
    return entry


def _cause(record: QuarantineRecord) -> dict[str, str]:
    """The audit remediator records a finding as (findingId, audit task id, check name) in the fields
    the responder uses for (violationId, security profile, behavior)."""
    if record.behavior_name in _AUDIT_CHECKS:
        return {
            "kind": "audit-finding",
            "findingId": record.violation_id,
            "auditTaskId": record.security_profile_name,
            "checkName": record.behavior_name,
        }
    return {
        "kind": "violation",
        "violationId": record.violation_id,
        "securityProfileName": record.security_profile_name,
        "behaviorName": record.behavior_name,
    }


def _line(entry: dict[str, Any]) -> str:
    cause = entry["cause"]
    if cause is None:
        why = ""
    elif cause["kind"] == "violation":
        profile, behavior = cause["securityProfileName"], cause["behaviorName"]
        why = f"violation {cause['violationId']} (profile {profile}, behavior {behavior})"
    else:
        why = f"audit finding {cause['findingId']} (check {cause['checkName']}, audit task {cause['auditTaskId']})"
    since = f"since {entry['since']}" if entry["since"] else ""
    note = f"[{entry['note']}]" if "note" in entry else ""
    return "  " + "  ".join(part for part in (entry["thingName"], since, why, note) if part)


def release(arguments: argparse.Namespace, where: Where) -> Result:
    """Restore the thing's groups and certificate states from its record, log it, notify operators."""
    table, group, topic = where.need("table", "quarantine_group", "notify_topic", purpose="release")
    try:
        changes = release_by_operator(
            arguments.thing, arguments.reason, group, QuarantineRecords(table), Notifier(topic)
        )
    except NoQuarantineRecordError as error:
        raise UsageError(str(error)) from error
    text = f"released {arguments.thing}: " + ("; ".join(changes) if changes else "nothing needed restoring")
    return Result({"thingName": arguments.thing, "released": True, "changes": changes}, text)


def actions(arguments: argparse.Namespace, where: Where) -> Result:
    """Every change logged about one thing or certificate, oldest first."""
    [table] = where.need("table", purpose="actions")
    entries = StateTableReader(table).actions(arguments.subject)
    if not entries:
        text = f"no action logged about {arguments.subject} (entries are kept 400 days)"
    else:
        text = "\n".join([f"{len(entries)} action(s) about {arguments.subject}:", *map(_action_line, entries)])
    return Result({"subject": arguments.subject, "actions": entries}, text)


def _action_line(entry: dict[str, Any]) -> str:
    if "violationId" in entry:
        cause = f"violation {entry['violationId']}" + (
            f" ({entry['violationEventType']})" if "violationEventType" in entry else ""
        )
    elif "findingId" in entry:
        cause = f"audit finding {entry['findingId']}" + (f" ({entry['checkName']})" if "checkName" in entry else "")
    else:
        cause = "operator"
    at = iso(datetime.fromisoformat(entry["at"])) if "at" in entry else "?"
    return (
        f"  {at}  by {entry.get('by', '?')}  cause: {cause}\n"
        f"      {'; '.join(entry['changes']) or 'no change'}  reason: {entry.get('reason', '')}"
    )
