"""The registry changes both remediation functions make, each recorded so a release can undo it, each
logged right after it succeeds, and the decision's notification kept until it is published."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iot_defender_runtime.adapters.quarantine_records import PendingNotice, QuarantineRecord
from iot_defender_runtime.model.things import ACTIVE, INACTIVE, ThingFacts, certificate_exemption

if TYPE_CHECKING:  # types only: importing them at run time would import boto3 with the handler (cold start)
    from iot_defender_runtime.adapters.iot_registry import Certificate, IotRegistry
    from iot_defender_runtime.adapters.quarantine_records import QuarantineRecords
    from iot_defender_runtime.adapters.sns_notifier import Notifier
    from iot_defender_runtime.remediation.breaker import QuarantineBreaker

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "IN_PROGRESS_SECONDS",
    "NOTIFICATION_SOURCE",
    "ChangeLog",
    "QuarantineHeldError",
    "QuarantineInProgressError",
    "admit_or_hold",
    "deactivatable",
    "move_into_quarantine",
    "record_state",
    "slot_key",
]
NOTIFICATION_SOURCE = "iot-device-defender-constructs/quarantine"
# A record written by another cause this recently is a quarantine still under way (a Lambda runs at
# most 15 minutes); an older one is a finished quarantine whose thing has left the group since.
IN_PROGRESS_SECONDS = 900


class QuarantineHeldError(RuntimeError):
    """The blast-radius breaker is open: the record is failed so that SQS keeps it for replay."""

    def __init__(self, message: str, *, newly_tripped: bool) -> None:
        super().__init__(message)
        self.newly_tripped = newly_tripped


class QuarantineInProgressError(RuntimeError):
    """Another violation or finding is quarantining the thing right now, or has just done it: the record
    is failed and retried, and then decides again on what the registry says (so one quarantine is made,
    logged and counted)."""


def slot_key(action: str, subject: str) -> str:
    """The breaker slot of one action on one subject (``quarantine`` of a thing, ``deactivate`` of a
    certificate): a short digest, so that a breaker item stays small at any limit."""
    return hashlib.sha256(f"{action}\n{subject}".encode()).hexdigest()[:16]


def admit_or_hold(
    breaker: QuarantineBreaker, notifier: Notifier, *, limit: int, held: str, what: str, key: str = ""
) -> None:
    """Take one slot of the breaker (or the one ``key`` already took), or announce the trip once and
    raise ``QuarantineHeldError``."""
    admission = breaker.acquire(key)
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
    claim: bool = False,
) -> list[Certificate]:
    """Write the thing's groups, and with ``with_certificates`` its certificate states, before any change
    (the first record wins; certificate states missing from an earlier record are added to it); returns
    the certificates read now (none without ``with_certificates``).

    With ``claim`` (the caller is about to quarantine the thing), a record another cause holds is
    checked (``_check_claim``): the thing is quarantined once, by one cause.

    Reading certificate states costs ``ListThingPrincipals`` and one ``DescribeCertificate`` per
    certificate, so a caller that will not change certificates passes ``with_certificates=False``: a
    release then leaves certificates as they are, which is what this change left them."""
    certificates = registry.certificates(thing.name) if with_certificates else []
    states = {c.certificate_id: c.status for c in certificates}
    now = datetime.now(tz=UTC)
    record = QuarantineRecord(
        thing_name=thing.name,
        quarantine_group_name=quarantine_group_name,
        groups_before=thing.group_names,
        violation_id=cause_id,
        security_profile_name=source_name,
        behavior_name=detail_name,
        quarantined_at=now,
        certificates_before=states,
    )
    if records.save_if_absent(record):
        return certificates
    if claim:
        holder = records.get(thing.name)
        if holder is not None and holder.violation_id != cause_id:
            _check_claim(registry, holder, thing.name, quarantine_group_name, now)
    if states:
        records.add_certificates_if_absent(thing.name, states)
    return certificates


def _check_claim(registry: IotRegistry, holder: QuarantineRecord, thing_name: str, group: str, now: datetime) -> None:
    """Another cause holds the thing's record: raise ``QuarantineInProgressError`` while that cause is
    quarantining it (not marked moved, written less than ``IN_PROGRESS_SECONDS`` ago), or when it has
    moved the thing since this decision read the registry (the thing is in the group now: one
    ``ListThingGroupsForThing``); the retry decides again. A thing that left the group since is
    quarantined again, under the first record."""
    if not holder.moved:
        age = (now - holder.quarantined_at).total_seconds()
        if age < IN_PROGRESS_SECONDS:
            raise QuarantineInProgressError(
                f"thing '{thing_name}' is being quarantined for {holder.violation_id} (record written "
                f"{age:.0f} s ago); this record is retried"
            )
    elif group in registry.groups_of(thing_name):
        raise QuarantineInProgressError(
            f"thing '{thing_name}' was quarantined for {holder.violation_id} meanwhile; this record is retried"
        )


def move_into_quarantine(registry: IotRegistry, records: QuarantineRecords, thing_name: str, group: str) -> None:
    """``AddThingToThingGroup``, then the record marked moved (the claim is done)."""
    registry.add_thing_to_group(thing_name, group)
    records.mark_moved(thing_name)


def deactivatable(
    registry: IotRegistry, thing: ThingFacts, certificates: Iterable[Certificate], exempt_groups: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Which active certificates of ``thing`` may be deactivated, and why the others are left alone:
    a certificate another thing uses (``ListPrincipalThings``) is left alone when that thing is exempt."""
    allowed: list[str] = []
    kept: list[str] = []
    for certificate in sorted(certificates, key=lambda c: c.certificate_id):
        if certificate.status != ACTIVE:
            continue
        others = [name for name in registry.things_of(certificate.arn) if name != thing.name]
        users = [registry.thing_facts(name, ancestry=bool(exempt_groups)) for name in others]
        exemption = certificate_exemption(users, exempt_groups)
        if exemption is None:
            allowed.append(certificate.certificate_id)
        else:
            kept.append(f"certificate {certificate.certificate_id} left active: {exemption}")
    return allowed, kept


class ChangeLog:
    """The changes of one decision (``key``: its violation event or finding). Before the first change
    its notification is written as pending (``prepare``); each change is logged right after it succeeds,
    in the action log under its subject and in the pending notification (``changed``); ``deliver``
    publishes the notification and deletes it. A retry of a decision that changed something finds the
    pending notification (``notice``) and delivers it with every change, its own included, so an action
    is notified at least once whatever failed after it, and once when nothing did."""

    def __init__(self, records: QuarantineRecords, key: str, *, by: str, why: str, cause: Mapping[str, str]) -> None:
        self._records = records
        self.key = key
        self._by = by
        self._why = why
        self._cause = dict(cause)
        self.notice: PendingNotice | None = records.notice(key)
        self.taken: list[str] = []
        self._items: dict[tuple[str, str], str] = {}

    def prepare(self, subject: str, message: Mapping[str, Any]) -> None:
        """Write the pending notification, unless a retry's is there (it is kept, with its changes)."""
        if self.notice is None:
            self.notice = self._records.open_notice(self.key, subject, message)

    def changed(self, change: str, *, thing_name: str | None = None, certificate_id: str | None = None) -> None:
        """Log one change that has just succeeded: one action log item per subject of this decision."""
        subject = ("thing", thing_name) if thing_name is not None else ("certificate", certificate_id or "")
        if subject in self._items:
            self._records.append_action(self._items[subject], [change])
        else:
            self._items[subject] = self._records.log_action(
                what=[change],
                why=self._why,
                by=self._by,
                thing_name=thing_name,
                certificate_id=certificate_id,
                **self._cause,
            )
        if self.notice is not None:
            self._records.add_to_notice(self.key, [change])
        self.taken.append(change)

    def all_taken(self) -> list[str]:
        """Every change of this decision: those a failed attempt made before this one, then this one's."""
        return [*(self.notice.actions_taken if self.notice else ()), *self.taken]

    def deliver(
        self, notifier: Notifier, subject: str, message: Mapping[str, Any], *, merged: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Publish the notification: the pending one (with every change, and the lists named in ``merged``
        joined with this attempt's) if there is one, else ``message``; then delete the pending one.
        Returns what was published."""
        published = dict(message)
        if self.notice is not None:
            subject, published = self.notice.subject, dict(self.notice.message)
            for name in merged:
                earlier = list(published.get(name) or [])
                joined = earlier + [item for item in message.get(name) or [] if item not in earlier]
                if joined:
                    published[name] = joined
            published["actionsTaken"] = self.all_taken()
        notifier.publish(subject, published)
        if self.notice is not None:
            self._records.delete_notice(self.key)
        return published

    def announce_held(self, notifier: Notifier) -> None:
        """The breaker held a later change of this decision, after earlier ones were made: publish the
        pending notification with the changes made so far (``held``: true), so they are announced even
        if the record then waits in the dead-letter queue; it stays pending for the retry that completes
        the decision."""
        if self.notice is None or not self.all_taken():
            return
        published = dict(self.notice.message)
        published["actionsTaken"] = self.all_taken()
        published["held"] = True
        notifier.publish(f"{self.notice.subject} (further actions held by the breaker)", published)

    def close(self) -> None:
        """No notification to deliver (the decision does not notify): forget the pending one."""
        if self.notice is not None:
            self._records.delete_notice(self.key)
