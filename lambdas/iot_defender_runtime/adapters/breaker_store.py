"""The breaker items of the state table (``id = breaker#<name>``): read, conditional write, delete.

The admission rule lives in ``iot_defender_runtime.remediation.breaker``; this module only stores its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.adapters.versioned_items import put_if_version


@dataclass(frozen=True)
class BreakerState:
    events: tuple[float, ...]
    tripped_at: float | None
    version: int
    limit: int | None = None  # the function's limit at its last admission (None: not recorded yet)
    # The slot key of each admission, in the order of ``events`` ("" for an admission without a key, or
    # one written before keys were stored): a retry of the same action finds its slot and takes no other.
    keys: tuple[str, ...] = ()

    def slots(self) -> list[tuple[float, str]]:
        """(time, key) of each admission, keys padded with "" when an older item has fewer."""
        keys = self.keys + ("",) * (len(self.events) - len(self.keys))
        return list(zip(self.events, keys, strict=False))


class BreakerStore:
    def __init__(self, table_name: str, breaker_id: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._id = breaker_id
        self._dynamodb = dynamodb or client("dynamodb")

    def read(self) -> BreakerState:
        item = self._dynamodb.get_item(
            TableName=self._table_name, Key={"id": {"S": self._id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return BreakerState((), None, 0)
        return BreakerState(
            events=tuple(float(entry["N"]) for entry in item.get("events", {}).get("L", [])),
            tripped_at=float(item["trippedAt"]["N"]) if "trippedAt" in item else None,
            version=int(item["version"]["N"]),
            limit=int(item["limit"]["N"]) if "limit" in item else None,
            keys=tuple(entry["S"] for entry in item.get("keys", {}).get("L", [])),
        )

    def write_if_version(self, expected_version: int, state: BreakerState) -> bool:
        """Write ``state`` unless another writer changed the item since ``expected_version``."""
        item: dict[str, Any] = {"id": {"S": self._id}, "version": {"N": str(state.version)}}
        # Lists, not a number set: two quarantines in the same instant must both count. ``keys`` follows
        # the order of ``events``.
        slots = sorted(state.slots())
        item["events"] = {"L": [{"N": repr(t)} for t, _ in slots]}
        item["keys"] = {"L": [{"S": key} for _, key in slots]}
        if state.tripped_at is not None:
            item["trippedAt"] = {"N": repr(state.tripped_at)}
        if state.limit is not None:
            item["limit"] = {"N": str(state.limit)}
        return put_if_version(self._dynamodb, self._table_name, item, expected_version)

    def delete(self) -> None:
        self._dynamodb.delete_item(TableName=self._table_name, Key={"id": {"S": self._id}})
