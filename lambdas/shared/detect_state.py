"""Per-thing, per-behavior alarm state of the self-hosted evaluator, in the state table.

Item ``detect#<profile>#<behavior>#<thing>``: the engine's ``BehaviorState`` as JSON, a version
for conditional writes, ``marks`` (per Kinesis shard, the sequence number of the last record
counted, as JSON: Kinesis numbers have up to 56 digits, more than a DynamoDB number holds), and
``inAlarm`` / ``lastDatapointAt`` at the top level for operators.

Item ``detect-fleet#<profile>#<behavior>`` (statistical behaviors): the fleet percentile of each
recent window, ``{"<window start>": [threshold, things]}`` as JSON, written by the sweep only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdas.evaluation.engine import BehaviorState
from lambdas.shared.aws_clients import client

PREFIX = "detect#"
FLEET_PREFIX = "detect-fleet#"
_BATCH_GET_LIMIT = 100


def state_key(profile: str, behavior: str, thing: str) -> str:
    return f"{PREFIX}{profile}#{behavior}#{thing}"


def fleet_key(profile: str, behavior: str) -> str:
    return f"{FLEET_PREFIX}{profile}#{behavior}"


FleetThresholds = dict[float, tuple[float, int]]  # window start -> (percentile, things in it)


@dataclass(frozen=True)
class StoredState:
    state: BehaviorState = field(default_factory=BehaviorState)
    version: int = 0  # 0: no item yet
    marks: Mapping[str, int] = field(default_factory=dict)  # shard id -> last sequence number counted


class StateConflictError(RuntimeError):
    """Another writer changed the state first; the batch is retried."""


class DetectStates:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or client("dynamodb")

    def get_many(self, keys: list[str]) -> dict[str, StoredState]:
        """The stored state of each key; missing keys are absent from the result."""
        return {key: _stored(item) for key, item in self._get_items(keys).items()}

    def fleet_thresholds(self, keys: list[str]) -> dict[str, FleetThresholds]:
        """The fleet percentiles of each statistical behavior's recent windows; missing keys are absent."""
        return {
            key: {
                float(start): (float(value), int(things))
                for start, (value, things) in json.loads(item["thresholds"]["S"]).items()
            }
            for key, item in self._get_items(keys).items()
        }

    def put_fleet_thresholds(self, key: str, thresholds: FleetThresholds) -> None:
        """Only the sweep writes these, so the last write wins."""
        document = {repr(start): [value, things] for start, (value, things) in sorted(thresholds.items())}
        self._dynamodb.put_item(
            TableName=self._table,
            Item={"id": {"S": key}, "thresholds": {"S": json.dumps(document, separators=(",", ":"))}},
        )

    def _get_items(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"id": {"S": k}} for k in unique[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["id"]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def put(self, key: str, state: BehaviorState, expected_version: int, marks: Mapping[str, int]) -> None:
        item: dict[str, Any] = {
            "id": {"S": key},
            "state": {"S": json.dumps(asdict(state), separators=(",", ":"))},
            "version": {"N": str(expected_version + 1)},
            "inAlarm": {"BOOL": state.in_alarm},
            "marks": {"S": json.dumps({shard: str(number) for shard, number in marks.items()}, separators=(",", ":"))},
        }
        if state.last_datapoint_at is not None:
            item["lastDatapointAt"] = {"N": repr(state.last_datapoint_at)}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(id)"}
            if expected_version == 0
            else {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        )
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StateConflictError(f"state {key} changed concurrently") from error
            raise

    def scan(self) -> list[tuple[str, StoredState]]:
        """Every thing's state (for the sweep), page after page."""
        found = []
        paginator = self._dynamodb.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="begins_with(id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": PREFIX}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                found.append((item["id"]["S"], _stored(item)))
        return found


def _stored(item: Mapping[str, Any]) -> StoredState:
    marks = json.loads(item["marks"]["S"]) if "marks" in item else {}
    return StoredState(
        _decode(item["state"]["S"]), int(item["version"]["N"]), {shard: int(n) for shard, n in marks.items()}
    )


def _decode(text: str) -> BehaviorState:
    data = json.loads(text)
    data["seen_ids"] = tuple(data.get("seen_ids", ()))
    data["closed"] = tuple((start, value) for start, value in data.get("closed", ()))
    return BehaviorState(**data)
