"""The record kept for each quarantined thing, so that a release can restore exactly what was; the
action log; and the pending notification of each decision that changes something."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

RECORD_PREFIX = "quarantine#"
ACTION_PREFIX = "action#"
NOTICE_PREFIX = "notice#"
ACTION_LOG_DAYS = 400  # beyond a year of audits; DynamoDB TTL (attribute expiresAt) removes older entries
# Longer than SQS keeps a message (14 days), so that a record redriven from the dead-letter queue finds it.
NOTICE_DAYS = 15


@dataclass(frozen=True)
class QuarantineRecord:
    thing_name: str
    quarantine_group_name: str
    groups_before: tuple[str, ...]
    violation_id: str
    security_profile_name: str
    behavior_name: str
    quarantined_at: datetime
    certificates_before: Mapping[str, str] = field(default_factory=dict)
    moved: bool = False  # the thing was moved into the group for this record (``movedAt``)


@dataclass(frozen=True)
class PendingNotice:
    """The notification of a decision, written before its first change and deleted once published;
    ``actions_taken`` grows as each change succeeds."""

    key: str
    subject: str
    message: Mapping[str, Any]
    actions_taken: tuple[str, ...] = ()


class QuarantineRecords:
    """Items in the state table (partition key ``id``): ``quarantine#<thing>`` records,
    ``action#<subject>#<time>#<cause>`` action log entries and ``notice#<decision key>`` pending
    notifications."""

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        if dynamodb is None:  # imported here: boto3 is not imported with the handler (cold start)
            from iot_defender_runtime.adapters.aws_clients import client

            dynamodb = client("dynamodb")
        self._dynamodb = dynamodb

    def save_if_absent(self, record: QuarantineRecord) -> bool:
        """Keep the first record: it holds the state before any action. Returns False if one exists."""
        item: dict[str, Any] = {
            "id": {"S": RECORD_PREFIX + record.thing_name},
            "thingName": {"S": record.thing_name},
            "quarantineGroupName": {"S": record.quarantine_group_name},
            "groupsBefore": {"L": [{"S": name} for name in record.groups_before]},
            "certificatesBefore": {"M": {cert: {"S": status} for cert, status in record.certificates_before.items()}},
            "violationId": {"S": record.violation_id},
            "securityProfileName": {"S": record.security_profile_name},
            "behaviorName": {"S": record.behavior_name},
            "quarantinedAt": {"S": record.quarantined_at.astimezone(UTC).isoformat()},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def add_certificates_if_absent(self, thing_name: str, certificates: Mapping[str, str]) -> None:
        """Add certificate states to an existing record, keeping any state already recorded (the state
        before the first change wins). No record, nothing written: the thing was released meanwhile."""
        names = {f"#c{index}": certificate for index, certificate in enumerate(sorted(certificates))}
        values = {
            f":c{index}": {"S": certificates[certificate]} for index, certificate in enumerate(sorted(certificates))
        }
        key = {"id": {"S": RECORD_PREFIX + thing_name}}
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key=key,
                UpdateExpression="SET "
                + ", ".join(f"certificatesBefore.{n} = if_not_exists(certificatesBefore.{n}, :{n[1:]})" for n in names),
                ConditionExpression="attribute_exists(id) AND attribute_exists(certificatesBefore)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        try:  # a record without the map: write it whole
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key=key,
                UpdateExpression="SET certificatesBefore = :all",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(certificatesBefore)",
                ExpressionAttributeValues={":all": {"M": {c: {"S": s} for c, s in certificates.items()}}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def get(self, thing_name: str) -> QuarantineRecord | None:
        response = self._dynamodb.get_item(
            TableName=self._table_name, Key={"id": {"S": RECORD_PREFIX + thing_name}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return None
        return QuarantineRecord(
            thing_name=item["thingName"]["S"],
            quarantine_group_name=item["quarantineGroupName"]["S"],
            groups_before=tuple(entry["S"] for entry in item["groupsBefore"]["L"]),
            violation_id=item["violationId"]["S"],
            security_profile_name=item["securityProfileName"]["S"],
            behavior_name=item["behaviorName"]["S"],
            quarantined_at=datetime.fromisoformat(item["quarantinedAt"]["S"]),
            certificates_before={
                cert: value["S"] for cert, value in item.get("certificatesBefore", {"M": {}})["M"].items()
            },
            moved="movedAt" in item,
        )

    def mark_moved(self, thing_name: str) -> None:
        """Say on the record that its cause has moved the thing into the group (``movedAt``): the
        quarantine it claimed is done, not under way. No record, nothing written."""
        try:
            self._dynamodb.update_item(
                TableName=self._table_name,
                Key={"id": {"S": RECORD_PREFIX + thing_name}},
                UpdateExpression="SET movedAt = :now",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues={":now": {"S": datetime.now(tz=UTC).isoformat()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def delete(self, thing_name: str) -> None:
        self._dynamodb.delete_item(TableName=self._table_name, Key={"id": {"S": RECORD_PREFIX + thing_name}})

    def log_action(
        self,
        *,
        what: Sequence[str],
        why: str,
        by: str,
        thing_name: str | None = None,
        certificate_id: str | None = None,
        violation_id: str | None = None,
        event_type: str | None = None,
        finding_id: str | None = None,
        check_name: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """One item per change set made to one subject, a thing (``thing_name``, written as ``thingName``)
        or a device certificate (``certificate_id``, written as ``certificateId``): what, why, caused by
        which violation (``violationId``, ``violationEventType``) or audit finding (``findingId``,
        ``checkName``), or by an operator, and by whom. Item id ``action#<subject>#<time>#<cause>``;
        returns it."""
        if (thing_name is None) == (certificate_id is None):
            raise ValueError("an action is about exactly one subject: give thing_name or certificate_id")
        subject = thing_name if thing_name is not None else certificate_id
        moment = (at or datetime.now(tz=UTC)).astimezone(UTC)
        cause = violation_id or finding_id or "operator"
        item_id = f"{ACTION_PREFIX}{subject}#{moment.isoformat()}#{cause}"
        item: dict[str, Any] = {
            "id": {"S": item_id},
            "changes": {"L": [{"S": change} for change in what]},
            "reason": {"S": why},
            "by": {"S": by},
            "at": {"S": moment.isoformat()},
            "expiresAt": {"N": str(int(moment.timestamp()) + ACTION_LOG_DAYS * 86400)},
        }
        optional = {
            "thingName": thing_name,
            "certificateId": certificate_id,
            "violationId": violation_id,
            "violationEventType": event_type,
            "findingId": finding_id,
            "checkName": check_name,
        }
        item.update({name: {"S": value} for name, value in optional.items() if value})
        self._dynamodb.put_item(TableName=self._table_name, Item=item)
        return item_id

    def append_action(self, item_id: str, what: Sequence[str]) -> None:
        """Add changes to an action log entry written by ``log_action`` (the same decision's next change)."""
        self._dynamodb.update_item(
            TableName=self._table_name,
            Key={"id": {"S": item_id}},
            UpdateExpression="SET changes = list_append(changes, :more)",
            ExpressionAttributeValues={":more": {"L": [{"S": change} for change in what]}},
        )

    def open_notice(self, key: str, subject: str, message: Mapping[str, Any]) -> PendingNotice:
        """Write the pending notification of decision ``key`` unless one is there already (a retry's:
        it is kept, with the changes it holds); returns the one that holds."""
        now = datetime.now(tz=UTC)
        item = {
            "id": {"S": NOTICE_PREFIX + key},
            "subject": {"S": subject},
            "message": {"S": json.dumps(message, sort_keys=True, default=str)},
            "actionsTaken": {"L": []},
            "createdAt": {"S": now.isoformat()},
            "expiresAt": {"N": str(int(now.timestamp()) + NOTICE_DAYS * 86400)},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table_name, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.notice(key)
            if existing is not None:
                return existing
        return PendingNotice(key, subject, json.loads(item["message"]["S"]))

    def notice(self, key: str) -> PendingNotice | None:
        item = self._dynamodb.get_item(
            TableName=self._table_name, Key={"id": {"S": NOTICE_PREFIX + key}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return PendingNotice(
            key=key,
            subject=item["subject"]["S"],
            message=json.loads(item["message"]["S"]),
            actions_taken=tuple(entry["S"] for entry in item.get("actionsTaken", {"L": []})["L"]),
        )

    def add_to_notice(self, key: str, what: Sequence[str]) -> None:
        self._dynamodb.update_item(
            TableName=self._table_name,
            Key={"id": {"S": NOTICE_PREFIX + key}},
            UpdateExpression="SET actionsTaken = list_append(actionsTaken, :more)",
            ExpressionAttributeValues={":more": {"L": [{"S": change} for change in what]}},
        )

    def delete_notice(self, key: str) -> None:
        self._dynamodb.delete_item(TableName=self._table_name, Key={"id": {"S": NOTICE_PREFIX + key}})
