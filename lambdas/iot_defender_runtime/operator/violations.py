"""``violations active|events|verify``: self-hosted Detect's violations as managed Detect gives them
through ListActiveViolations, ListViolationEvents and PutVerificationStateOnViolation, read from the
state table (``iot_defender_runtime.adapters.violation_log``); ``--json`` prints the API's shapes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.adapters.violation_log import ViolationLog
from iot_defender_runtime.model.violation import VerificationState
from iot_defender_runtime.operator.results import Result, UsageError, iso
from iot_defender_runtime.operator.where import Where
from iot_defender_runtime.remediation.release import NoQuarantineRecordError, release_by_operator

STATES = [state.value for state in VerificationState]


def active(arguments: argparse.Namespace, where: Where) -> Result:
    [table] = where.need("table", purpose="violations active")
    found = ViolationLog(table).list_active_violations(
        arguments.thing, arguments.security_profile, arguments.verification_state
    )
    lines = [f"{len(found)} active violation(s)" + (":" if found else "")]
    lines += [
        f"  {v['thingName']}  {v['securityProfileName']}/{v['behavior']['name']}  {v['violationId']}  "
        f"since {iso(v['violationStartTime'])}{_verdict(v)}"
        for v in found
    ]
    return Result({"activeViolations": found}, "\n".join(lines))


def events(arguments: argparse.Namespace, where: Where) -> Result:
    [table] = where.need("table", purpose="violations events")
    found = ViolationLog(table).list_violation_events(
        arguments.start,
        arguments.end or datetime.now(tz=UTC),
        arguments.thing,
        arguments.security_profile,
        arguments.verification_state,
    )
    lines = [f"{len(found)} violation event(s)" + (":" if found else "")]
    lines += [
        f"  {iso(e['violationEventTime'])}  {e['violationEventType']}  {e['thingName']}  "
        f"{e['securityProfileName']}/{e['behavior']['name']}  {e['violationId']}{_verdict(e)}"
        for e in found
    ]
    return Result({"violationEvents": found}, "\n".join(lines))


def verify(arguments: argparse.Namespace, where: Where) -> Result:
    """Set the verdict; with ``--release`` (FALSE_POSITIVE only) also release the thing, if this
    violation is the one it was quarantined for. A refused release keeps the verdict (exit status 2)."""
    [table] = where.need("table", purpose="violations verify")
    release_to: list[str] = []
    if arguments.release:
        if arguments.state != VerificationState.FALSE_POSITIVE.value:
            raise UsageError(f"--release goes with --state FALSE_POSITIVE only, got {arguments.state}")
        release_to = where.need("quarantine_group", "notify_topic", purpose="--release")
    log = ViolationLog(table)
    violation = log.put_verification_state_on_violation(arguments.violation_id, arguments.state, arguments.description)
    thing = violation["thingName"]
    data: dict[str, Any] = {"violationId": arguments.violation_id, "verificationState": arguments.state}
    data["thingName"] = thing
    text = f"violation {arguments.violation_id} of {thing}: verification state {arguments.state}"
    if not release_to:
        return Result(data, text)
    try:
        data["released"] = _release(thing, arguments, QuarantineRecords(table), *release_to)
    except UsageError as refusal:
        return Result(data, text, refusal=str(refusal))
    return Result(data, f"{text}\nreleased {thing}: " + ("; ".join(data["released"]) or "nothing needed restoring"))


def _release(
    thing: str, arguments: argparse.Namespace, records: QuarantineRecords, group: str, topic: str
) -> list[str]:
    record = records.get(thing)
    if record is None:
        raise UsageError(f"verification state set; thing '{thing}' has no quarantine record: nothing to release")
    if record.violation_id != arguments.violation_id:
        raise UsageError(
            f"verification state set; thing '{thing}' was quarantined for violation {record.violation_id}, not "
            f"{arguments.violation_id}: not released (use iot-defender release {thing} if that one is a false "
            "positive too)"
        )
    reason = arguments.reason or f"violation {arguments.violation_id} verified FALSE_POSITIVE" + (
        f": {arguments.description}" if arguments.description else ""
    )
    try:
        return release_by_operator(thing, reason, group, records, Notifier(topic))
    except NoQuarantineRecordError as error:
        raise UsageError(f"verification state set; {error}") from error


def _verdict(violation: dict[str, Any]) -> str:
    return f"  [{violation['verificationState']}]" if "verificationState" in violation else ""


def parse_time(text: str) -> datetime:
    """ISO 8601 (UTC when it has no zone) or epoch seconds."""
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is neither ISO 8601 nor epoch seconds") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
