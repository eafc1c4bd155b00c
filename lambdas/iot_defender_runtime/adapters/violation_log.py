"""The self-hosted evaluator's violations, kept in the state table for operators, as managed Detect
keeps them behind ``ListActiveViolations``, ``ListViolationEvents`` and
``PutVerificationStateOnViolation``; the methods of ``ViolationLog`` mirror those calls and return
the API's shapes (``ActiveViolation``, ``ViolationEvent``, timestamps as ``datetime``, as boto3 does).

Item ``detect-violation#<violationId>``, one per violation, written with ``UpdateItem`` so that the
evaluator's writes and an operator's verdict never overwrite each other:

- ``thingName``, ``securityProfileName``; ``behavior``: the API ``Behavior`` JSON of its ``in-alarm``;
- ``event:<type>``: the alert JSON published for each event type; a publish repeated on retry
  writes the same attribute with the same value (idempotent on violationId and event type);
- ``startedAt`` / ``endedAt``: epoch milliseconds of its ``in-alarm`` / of its ``alarm-cleared`` or
  ``alarm-invalidated``: an active violation has no ``endedAt``;
- ``verificationState``, ``verificationStateDescription``: written by operators only;
- ``expiresAt``: set when the violation ends, ``RETENTION_DAYS`` later (the table's TTL attribute);
  an active violation does not expire.

The table's only key is ``id``, so listing is a scan filtered on the prefix (and on thing, profile
and times): it reads the whole table, like the sweep. Meant for operators, not for a hot path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.model.violation import (
    VERIFICATION_DESCRIPTION_MAX,
    VerificationState,
    ViolationEvent,
    ViolationEventType,
)

PREFIX = "detect-violation#"
RETENTION_DAYS = 30  # after a violation ends; AWS does not document how long managed Detect keeps them
_EVENT = "event:"
_DAY_SECONDS = 86_400

Timestamp = datetime | float  # an aware datetime, or epoch seconds


class UnknownViolationError(LookupError):
    """No violation with that id in the log (never raised by this evaluator, or expired)."""


def violation_key(violation_id: str) -> str:
    return f"{PREFIX}{violation_id}"


class ViolationLog:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or client("dynamodb")

    def record(self, message: Mapping[str, Any]) -> None:
        """Keep one published alert (``ViolationEvent.to_message()`` JSON); the same alert again changes nothing."""
        event = ViolationEvent.model_validate(message)
        at = int(message["violationEventTime"])
        values: dict[str, Any] = {
            ":thing": {"S": event.thing_name},
            ":profile": {"S": event.security_profile_name},
            ":event": {"S": json.dumps(dict(message), sort_keys=True, allow_nan=False)},
            ":behavior": {"S": json.dumps(message["behavior"], sort_keys=True)},
            ":at": {"N": str(at)},
        }
        updates = ["thingName = :thing", "securityProfileName = :profile", "#event = :event"]
        if event.violation_event_type is ViolationEventType.IN_ALARM:
            updates += ["behavior = :behavior", "startedAt = :at"]
        else:
            updates += ["behavior = if_not_exists(behavior, :behavior)", "endedAt = :at", "expiresAt = :expires"]
            values[":expires"] = {"N": str(at // 1000 + RETENTION_DAYS * _DAY_SECONDS)}
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": violation_key(event.violation_id)}},
            UpdateExpression="SET " + ", ".join(updates),
            ExpressionAttributeNames={"#event": _EVENT + event.violation_event_type.value},
            ExpressionAttributeValues=values,
        )

    def list_active_violations(
        self,
        thing_name: str | None = None,
        security_profile_name: str | None = None,
        verification_state: str | None = None,
    ) -> list[dict[str, Any]]:
        """``ListActiveViolations``: violations in alarm, as ``ActiveViolation``, oldest first.

        ``lastViolationValue`` and ``lastViolationTime`` are those of the ``in-alarm`` event: the
        evaluator publishes nothing while a violation goes on, so it keeps nothing newer."""
        filters = _filters(thing_name, security_profile_name, verification_state)
        filters.add("attribute_exists(startedAt) AND attribute_not_exists(endedAt)")
        active = [_active(item) for item in self._scan(filters)]
        return sorted(active, key=lambda violation: violation["violationStartTime"])

    def list_violation_events(
        self,
        start_time: Timestamp,
        end_time: Timestamp,
        thing_name: str | None = None,
        security_profile_name: str | None = None,
        verification_state: str | None = None,
    ) -> list[dict[str, Any]]:
        """``ListViolationEvents``: the events from ``start_time`` to ``end_time`` (both included), as
        ``ViolationEvent``, oldest first, each with its violation's verification state."""
        start, end = _epoch_ms(start_time), _epoch_ms(end_time)
        if start > end:
            raise ValueError(f"start time {start_time} is after end time {end_time}")
        filters = _filters(thing_name, security_profile_name, verification_state)
        filters.add("(startedAt BETWEEN :start AND :end OR endedAt BETWEEN :start AND :end)", start=start, end=end)
        events = [event for item in self._scan(filters) for event in _events(item, start, end)]
        return sorted(events, key=lambda event: event["violationEventTime"])

    def put_verification_state_on_violation(
        self, violation_id: str, verification_state: str, verification_state_description: str | None = None
    ) -> dict[str, Any]:
        """``PutVerificationStateOnViolation``, checked as the API checks it; returns the violation's
        ``thingName``, ``securityProfileName`` and ``behavior`` (the API returns nothing)."""
        state = _verification_state(verification_state)
        values: dict[str, Any] = {":state": {"S": state}}
        update = "SET verificationState = :state"
        if verification_state_description is None:
            update += " REMOVE verificationStateDescription"
        else:
            values[":description"] = {"S": _description(verification_state_description)}
            update += ", verificationStateDescription = :description"
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": violation_key(violation_id)}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise UnknownViolationError(
                    f"no violation '{violation_id}' in the violation log of table {self._table} "
                    f"(never raised by the self-hosted evaluator, or ended over {RETENTION_DAYS} days ago)"
                ) from error
            raise
        item = response["Attributes"]
        return {
            "thingName": item["thingName"]["S"],
            "securityProfileName": item["securityProfileName"]["S"],
            "behavior": json.loads(item["behavior"]["S"]),
        }

    def _scan(self, filters: _Filters) -> Iterator[dict[str, Any]]:
        paginator = self._dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=self._table, **filters.request()):
            yield from page.get("Items", [])


class _Filters:
    """A scan's FilterExpression over the violation items, built condition by condition."""

    def __init__(self) -> None:
        self._conditions = ["begins_with(id, :prefix)"]
        self._values: dict[str, Any] = {":prefix": {"S": PREFIX}}

    def add(self, condition: str, **numbers: int) -> None:
        self._conditions.append(condition)
        self._values.update({f":{name}": {"N": str(value)} for name, value in numbers.items()})

    def equals(self, attribute: str, value: str | None) -> None:
        if value is not None:
            self._conditions.append(f"{attribute} = :{attribute}")
            self._values[f":{attribute}"] = {"S": value}

    def request(self) -> dict[str, Any]:
        return {"FilterExpression": " AND ".join(self._conditions), "ExpressionAttributeValues": self._values}


def _filters(thing_name: str | None, profile: str | None, verification_state: str | None) -> _Filters:
    filters = _Filters()
    filters.equals("thingName", thing_name)
    filters.equals("securityProfileName", profile)
    filters.equals("verificationState", None if verification_state is None else _verification_state(verification_state))
    return filters


def _active(item: Mapping[str, Any]) -> dict[str, Any]:
    alarm = json.loads(item[_EVENT + ViolationEventType.IN_ALARM.value]["S"])
    started = ViolationEvent.model_validate(alarm).violation_event_time
    violation = {
        "violationId": item["id"]["S"].removeprefix(PREFIX),
        "thingName": item["thingName"]["S"],
        "securityProfileName": item["securityProfileName"]["S"],
        "behavior": json.loads(item["behavior"]["S"]),
        "lastViolationValue": alarm.get("metricValue"),
        "lastViolationTime": started,
        "violationStartTime": started,
        **_verification(item),
    }
    return {name: value for name, value in violation.items() if value is not None}


def _events(item: Mapping[str, Any], start: int, end: int) -> Iterator[dict[str, Any]]:
    for name, value in item.items():
        if name.startswith(_EVENT):
            message = json.loads(value["S"])
            if start <= message["violationEventTime"] <= end:
                yield {**ViolationEvent.model_validate(message).to_api(), **_verification(item)}


def _verification(item: Mapping[str, Any]) -> dict[str, str]:
    names = ("verificationState", "verificationStateDescription")
    return {name: item[name]["S"] for name in names if name in item}


def _verification_state(state: str) -> str:
    allowed = [s.value for s in VerificationState]
    if state not in allowed:
        raise ValueError(f"verification state '{state}' is not one of {', '.join(allowed)}")
    return state


def _description(description: str) -> str:
    """The API's VerificationStateDescription: at most 1000 characters, no control characters."""
    if len(description) > VERIFICATION_DESCRIPTION_MAX:
        limit = VERIFICATION_DESCRIPTION_MAX
        raise ValueError(f"a verification state description is at most {limit} characters, got {len(description)}")
    control = [c for c in description if ord(c) < 32 or ord(c) == 127]
    if control:
        raise ValueError(f"a verification state description has no control characters, got {control[0]!r}")
    return description


def _epoch_ms(moment: Timestamp) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"time {moment} has no time zone")
        return int(moment.astimezone(UTC).timestamp() * 1000)
    return int(moment * 1000)
