"""Per-thing alarm state of the self-hosted evaluator, in the state table: one item per thing and
profile, so a batch writes a thing once however many behaviors it touched.

Item ``detect#<profile>#<thing>``:

- ``behaviors``: the engine's ``BehaviorState`` of each behavior, by behavior name, as JSON;
- ``version``: for conditional writes;
- ``marks``: per Kinesis shard, the sequence number of the last record counted, as JSON (Kinesis
  numbers have up to 56 digits, more than a DynamoDB number holds);
- ``connection``: the thing's latest connect or disconnect event, as JSON, when a profile has an
  ``aws:disconnect-duration`` behavior (``ConnectionState.to_item``);
- ``inAlarm`` (any behavior in alarm) and ``lastDatapointAt`` at the top level, for operators.

Item ``detect-fleet#<profile>#<behavior>`` (statistical behaviors): the fleet percentile of each
recent window, ``{"<window start>": [threshold, things]}`` as JSON, written by the sweep only.

Item ``detect-fleet-part#<segments>#<segment>#<profile>#<behavior>``: the sketch of the recent closed
windows one sweep segment scanned (``evaluation.fleet.part_to_document``), overwritten by that segment
at each sweep; the thresholds are merged from the parts of one segment count.

Item ``detect-sweep#<sweep id>``: the segments of one sweep that have finished (a string set), so the
last to finish merges the parts; it expires a day later (the table's TTL attribute ``expiresAt``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.adapters.table_reads import get_items
from iot_defender_runtime.adapters.versioned_items import delete_if_version, put_if_version
from iot_defender_runtime.evaluation.disconnect_duration import ConnectionState
from iot_defender_runtime.evaluation.engine import BehaviorState

PREFIX = "detect#"
FLEET_PREFIX = "detect-fleet#"
FLEET_PART_PREFIX = "detect-fleet-part#"
SWEEP_PREFIX = "detect-sweep#"
SWEEP_RECORD_SECONDS = 24 * 3600

FleetThresholds = dict[float, tuple[float, int]]  # window start -> (percentile, things in it)


def state_key(profile: str, thing: str) -> str:
    return f"{PREFIX}{profile}#{thing}"


def parse_state_key(key: str) -> tuple[str, str]:
    """``(profile, thing)``; profile names have no ``#``, client ids may."""
    _, profile, thing = key.split("#", 2)
    return profile, thing


def fleet_key(profile: str, behavior: str) -> str:
    return f"{FLEET_PREFIX}{profile}#{behavior}"


@dataclass(frozen=True)
class ThingState:
    behaviors: Mapping[str, BehaviorState] = field(default_factory=dict)  # behavior name -> state
    version: int = 0  # 0: no item yet
    marks: Mapping[str, int] = field(default_factory=dict)  # shard id -> last sequence number counted
    connection: ConnectionState | None = None  # aws:disconnect-duration: the latest lifecycle event

    def of(self, behavior: str) -> BehaviorState:
        return self.behaviors.get(behavior) or BehaviorState()


class StateConflictError(RuntimeError):
    """Another writer changed the state first; the batch is retried."""


class DetectStates:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or client("dynamodb")

    def get_many(self, keys: list[str]) -> dict[str, ThingState]:
        """The stored state of each key; missing keys are absent from the result."""
        return {key: decode_item(item) for key, item in self._get_items(keys).items()}

    def put(
        self,
        key: str,
        behaviors: Mapping[str, BehaviorState],
        expected_version: int,
        marks: Mapping[str, int],
        connection: ConnectionState | None = None,
    ) -> None:
        document = {name: asdict(state) for name, state in sorted(behaviors.items())}
        item: dict[str, Any] = {
            "id": {"S": key},
            "behaviors": {"S": json.dumps(document, separators=(",", ":"))},
            "version": {"N": str(expected_version + 1)},
            "inAlarm": {"BOOL": any(state.in_alarm for state in behaviors.values())},
            "marks": {"S": json.dumps({shard: str(number) for shard, number in marks.items()}, separators=(",", ":"))},
        }
        if connection is not None:
            item["connection"] = {"S": json.dumps(connection.to_item(), separators=(",", ":"))}
        last = [state.last_datapoint_at for state in behaviors.values() if state.last_datapoint_at is not None]
        if last:
            item["lastDatapointAt"] = {"N": repr(max(last))}
        if not put_if_version(self._dynamodb, self._table, item, expected_version):
            raise StateConflictError(f"state {key} changed concurrently")

    def delete(self, key: str, expected_version: int) -> None:
        """A thing's state when none of its behaviors is configured any more."""
        if not delete_if_version(self._dynamodb, self._table, {"id": {"S": key}}, expected_version):
            raise StateConflictError(f"state {key} changed concurrently")

    def scan(self, segment: int = 0, segments: int = 1) -> Iterator[tuple[str, ThingState]]:
        """The states of one parallel scan segment (every thing's with the defaults), page by page as
        they are read, so a segment run holds one page in memory. DynamoDB Scan ``Segment`` and
        ``TotalSegments``: each item is in exactly one segment of a given count
        (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.ParallelScan)."""
        paginator = self._dynamodb.get_paginator("scan")
        parallel = {"Segment": segment, "TotalSegments": segments} if segments > 1 else {}
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="begins_with(id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": PREFIX}},
            ConsistentRead=True,
            **parallel,
        ):
            for item in page.get("Items", []):
                yield item["id"]["S"], decode_item(item)

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

    def put_fleet_part(self, key: str, segment: int, segments: int, part: Mapping[str, Any]) -> None:
        """One segment's sketches of a behavior's windows (``part_to_document``); only that segment writes it."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={"id": {"S": fleet_part_key(key, segment, segments)}, "part": {"S": _compact(part)}},
        )

    def fleet_parts(self, key: str, segments: int) -> list[dict[str, Any]]:
        """The parts the ``segments`` segments last wrote for a behavior; a segment that never finished is absent."""
        keys = [fleet_part_key(key, segment, segments) for segment in range(segments)]
        return [json.loads(item["part"]["S"]) for item in self._get_items(keys).values()]

    def finish_segment(self, sweep_id: str, segment: int, now: float) -> int:
        """Marks ``segment`` of the sweep finished; how many distinct segments of it have finished
        (a segment run twice counts once: ``ADD`` to a string set)."""
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": f"{SWEEP_PREFIX}{sweep_id}"}},
            UpdateExpression="ADD finished :segment SET expiresAt = :expires",
            ExpressionAttributeValues={
                ":segment": {"SS": [str(segment)]},
                ":expires": {"N": str(int(now + SWEEP_RECORD_SECONDS))},
            },
            ReturnValues="UPDATED_NEW",
        )
        return len(response["Attributes"]["finished"]["SS"])

    def _get_items(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return get_items(self._dynamodb, self._table, keys)


def fleet_part_key(fleet_key: str, segment: int, segments: int) -> str:
    """``detect-fleet-part#<segments>#<segment>#<profile>#<behavior>`` for the fleet key of a behavior."""
    return f"{FLEET_PART_PREFIX}{segments}#{segment}#{fleet_key.removeprefix(FLEET_PREFIX)}"


def _compact(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def decode_item(item: Mapping[str, Any]) -> ThingState:
    """A state item as read from the table."""
    marks = json.loads(item["marks"]["S"]) if "marks" in item else {}
    behaviors = json.loads(item["behaviors"]["S"]) if "behaviors" in item else {}
    return ThingState(
        {name: _decode(state) for name, state in behaviors.items()},
        int(item["version"]["N"]),
        {shard: int(number) for shard, number in marks.items()},
        ConnectionState.from_item(json.loads(item["connection"]["S"])) if "connection" in item else None,
    )


def _decode(data: dict[str, Any]) -> BehaviorState:
    data = dict(data)
    # Items written before several windows could be open held one window as window_start and aggregate.
    start, total = data.pop("window_start", None), data.pop("aggregate", 0.0)
    if "open_windows" not in data and start is not None:
        data["open_windows"] = [(start, total)]
    data["open_windows"] = tuple((start, total) for start, total in data.get("open_windows", ()))
    data["seen_ids"] = tuple(data.get("seen_ids", ()))
    data["closed"] = tuple((start, value) for start, value in data.get("closed", ()))
    return BehaviorState(**data)
