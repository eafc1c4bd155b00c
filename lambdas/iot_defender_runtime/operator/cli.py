"""``iot-defender``: one command for the operators of a deployment.

    iot-defender [--stack NAME | --table T --quarantine-group G --notify-topic ARN] [--region R] [--profile P] [--json]
        quarantined | release THING [--reason TEXT] | breaker status|reset [quarantines|audit-actions]
        | actions THING | violations active|events|verify ... | models status [--security-profile NAME]

Exit status: 0 done; 1 an AWS call failed; 2 bad usage, or refused (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from iot_defender_runtime.adapters.operator_reads import StackNotFoundError, use_session
from iot_defender_runtime.adapters.violation_log import UnknownViolationError
from iot_defender_runtime.operator import breakers, models, quarantine, violations
from iot_defender_runtime.operator.results import Result, UsageError
from iot_defender_runtime.operator.where import Where, resolve
from iot_defender_runtime.remediation.breaker import ConcurrentUpdateError

PROG = "iot-defender"
Command = Callable[[argparse.Namespace, Where], Result]
_WHERE = (
    "Where: --stack NAME reads the outputs StateTableName, QuarantineGroupName and NotifyTopicArn of a stack "
    "(DeviceDefender(outputs=True)); --table, --quarantine-group and --notify-topic win over them, and the "
    "variables STATE_TABLE_NAME, QUARANTINE_GROUP_NAME and NOTIFY_TOPIC_ARN stand in for what is missing."
)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (0 done, 1 an AWS call failed, 2 bad usage or refused)."""
    try:
        arguments = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or bad usage (2), already printed by argparse
        return stop.code if isinstance(stop.code, int) else 2
    try:
        use_session(arguments.region, arguments.profile)
        result = arguments.command(arguments, resolve(arguments, os.environ))
    except (UsageError, ValueError, UnknownViolationError, StackNotFoundError, ProfileNotFound) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, ConcurrentUpdateError) as error:
        print(f"{PROG}: AWS call failed: {error}", file=sys.stderr)
        return 1
    print(result.render(arguments.json))
    if result.refusal:
        print(f"{PROG}: {result.refusal}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate an AWS IoT Device Defender deployment of this library. " + _WHERE,
        epilog="Exit status: 0 done; 1 an AWS call failed; 2 bad usage, or refused (the message says why).",
        parents=[_common(suppress=False)],
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add(commands, "quarantined", quarantine.quarantined, "the things in quarantine, why and since when")
    release = _add(commands, "release", quarantine.release, "release a thing: restore its groups and certificates")
    release.add_argument("thing", help="name of the quarantined thing")
    release.add_argument("--reason", default="released by an operator", help="why; logged and notified")
    actions = _add(commands, "actions", quarantine.actions, "the action log of a thing (or a certificate id)")
    actions.add_argument("subject", metavar="THING", help="a thing name, or a certificate id")
    _add_breaker(commands)
    _add_violations(commands)
    _add_models(commands)
    return parser


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every (sub)command takes; on subcommands they default to 'not given' so that the
    same option before the subcommand still counts."""
    common = argparse.ArgumentParser(add_help=False)
    default = {"default": argparse.SUPPRESS} if suppress else {}
    options = common.add_argument_group("where and how")
    options.add_argument("--stack", metavar="NAME", help="read the stack's outputs (DescribeStacks)", **default)
    options.add_argument("--table", help="the state table (STATE_TABLE_NAME, output StateTableName)", **default)
    group_help = "the quarantine thing group (QUARANTINE_GROUP_NAME, output QuarantineGroupName)"
    options.add_argument("--quarantine-group", metavar="GROUP", help=group_help, **default)
    topic_help = "the notification topic (NOTIFY_TOPIC_ARN, output NotifyTopicArn)"
    options.add_argument("--notify-topic", metavar="ARN", help=topic_help, **default)
    options.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)", **default)
    options.add_argument("--profile", help="named AWS profile (default: the usual credential chain)", **default)
    options.add_argument("--json", action="store_true", help="print JSON for machines instead of text", **default)
    return common


def _add(
    commands: argparse._SubParsersAction, name: str, command: Command | None, summary: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=summary, description=f"{summary}. {_WHERE}", parents=[_common(suppress=True)]
    )
    if command is not None:
        parser.set_defaults(command=command)
    return parser


def _add_breaker(commands: argparse._SubParsersAction) -> None:
    breaker = _add(commands, "breaker", None, "the blast-radius breakers: count, limit, when they reset; reset")
    actions = breaker.add_subparsers(required=True, metavar="status|reset")
    status = _add(actions, "status", breakers.status, "count in the last hour, limit and reset time of a breaker")
    status.add_argument("breaker", nargs="?", metavar="quarantines|audit-actions", help="default: both")
    reset = _add(actions, "reset", breakers.reset, "empty a breaker's window and clear its trip now")
    reset.add_argument("breaker", nargs="?", metavar="quarantines|audit-actions", help="which one (required)")


def _add_violations(commands: argparse._SubParsersAction) -> None:
    group = _add(commands, "violations", None, "self-hosted Detect's violations (ListActiveViolations look-alikes)")
    kinds = group.add_subparsers(required=True, metavar="active|events|verify")
    active = _add(kinds, "active", violations.active, "violations in alarm (ListActiveViolations)")
    events = _add(kinds, "events", violations.events, "violation events in a time range (ListViolationEvents)")
    events.add_argument(
        "--start", required=True, type=violations.parse_time, help="ISO 8601 (UTC if no zone) or epoch s"
    )
    events.add_argument("--end", type=violations.parse_time, help="ISO 8601 or epoch seconds (default: now)")
    for listing in (active, events):
        listing.add_argument("--thing", help="only this thing's violations")
        listing.add_argument("--security-profile", metavar="NAME", help="only this security profile's")
        listing.add_argument("--verification-state", choices=violations.STATES, help="only those in this state")
    verify = _add(kinds, "verify", violations.verify, "set a verification state (PutVerificationStateOnViolation)")
    verify.add_argument("violation_id", metavar="VIOLATION_ID")
    verify.add_argument("--state", required=True, choices=violations.STATES)
    verify.add_argument("--description", help="at most 1000 characters, no control characters")
    verify.add_argument("--release", action="store_true", help="with FALSE_POSITIVE: release the thing it quarantined")
    verify.add_argument("--reason", help="why, for the release's notification (default: the verdict)")


def _add_models(commands: argparse._SubParsersAction) -> None:
    group = _add(commands, "models", None, "self-hosted ML Detect: the learned behaviors' models")
    kinds = group.add_subparsers(required=True, metavar="status")
    status = _add(kinds, "status", models.status, "each model's status (GetBehaviorModelTrainingSummaries)")
    status.add_argument("--security-profile", metavar="NAME", help="only this security profile's models")
