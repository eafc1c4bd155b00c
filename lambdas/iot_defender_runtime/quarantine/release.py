"""Release a quarantined thing: restore its groups and certificate states from its record.

Operator use (credentials of the account; variables from the stack's outputs):

    QUARANTINE_GROUP_NAME=... STATE_TABLE_NAME=... NOTIFY_TOPIC_ARN=... \\
        python -m iot_defender_runtime.quarantine.release THING [--reason TEXT]

It refuses, with exit status 2, when the thing has no quarantine record: without one there is no
known state to restore. ``iot-defender release THING [--reason TEXT] --stack NAME`` does the same
with the stack's outputs (``iot_defender_runtime.operator``).
"""

from __future__ import annotations

import argparse
import os
import sys

from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.remediation.release import NoQuarantineRecordError, release_by_operator, restore

__all__ = ["NoQuarantineRecordError", "main", "restore"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iot_defender_runtime.quarantine.release", description=__doc__.split("\n")[0]
    )
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
        changes = release_by_operator(
            arguments.thing, arguments.reason, group, records, Notifier(os.environ["NOTIFY_TOPIC_ARN"])
        )
    except NoQuarantineRecordError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(f"released {arguments.thing}: " + ("; ".join(changes) if changes else "nothing needed restoring"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
