"""What the operators' command (``iot-defender``, ``iot_defender_runtime.operator``) reads from AWS
beyond the other adapters: a stack's outputs, the quarantine group's members, the quarantine records
and the action log of the state table. Listing scans the table (its only key is ``id``), like the
violation log: meant for operators, not for a hot path."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from iot_defender_runtime.adapters import aws_clients
from iot_defender_runtime.adapters.quarantine_records import (
    ACTION_PREFIX,
    RECORD_PREFIX,
    QuarantineRecord,
    QuarantineRecords,
)

_ACTION_FIELDS = (
    "thingName",
    "certificateId",
    "violationId",
    "violationEventType",
    "findingId",
    "checkName",
    "reason",
    "by",
    "at",
)


class StackNotFoundError(LookupError):
    """DescribeStacks knows no stack of that name in this account and region."""


def use_session(region: str | None = None, profile: str | None = None) -> None:
    """Make every adapter's client use this region and/or named profile (``--region``, ``--profile``)."""
    if region is None and profile is None:
        return
    boto3.setup_default_session(region_name=region, profile_name=profile)
    aws_clients.client.cache_clear()


def stack_outputs(stack_name: str, cloudformation: Any | None = None) -> dict[str, str]:
    """The outputs of a deployed stack, ``OutputKey`` -> ``OutputValue`` (DescribeStacks)."""
    cloudformation = cloudformation or aws_clients.client("cloudformation")
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error):
            raise StackNotFoundError(f"no stack '{stack_name}' in this account and region") from error
        raise
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def group_members(group_name: str, iot: Any | None = None) -> list[str]:
    """The things directly in a thing group (ListThingsInThingGroup), sorted."""
    iot = iot or aws_clients.client("iot")
    pages = iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group_name)
    return sorted(thing for page in pages for thing in page.get("things", []))


class StateTableReader:
    """Reads the quarantine records (``quarantine#<thing>``) and action log (``action#<subject>#...``)."""

    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or aws_clients.client("dynamodb")

    def quarantine_records(self) -> list[QuarantineRecord]:
        """Every quarantine record, by thing name (each read as ``QuarantineRecords.get`` reads it)."""
        ids = self._scan_prefix(RECORD_PREFIX, ids_only=True)
        records = QuarantineRecords(self._table, self._dynamodb)
        found = (records.get(item["id"]["S"].removeprefix(RECORD_PREFIX)) for item in ids)
        return sorted((record for record in found if record is not None), key=lambda r: r.thing_name)

    def actions(self, subject: str) -> list[dict[str, Any]]:
        """The action log of a thing or a certificate, oldest first: ``id``, ``changes`` and the fields
        ``QuarantineRecords.log_action`` writes."""
        items = self._scan_prefix(f"{ACTION_PREFIX}{subject}#")
        entries = []
        for item in items:
            entry: dict[str, Any] = {"id": item["id"]["S"], "changes": [c["S"] for c in item["changes"]["L"]]}
            entry.update({name: item[name]["S"] for name in _ACTION_FIELDS if name in item})
            entries.append(entry)
        return sorted(entries, key=lambda entry: (entry.get("at", ""), entry["id"]))

    def _scan_prefix(self, prefix: str, *, ids_only: bool = False) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(#id, :prefix)",
            "ExpressionAttributeNames": {"#id": "id"},
            "ExpressionAttributeValues": {":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if ids_only:
            request["ProjectionExpression"] = "#id"
        pages = self._dynamodb.get_paginator("scan").paginate(**request)
        return [item for page in pages for item in page.get("Items", [])]
