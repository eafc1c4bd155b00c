"""Release a quarantined thing: restore its groups and certificate states from its record.

Operator use (credentials of the account; variables from the stack's outputs):

    QUARANTINE_GROUP_NAME=... STATE_TABLE_NAME=... NOTIFY_TOPIC_ARN=... \\
        python -m lambdas.quarantine.release THING [--reason TEXT]

It refuses, with exit status 2, when the thing has no quarantine record: without one there is no
known state to restore.
"""

from __future__ import annotations

import argparse
import os
import sys

from lambdas.adapters.iot_registry import IotRegistry
from lambdas.adapters.quarantine_records import QuarantineRecords
from lambdas.adapters.sns_notifier import Notifier
from lambdas.remediation.actions import NOTIFICATION_SOURCE


class NoQuarantineRecordError(LookupError):
    """There is no record for the thing, so there is nothing known to restore."""


def restore(
    thing_name: str, quarantine_group_name: str, registry: IotRegistry, records: QuarantineRecords
) -> list[str]:
    """Undo exactly what the responder changed; returns what was changed, in words.

    The thing leaves the quarantine group, rejoins any group it was in before and has since left,
    and each certificate recorded is set back to its recorded status. Groups it joined meanwhile are
    left alone. The record is deleted last, so that a failed release can be run again.
    """
    record = records.get(thing_name)
    if record is None:
        raise NoQuarantineRecordError(
            f"no quarantine record for thing '{thing_name}': refusing to release, because there is no known "
            "state to restore (was it quarantined by this responder, or already released?)"
        )
    facts = registry.thing_facts(thing_name)
    if not facts.exists:
        raise NoQuarantineRecordError(f"thing '{thing_name}' is no longer in the registry; its record is kept")
    changes: list[str] = []
    if quarantine_group_name in facts.group_names:
        registry.remove_thing_from_group(thing_name, quarantine_group_name)
        changes.append(f"removed from thing group {quarantine_group_name}")
    for group in record.groups_before:
        if group not in facts.group_names:
            registry.add_thing_to_group(thing_name, group)
            changes.append(f"added back to thing group {group}")
    current = registry.certificates_of(thing_name)
    for certificate_id, status in sorted(record.certificates_before.items()):
        if certificate_id in current and current[certificate_id] != status:
            registry.set_certificate_status(certificate_id, status)
            changes.append(f"certificate {certificate_id} set back to {status}")
    records.delete(thing_name)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambdas.quarantine.release", description=__doc__.split("\n")[0])
    parser.add_argument("thing", help="name of the quarantined thing")
    parser.add_argument("--reason", default="released by an operator", help="why; included in the notification")
    arguments = parser.parse_args(argv)
    missing = [n for n in ("QUARANTINE_GROUP_NAME", "STATE_TABLE_NAME", "NOTIFY_TOPIC_ARN") if not os.environ.get(n)]
    if missing:
        print(f"set {', '.join(missing)} (see the stack outputs)", file=sys.stderr)
        return 2
    group = os.environ["QUARANTINE_GROUP_NAME"]
    records = QuarantineRecords(os.environ["STATE_TABLE_NAME"])
    try:
        changes = restore(arguments.thing, group, IotRegistry(), records)
    except NoQuarantineRecordError as error:
        print(str(error), file=sys.stderr)
        return 2
    if changes:
        records.log_action(thing_name=arguments.thing, what=changes, why=arguments.reason, by="operator")
    Notifier(os.environ["NOTIFY_TOPIC_ARN"]).publish(
        f"Device Defender release: {arguments.thing}",
        {
            "source": NOTIFICATION_SOURCE,
            "thingName": arguments.thing,
            "release": {"by": "operator", "reason": arguments.reason, "changes": changes},
        },
    )
    print(f"released {arguments.thing}: " + ("; ".join(changes) if changes else "nothing needed restoring"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
