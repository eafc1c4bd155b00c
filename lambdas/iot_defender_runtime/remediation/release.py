"""Releasing a quarantined thing: its groups and certificate states restored from its record, shared
by the operators' release commands (``iot-defender release``, ``python -m iot_defender_runtime.quarantine.release``),
the responder's ``release`` action and ``iot-defender violations verify --state FALSE_POSITIVE --release``."""

from __future__ import annotations

from iot_defender_runtime.adapters.iot_registry import IotRegistry
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.remediation.actions import NOTIFICATION_SOURCE


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


def release_by_operator(
    thing_name: str,
    reason: str,
    quarantine_group_name: str,
    records: QuarantineRecords,
    notifier: Notifier,
    registry: IotRegistry | None = None,
) -> list[str]:
    """``restore``, then the change logged (by ``operator``) and the operators notified; returns the changes.
    ``NoQuarantineRecordError`` when there is nothing known to restore."""
    changes = restore(thing_name, quarantine_group_name, registry or IotRegistry(), records)
    if changes:
        records.log_action(thing_name=thing_name, what=changes, why=reason, by="operator")
    notifier.publish(
        f"Device Defender release: {thing_name}",
        {
            "source": NOTIFICATION_SOURCE,
            "thingName": thing_name,
            "release": {"by": "operator", "reason": reason, "changes": changes},
        },
    )
    return changes
