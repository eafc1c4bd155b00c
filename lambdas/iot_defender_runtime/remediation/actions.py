"""The registry changes both remediation functions make, each recorded so a release can undo it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iot_defender_runtime.adapters.quarantine_records import QuarantineRecord
from iot_defender_runtime.model.things import ACTIVE, INACTIVE, ThingFacts

if TYPE_CHECKING:  # types only: importing them at run time would import boto3 with the handler (cold start)
    from iot_defender_runtime.adapters.iot_registry import IotRegistry
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
    from iot_defender_runtime.adapters.sns_notifier import Notifier
    from iot_defender_runtime.remediation.breaker import QuarantineBreaker

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "NOTIFICATION_SOURCE",
    "QuarantineHeldError",
    "admit_or_hold",
    "deactivate_active",
    "record_state",
]
NOTIFICATION_SOURCE = "iot-device-defender-constructs/quarantine"


class QuarantineHeldError(RuntimeError):
    """The blast-radius breaker is open: the record is failed so that SQS keeps it for replay."""

    def __init__(self, message: str, *, newly_tripped: bool) -> None:
        super().__init__(message)
        self.newly_tripped = newly_tripped


def admit_or_hold(breaker: QuarantineBreaker, notifier: Notifier, *, limit: int, held: str, what: str) -> None:
    """Take one slot of the breaker, or announce the trip once and raise ``QuarantineHeldError``."""
    admission = breaker.acquire()
    if admission.admitted:
        return
    if admission.newly_tripped:
        notifier.publish(
            f"[ACTION NEEDED] Device Defender {what} breaker tripped",
            {
                "source": NOTIFICATION_SOURCE,
                "breaker": {
                    "tripped": True,
                    "limit": limit,
                    "countInWindow": admission.count_in_window,
                    "held": held,
                    "what": (
                        f"{admission.count_in_window} {what} actions in the last hour reached the limit of {limit}; "
                        "further ones are held (their records return to the queue and then the dead-letter queue "
                        "for replay). The breaker resets an hour after tripping, or now with "
                        f"'iot-defender breaker reset {breaker.name}'."
                    ),
                },
            },
        )
    raise QuarantineHeldError(
        f"{what} of '{held}' held: the breaker allows {limit} per rolling hour", newly_tripped=admission.newly_tripped
    )


def record_state(
    records: QuarantineRecords,
    registry: IotRegistry,
    thing: ThingFacts,
    *,
    quarantine_group_name: str,
    cause_id: str,
    source_name: str,
    detail_name: str,
    with_certificates: bool = True,
) -> dict[str, str]:
    """Write the thing's groups, and with ``with_certificates`` its certificate states, before any change
    (the first record wins; certificate states missing from an earlier record are added to it); returns
    the certificate states read now (none without ``with_certificates``).

    Reading certificate states costs ``ListThingPrincipals`` and one ``DescribeCertificate`` per
    certificate, so a caller that will not change certificates passes ``with_certificates=False``: a
    release then leaves certificates as they are, which is what this change left them."""
    certificates = registry.certificates_of(thing.name) if with_certificates else {}
    saved = records.save_if_absent(
        QuarantineRecord(
            thing_name=thing.name,
            quarantine_group_name=quarantine_group_name,
            groups_before=thing.group_names,
            violation_id=cause_id,
            security_profile_name=source_name,
            behavior_name=detail_name,
            quarantined_at=datetime.now(tz=UTC),
            certificates_before=certificates,
        )
    )
    if not saved and certificates:
        records.add_certificates_if_absent(thing.name, certificates)
    return certificates


def deactivate_active(registry: IotRegistry, certificates: dict[str, str]) -> list[str]:
    changed = []
    for certificate_id, status in sorted(certificates.items()):
        if status == ACTIVE:
            registry.set_certificate_status(certificate_id, INACTIVE)
            changed.append(f"deactivated certificate {certificate_id}")
    return changed
