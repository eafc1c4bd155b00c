"""How far the evaluator has read each shard of the datapoint stream, in the state table, so that a
window is judged by stream time (every record that reached the stream before this time has been
counted) and not by the clock of whoever judges it.

Items:

- ``detect-shard#<shard id>``: the last record a batch of that shard counted: its ``sequence`` and
  its ``arrival`` (Kinesis ``approximateArrivalTimestamp``, epoch seconds). Written by each batch.
- ``detect-stream``: written by the sweep only: the open shards and, per shard, ``caughtUpAt``: a
  time at which the shard held no record after the last one counted (so every record that arrived
  before it was counted), found by reading the shard (``GetRecords``, one record).

A shard's position is the later of its ``arrival`` and its ``caughtUpAt``; the stream's is the
earliest position of its open shards. Kinesis: ``GetShardIterator`` (``AFTER_SEQUENCE_NUMBER``,
``AT_TIMESTAMP``) and ``GetRecords`` (``MillisBehindLatest``), Kinesis Data Streams API reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.adapters.table_reads import get_items

SHARD_PREFIX = "detect-shard#"
STREAM_KEY = "detect-stream"
UNKNOWN_SHARD_LOOKBACK_SECONDS = 3600  # the event source's maximum record age: older records are never counted


def shard_key(shard: str) -> str:
    return f"{SHARD_PREFIX}{shard}"


@dataclass(frozen=True)
class ShardPosition:
    sequence: str = ""
    arrival: float = 0.0
    caught_up_at: float = 0.0

    @property
    def position(self) -> float:
        """Every record of the shard that reached the stream before this time has been counted."""
        return max(self.arrival, self.caught_up_at)


@dataclass(frozen=True)
class StreamPositions:
    """The open shards the last sweep saw (empty before the first sweep) and each shard's position."""

    open_shards: tuple[str, ...] = ()
    shards: Mapping[str, ShardPosition] = field(default_factory=dict)

    def position(self, own_shard: str, own_position: float) -> float:
        """The stream's position for a batch of ``own_shard`` that has counted up to ``own_position``:
        the earliest of its own and every other open shard's (its own alone before the first sweep)."""
        others = [self.shards.get(s, ShardPosition()).position for s in self.open_shards if s != own_shard]
        return min([own_position, *others])


def read_positions(items: Mapping[str, Mapping[str, Any]], open_shards: tuple[str, ...]) -> StreamPositions:
    """The positions of ``open_shards`` in items read from the table (by key)."""
    stream = items.get(STREAM_KEY)
    caught_up: dict[str, Any] = json.loads(stream["shards"]["S"]) if stream and "shards" in stream else {}
    shards = {}
    for shard in open_shards:
        item = items.get(shard_key(shard))
        sequence = item["sequence"]["S"] if item else ""
        arrival = float(item["arrival"]["N"]) if item else 0.0
        shards[shard] = ShardPosition(sequence, arrival, float(caught_up.get(shard) or 0.0))
    return StreamPositions(open_shards, shards)


class StreamPositionStore:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = table_name
        self._dynamodb = dynamodb or client("dynamodb")

    def record(self, shard: str, sequence: str, arrival: float) -> None:
        """A batch of ``shard`` counted every record up to ``sequence`` (which arrived at ``arrival``)."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={"id": {"S": shard_key(shard)}, "sequence": {"S": sequence}, "arrival": {"N": repr(arrival)}},
        )

    def load(self, shards: list[str] | None = None) -> StreamPositions:
        """The stream item, then the items of the shards it names, or of ``shards`` (the open shards the
        sweep just listed)."""
        stream = self._get([STREAM_KEY])
        open_shards = tuple(json.loads(stream[STREAM_KEY]["shards"]["S"])) if STREAM_KEY in stream else ()
        if shards is not None:
            open_shards = tuple(shards)
        found = read_positions({**stream, **self._get([shard_key(s) for s in open_shards])}, open_shards)
        return found

    def save_caught_up(self, caught_up: Mapping[str, float | None]) -> None:
        """The open shards, and for each the time it was last found with nothing left to count."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={"id": {"S": STREAM_KEY}, "shards": {"S": json.dumps(dict(caught_up), separators=(",", ":"))}},
        )

    def _get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return get_items(self._dynamodb, self._table, keys)


class ShardProbe:
    """Reads one record of each open shard after the last one counted, to find how far the evaluator
    has got: the sweep's stream time."""

    def __init__(self, stream_arn: str, kinesis: Any | None = None) -> None:
        self._stream_arn = stream_arn
        self._kinesis = kinesis or client("kinesis")

    def open_shards(self) -> list[str]:
        shards, token = [], None
        while True:
            page = self._kinesis.list_shards(
                **({"NextToken": token} if token else {"StreamARN": self._stream_arn}),
            )
            # Closed shards too (a parent after a reshard, listed while within retention): the event
            # source reads a parent to its end before its children, so a backlog may still be there.
            shards += [s["ShardId"] for s in page["Shards"]]
            token = page.get("NextToken")
            if not token:
                return shards

    def position(self, shard: str, known: ShardPosition | None, now: float) -> tuple[float, bool]:
        """``(position, caught up)``: the arrival of the first record not yet counted, or ``now`` when
        the shard holds none (every record that arrived before ``now`` was counted)."""
        lookback = {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": now - UNKNOWN_SHARD_LOOKBACK_SECONDS}
        try:
            if known is not None and known.sequence:
                after = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": known.sequence}
                iterator = self._kinesis.get_shard_iterator(StreamARN=self._stream_arn, ShardId=shard, **after)
            else:
                iterator = self._kinesis.get_shard_iterator(StreamARN=self._stream_arn, ShardId=shard, **lookback)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvalidArgumentException":
                raise
            # The last record counted is past the stream's retention (an idle shard): read from the
            # records the event source may still deliver.
            iterator = self._kinesis.get_shard_iterator(StreamARN=self._stream_arn, ShardId=shard, **lookback)
        page = self._kinesis.get_records(StreamARN=self._stream_arn, ShardIterator=iterator["ShardIterator"], Limit=1)
        if page["Records"]:
            return _epoch(page["Records"][0]["ApproximateArrivalTimestamp"]), False
        behind = page.get("MillisBehindLatest", 0) / 1000
        if behind > 0:  # an empty page before records further on (GetRecords may need several calls)
            return now - behind, False
        return now, True


def probe_stream(probe: ShardProbe, known: StreamPositions, now: float) -> tuple[float, dict[str, float | None]]:
    """The stream's position (the earliest position of ``known``'s open shards, as the sweep listed them)
    and, per open shard, when it was caught up. A shard that cannot be read (throttled) keeps its
    recorded position."""
    positions, caught_up = [], {}
    for shard in known.open_shards:
        stored = known.shards.get(shard)
        try:
            position, is_caught_up = probe.position(shard, stored, now)
        except (BotoCoreError, ClientError):
            position, is_caught_up = (stored.position if stored else 0.0), False
        positions.append(position)
        caught_up[shard] = now if is_caught_up else (stored.caught_up_at if stored and stored.caught_up_at else None)
    return min(positions, default=now), caught_up


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)
