"""A simulated fleet as the evaluator sees it: Lambda Kinesis batches in arrival order.

``simulate(spec)`` is cheap: things and labels are made at once, records only as ``batches()`` is
read. Time advances in chunks of 15 simulated minutes: every thing runs to the chunk's end, its
records join its shard (the topic rules' partition key is the thing name, ``clientid()`` or
``topic(3)``), and every record that arrived in a minute now complete is handed out, one batch per
shard per minute, as a Lambda event source reading each shard would deliver them.

AWS IoT log entries (authorization failures, message deliveries) of all things are gathered per
log stream and per 30 seconds into CloudWatch Logs subscription records, which arrive 2-20 s after
their 30 seconds end, so no entry reaches the stream more than 50 s after it was written (under the
evaluator's 60 s clock skew). With the default ``ByLogStream`` distribution CloudWatch Logs keeps a
log stream's events together; the simulator keys their records by log stream name.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from detect_lab.simulator import bodies
from detect_lab.simulator.attacks import AttackLabel, planned_labels
from detect_lab.simulator.kinesis import RecordFactory, sequence_number, shard_id, shard_index
from detect_lab.simulator.spec import FleetSpec, SimulatedThing, thing_at
from detect_lab.simulator.thing_stream import ThingSimulator

CHUNK_SECONDS = 900.0
LOG_BUCKET_MS = 30_000
LOG_STREAMS = 4
MAX_LOG_EVENTS = 1000  # per CloudWatch Logs record; a record stays far below Kinesis's 1 MiB
_Pending = list[tuple[float, str, bytes]]  # (arrival, partition key, data)


@dataclass(frozen=True)
class StreamBatch:
    """The records one shard delivered in one simulated minute; ``arrival`` is the last one's
    ``approximateArrivalTimestamp`` (the earliest time the batch could be read)."""

    arrival: float
    shard: str
    records: list[dict[str, Any]]


class SimulatedFleet:
    def __init__(self, spec: FleetSpec, part: tuple[int, int] = (0, 1)) -> None:
        self.spec = spec
        index, parts = part
        if not (isinstance(parts, int) and isinstance(index, int) and parts >= 1 and 0 <= index < parts):
            raise ValueError(f"part {part!r} must be (index, parts) with parts at least 1 and 0 <= index < parts")
        self.part = part
        everyone = [thing_at(spec.seed, i) for i in range(spec.things)]
        labels = planned_labels(spec.attacks, [thing.name for thing in everyone], spec.start, spec.end, spec.seed)
        self.things: tuple[SimulatedThing, ...] = tuple(everyone[index::parts])
        names = {thing.name for thing in self.things}
        self.labels: tuple[AttackLabel, ...] = tuple(label for label in labels if label.thing in names)
        self._factory = RecordFactory(spec.region, bodies.ACCOUNT, spec.stream_name)
        self.stream_arn: str = self._factory.stream_arn

    @property
    def device_days(self) -> float:
        return len(self.things) * self.spec.days

    def part_of(self, index: int, parts: int) -> SimulatedFleet:
        """The things ``index``, ``index + parts``, ... of this fleet (which must be whole), with their
        attacks: each thing's records are the ones it has in the whole fleet (a thing's stream depends on
        the seed and its index only), so replaying the parts side by side judges every thing as the whole
        fleet would. What the things share is not split: AWS IoT log entries are gathered into log
        records per part, and a statistical behavior's fleet percentile would be a part's."""
        if self.part != (0, 1):
            raise ValueError(f"part_of() splits a whole fleet; this one is already part {self.part}")
        return SimulatedFleet(self.spec, (index, parts))

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, batch after batch."""
        for batch in self.batches():
            yield from batch.records

    def batches(self) -> Iterator[StreamBatch]:
        """The stream's batches in arrival order; each call simulates the fleet again (same records)."""
        spec = self.spec
        by_thing: dict[str, list[AttackLabel]] = defaultdict(list)
        for label in self.labels:
            by_thing[label.thing].append(label)
        simulators = [ThingSimulator(thing, spec, by_thing[thing.name]) for thing in self.things]
        shards = [shard_index(thing.name, spec.shards) for thing in self.things]
        logs = _LogShipper(spec)
        pending: list[_Pending] = [[] for _ in range(spec.shards)]
        positions = [0] * spec.shards
        now = spec.start
        while now < spec.end:
            until = min(now + CHUNK_SECONDS, spec.end)
            for simulator, shard in zip(simulators, shards, strict=True):
                simulator.advance(until)
                if simulator.out:
                    key = simulator.thing
                    pending[shard].extend((arrival, key, data) for arrival, data in simulator.out)
                    simulator.out.clear()
            logs.ship([s.logs for s in simulators], pending)
            horizon = until - until % 60 if until < spec.end else float("inf")
            yield from self._complete(pending, positions, horizon)
            now = until

    def _complete(self, pending: list[_Pending], positions: list[int], horizon: float) -> Iterator[StreamBatch]:
        """Hands out every record that arrived before ``horizon``, by minute, then by arrival."""
        minutes: dict[int, list[StreamBatch]] = defaultdict(list)
        for index, shard_records in enumerate(pending):
            shard_records.sort(key=itemgetter(0))
            cut = _first_at_or_after(shard_records, horizon)
            ready, pending[index] = shard_records[:cut], shard_records[cut:]
            name = shard_id(index)
            start = 0
            while start < len(ready):
                minute = int(ready[start][0] // 60)
                end = start
                while end < len(ready) and int(ready[end][0] // 60) == minute:
                    end += 1
                records = []
                for arrival, key, data in ready[start:end]:
                    positions[index] += 1
                    sequence = sequence_number(index, positions[index])
                    records.append(self._factory.record(name, sequence, key, data, arrival))
                minutes[minute].append(StreamBatch(ready[end - 1][0], name, records))
                start = end
        for minute in sorted(minutes):
            yield from sorted(minutes[minute], key=lambda batch: (batch.arrival, batch.shard))


def _first_at_or_after(records: _Pending, horizon: float) -> int:
    low, high = 0, len(records)
    while low < high:
        middle = (low + high) // 2
        if records[middle][0] < horizon:
            low = middle + 1
        else:
            high = middle
    return low


class _LogShipper:
    """AWS IoT log entries to CloudWatch Logs subscription records."""

    def __init__(self, spec: FleetSpec) -> None:
        self.rng = random.Random(f"{spec.seed}:iot-logs")
        self.shards = spec.shards
        self.streams = [f"iot-broker-{index}" for index in range(LOG_STREAMS)]
        self.events = 0

    def ship(self, entries_by_thing: list[list[tuple[int, str]]], pending: list[_Pending]) -> None:
        buckets: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
        for index, entries in enumerate(entries_by_thing):
            for millis, text in entries:
                buckets[(millis // LOG_BUCKET_MS, index % LOG_STREAMS)].append((millis, text))
            entries.clear()
        for (bucket, stream), entries in sorted(buckets.items()):
            entries.sort(key=itemgetter(0))
            name = self.streams[stream]
            for first in range(0, len(entries), MAX_LOG_EVENTS):
                events = []
                for millis, text in entries[first : first + MAX_LOG_EVENTS]:
                    self.events += 1
                    events.append((f"{millis:020d}{stream:04d}{self.events:032d}", millis, text))
                arrival = round((bucket + 1) * LOG_BUCKET_MS / 1000 + self.rng.uniform(2, 20), 3)
                pending[shard_index(name, self.shards)].append((arrival, name, bodies.log_envelope(name, events)))


def simulate(spec: FleetSpec) -> SimulatedFleet:
    """The fleet of ``spec``; its records are generated as they are read."""
    return SimulatedFleet(spec)
