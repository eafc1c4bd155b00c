"""The operator's view of self-hosted Detect's violations, as managed Detect gives it through
ListActiveViolations, ListViolationEvents and PutVerificationStateOnViolation, read from the state
table (``lambdas/iot_defender_runtime/adapters/violation_log.py``). Output is JSON, in the API's shapes.

    python -m iot_defender_runtime.detect_evaluator.violations active [--thing T] [--profile P]
        [--verification-state S]
    python -m iot_defender_runtime.detect_evaluator.violations events --start TIME [--end TIME]
        [--thing T] [--profile P]
    python -m iot_defender_runtime.detect_evaluator.violations verify VIOLATION_ID --state S
        [--description TEXT]
        [--release [--reason TEXT]]

The table is ``--table`` or ``STATE_TABLE_NAME`` (the stack output ``StateTableName``). ``verify
--state FALSE_POSITIVE --release`` also releases the thing if the quarantine responder quarantined
it for this violation (as ``python -m iot_defender_runtime.quarantine.release`` does; it needs
``QUARANTINE_GROUP_NAME`` and ``NOTIFY_TOPIC_ARN``, and the responder's records in the same table).

Exit status: 0 done; 1 an AWS call failed; 2 a bad argument, an unknown violation, or a release
refused (the verification state is set all the same).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.adapters.violation_log import UnknownViolationError, ViolationLog
from iot_defender_runtime.model.violation import VerificationState

PROG = "python -m iot_defender_runtime.detect_evaluator.violations"
_STATES = [state.value for state in VerificationState]
_RELEASE_VARIABLES = ("QUARANTINE_GROUP_NAME", "NOTIFY_TOPIC_ARN")


class RefusedError(Exception):
    """The command cannot do what was asked, and says why (exit status 2)."""


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    table = arguments.table or os.environ.get("STATE_TABLE_NAME")
    if not table:
        print("give --table or set STATE_TABLE_NAME (the stack output StateTableName)", file=sys.stderr)
        return 2
    try:
        output, refusal = arguments.command(ViolationLog(table), arguments, table)
    except (ValueError, UnknownViolationError, RefusedError) as error:
        print(str(error), file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"AWS call failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(output, indent=2, sort_keys=True, default=_iso))
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    return 0


def _active(log: ViolationLog, arguments: argparse.Namespace, _: str) -> tuple[dict[str, Any], str | None]:
    violations = log.list_active_violations(arguments.thing, arguments.profile, arguments.verification_state)
    return {"activeViolations": violations}, None


def _events(log: ViolationLog, arguments: argparse.Namespace, _: str) -> tuple[dict[str, Any], str | None]:
    events = log.list_violation_events(
        arguments.start,
        arguments.end or datetime.now(tz=UTC),
        arguments.thing,
        arguments.profile,
        arguments.verification_state,
    )
    return {"violationEvents": events}, None


def _verify(log: ViolationLog, arguments: argparse.Namespace, table: str) -> tuple[dict[str, Any], str | None]:
    if arguments.release:
        if arguments.state != VerificationState.FALSE_POSITIVE.value:
            raise RefusedError(f"--release goes with --state FALSE_POSITIVE only, got {arguments.state}")
        missing = [name for name in _RELEASE_VARIABLES if not os.environ.get(name)]
        if missing:
            raise RefusedError(f"--release needs {', '.join(missing)} (see the stack outputs)")
    violation = log.put_verification_state_on_violation(arguments.violation_id, arguments.state, arguments.description)
    output: dict[str, Any] = {
        "violationId": arguments.violation_id,
        "verificationState": arguments.state,
        "thingName": violation["thingName"],
    }
    if not arguments.release:
        return output, None
    try:
        output["released"] = _release(violation["thingName"], arguments, QuarantineRecords(table))
    except RefusedError as refusal:
        return output, str(refusal)
    return output, None


def _release(thing: str, arguments: argparse.Namespace, records: QuarantineRecords) -> list[str]:
    """Release the thing through the responder's release path, if this violation quarantined it."""
    # Imported here: the evaluator's function asset does not ship the remediation layer.
    from iot_defender_runtime.remediation.release import NoQuarantineRecordError, release_by_operator

    record = records.get(thing)
    if record is None:
        raise RefusedError(f"verification state set; thing '{thing}' has no quarantine record: nothing to release")
    if record.violation_id != arguments.violation_id:
        raise RefusedError(
            f"verification state set; thing '{thing}' was quarantined for violation {record.violation_id}, not "
            f"{arguments.violation_id}: not released (use python -m iot_defender_runtime.quarantine.release "
            f"{thing} if that one is a false positive too)"
        )
    reason = arguments.reason or f"violation {arguments.violation_id} verified FALSE_POSITIVE" + (
        f": {arguments.description}" if arguments.description else ""
    )
    notifier = Notifier(os.environ["NOTIFY_TOPIC_ARN"])
    try:
        return release_by_operator(thing, reason, os.environ["QUARANTINE_GROUP_NAME"], records, notifier)
    except NoQuarantineRecordError as error:
        raise RefusedError(f"verification state set; {error}") from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--table", help="the state table (default: STATE_TABLE_NAME)")
    commands = parser.add_subparsers(required=True, metavar="{active,events,verify}")
    active = commands.add_parser("active", help="violations in alarm (ListActiveViolations)")
    active.set_defaults(command=_active)
    events = commands.add_parser("events", help="violation events in a time range (ListViolationEvents)")
    events.add_argument("--start", required=True, type=_time, help="ISO 8601 (UTC if no zone) or epoch seconds")
    events.add_argument("--end", type=_time, help="ISO 8601 (UTC if no zone) or epoch seconds (default: now)")
    events.set_defaults(command=_events)
    for listing in (active, events):
        listing.add_argument("--thing", help="only this thing's violations")
        listing.add_argument("--profile", help="only this profile's violations")
        listing.add_argument("--verification-state", choices=_STATES, help="only violations in this state")
    verify = commands.add_parser(
        "verify", help="set a violation's verification state (PutVerificationStateOnViolation)"
    )
    verify.add_argument("violation_id")
    verify.add_argument("--state", required=True, choices=_STATES)
    verify.add_argument("--description", help="at most 1000 characters, no control characters")
    verify.add_argument("--release", action="store_true", help="with FALSE_POSITIVE: release the thing it quarantined")
    verify.add_argument("--reason", help="why, for the release's notification (default: the verdict)")
    verify.set_defaults(command=_verify)
    return parser


def _time(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is neither ISO 8601 nor epoch seconds") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


if __name__ == "__main__":
    sys.exit(main())
