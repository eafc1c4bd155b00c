"""Replay a simulated fleet through the evaluator's own code, in accelerated time.

Each ``StreamBatch`` goes to ``batch.judge_batch`` with ``run.now`` its arrival time, as the Lambda's
event source would deliver it; ``sweep.sweep_states`` runs every ``sweep_every`` simulated seconds
(the construct schedules it every 5 minutes) and, after the last batch, until every window of the
run has settled. The adapters are in memory (``detect_lab.replay.memory``).

Powertools: the evaluator's ``Metrics`` singleton keeps what it is given until the Lambda flushes it,
and prints a metric set once one holds 100 values; the replay clears it after every batch and sweep,
so nothing grows. EMF lines the evaluator prints at once (``single_metric``, which Powertools prints
even with ``POWERTOOLS_METRICS_DISABLED``) are CloudWatch's input, not the lab's output: standard
output is discarded while the evaluator's code runs.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from detect_lab.behaviors import class_group
from detect_lab.replay.memory import (
    CollectingHistory,
    CollectingPublisher,
    MemoryPositions,
    MemoryStates,
    class_membership,
)
from detect_lab.replay.observe import SetObserver
from detect_lab.replay.result import ReplayResult
from iot_defender_runtime.detect_evaluator.batch import judge_batch
from iot_defender_runtime.detect_evaluator.config import DEFAULT_SILENCE_SECONDS, Config
from iot_defender_runtime.detect_evaluator.invocation import Invocation
from iot_defender_runtime.detect_evaluator.observability import metrics
from iot_defender_runtime.detect_evaluator.ports import ModelStore, NoModels
from iot_defender_runtime.detect_evaluator.sweep import sweep_states
from iot_defender_runtime.evaluation.engine import window_seconds
from iot_defender_runtime.model.detect_profiles import DetectProfiles

SWEEP_SECONDS = 300.0  # the construct's sweep schedule
BATCHING_WINDOW_SECONDS = 300.0  # the longest MaximumBatchingWindowInSeconds SelfHostedDetect allows
BATCH_SIZE = 500  # SelfHostedDetect's event source
MAX_CLOCK_SKEW_SECONDS = 60.0  # the evaluator's default
LAB_TABLE = "detect-lab"
LAB_TOPIC = "arn:aws:sns:us-east-1:123456789012:detect-lab"


class Batch(Protocol):
    @property
    def arrival(self) -> float: ...

    @property
    def shard(self) -> str: ...

    @property
    def records(self) -> list[dict[str, Any]]: ...


class Thing(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def device_class(self) -> Any: ...


class Fleet(Protocol):
    """What the replay needs of ``detect_lab.simulator.simulate(spec)``."""

    @property
    def things(self) -> Sequence[Thing]: ...

    @property
    def labels(self) -> Sequence[Any]: ...

    @property
    def device_days(self) -> float: ...

    @property
    def spec(self) -> Any: ...  # FleetSpec: start, end, shards

    def batches(self) -> Iterable[Batch]: ...


def lab_config(profiles: DetectProfiles) -> Config:
    """The evaluator's configuration with the lab's profiles and the evaluator's defaults."""
    return Config(LAB_TABLE, LAB_TOPIC, profiles, float(DEFAULT_SILENCE_SECONDS), MAX_CLOCK_SKEW_SECONDS)


def groups_of(fleet: Fleet) -> dict[str, frozenset[str]]:
    """Each thing's thing groups: its device class's."""
    return {thing.name: frozenset({class_group(thing.device_class.name)}) for thing in fleet.things}


def replay_fleet(
    fleet: Fleet,
    profiles: DetectProfiles,
    *,
    batching_window: float = BATCHING_WINDOW_SECONDS,
    batch_size: int = BATCH_SIZE,
    sweep_every: float = SWEEP_SECONDS,
    progress: bool = False,
    observe_sets: bool = False,
    models: ModelStore | None = None,
) -> ReplayResult:
    """Run every batch of ``fleet`` through ``judge_batch`` and the sweep every ``sweep_every`` seconds.

    :param batching_window: seconds of a shard's records one invocation takes at most, as the event
        source's ``MaximumBatchingWindowInSeconds`` (``SelfHostedDetect(max_batching_window=...)``, 0 to
        300). Default: 300, the longest: the fewest state writes, and the fastest replay.
    :param batch_size: records one invocation takes at most (the construct's event source: 500).
    :param progress: show a progress bar on stderr (tqdm when installed). Default: none.
    :param observe_sets: also collect the set-metric values each thing reports outside its labelled
        attacks (``ReplayResult.observed``), for the tuner; sampled hourly (``observe.SetObserver``).
        Default: off.
    :param models: learned behaviors' models (``detect_lab.learned``). Default: none (their windows close
        unjudged, as before a model is built).
    """
    spec = fleet.spec
    groups = groups_of(fleet)
    run = Invocation(
        lab_config(profiles),
        MemoryStates(),
        CollectingPublisher(),
        spec.start,
        MemoryPositions(),
        CollectingHistory(),
        class_membership(groups),
        models=models if models is not None else NoModels(),
    )
    shards = sorted({f"shardId-{index:012d}" for index in range(spec.shards)})
    run.positions.save_caught_up({shard: None for shard in shards})  # the open shards, as a sweep lists them
    observer = SetObserver(profiles, fleet.labels, groups) if observe_sets else None
    started, records, next_sweep = time.perf_counter(), 0, spec.start + sweep_every
    source = EventSource(batching_window, batch_size)
    with contextlib.redirect_stdout(_Discard()):
        for batch in _progress(source.deliver(fleet.batches()), spec.start, spec.end, progress):
            while batch.arrival >= next_sweep:
                _probe(run, source, shards, next_sweep, batch)
                _sweep(run, next_sweep)
                next_sweep += sweep_every
            run.now = batch.arrival
            judge_batch(run, batch.records)
            metrics.clear_metrics()
            records += len(batch.records)
            if observer is not None:
                observer.add(batch.records)
        for at in _settling_sweeps(profiles, next_sweep, spec.end, sweep_every):
            _probe(run, source, shards, at)
            _sweep(run, at)
    return _result(run, fleet, groups, records, time.perf_counter() - started, observer)


@dataclass
class Gathered:
    """Records of one shard gathered for one invocation; ``arrival``: when it is delivered."""

    arrival: float
    shard: str
    records: list[dict[str, Any]]
    opened: float = 0.0


class EventSource:
    """The simulator's per-minute batches as an event source with a batching window delivers them: a
    shard's records gathered from the first one for ``window`` seconds, or until ``size`` records, and
    delivered then (so the invocation's time never goes back). ``waiting_since`` tells what the sweep's
    probe of the stream would find: the arrival of the first record a shard holds undelivered."""

    def __init__(self, window: float, size: int) -> None:
        self.window = window
        self.size = size
        self._gathering: dict[str, Gathered] = {}
        self._incoming: Batch | None = None  # the stream's batch being gathered while due ones are delivered

    def seen_until(self) -> float:
        """Every record that arrived before this time has been handed to the source: the stream's batches
        come a minute at a time (every shard's batch of a minute after all earlier minutes'), so the
        records of the minute being handed out, and of no earlier one, may still be on their way."""
        incoming = self._incoming
        if incoming is None or not incoming.records:
            return float("inf")
        first = min(r["kinesis"]["approximateArrivalTimestamp"] for r in incoming.records)
        return first - first % 60

    def waiting_since(self, shard: str) -> float | None:
        """The arrival of the first record of ``shard`` in the stream and not delivered yet, if any."""
        times = []
        gathered = self._gathering.get(shard)
        if gathered is not None:
            times.append(gathered.opened)
        incoming = self._incoming
        if incoming is not None and incoming.shard == shard and incoming.records:
            times.append(min(r["kinesis"]["approximateArrivalTimestamp"] for r in incoming.records))
        return min(times, default=None)

    def deliver(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        gathering, window, size = self._gathering, self.window, self.size
        for batch in batches:
            self._incoming = batch
            due = sorted((g.opened, shard) for shard, g in gathering.items() if batch.arrival >= g.opened + window)
            for _, shard in due:
                done = gathering.pop(shard)
                done.arrival = batch.arrival
                yield done
            records = batch.records
            while records:
                current = gathering.setdefault(batch.shard, Gathered(batch.arrival, batch.shard, [], batch.arrival))
                room = size - len(current.records)
                current.records.extend(records[:room])
                current.arrival, records = batch.arrival, records[room:]
                if len(current.records) >= size:
                    yield gathering.pop(batch.shard)
        self._incoming = None
        for gathered in sorted(gathering.values(), key=lambda g: g.opened):
            del gathering[gathered.shard]
            yield gathered


def merged(batches: Iterable[Batch], window: float, size: int) -> Iterator[Batch]:
    """``batches`` as an ``EventSource`` of ``window`` seconds and ``size`` records delivers them."""
    return EventSource(window, size).deliver(batches)


def _probe(
    run: Invocation, source: EventSource, shards: Sequence[str], at: float, delivering: Batch | None = None
) -> None:
    """What the sweep's probe of the stream (``adapters.stream_positions.probe_stream``) finds, which
    the lab has no stream to read for: a shard with no record waiting was caught up at ``at``; one with
    records not counted yet (gathering for delivery, or ``delivering``: delivered after this sweep),
    just before the first of them arrived."""
    caught_up: dict[str, float | None] = {}
    seen = min(at, source.seen_until())
    for shard in shards:
        waiting = [source.waiting_since(shard)]
        if delivering is not None and delivering.shard == shard and delivering.records:
            waiting.append(min(r["kinesis"]["approximateArrivalTimestamp"] for r in delivering.records))
        first = min((w for w in waiting if w is not None), default=None)
        caught_up[shard] = seen if first is None else min(seen, first - 0.001)
    run.positions.save_caught_up(caught_up)


def _sweep(run: Invocation, at: float) -> None:
    run.now = at
    sweep_states(run)
    metrics.clear_metrics()


def _settling_sweeps(profiles: DetectProfiles, first: float, end: float, every: float) -> Iterator[float]:
    """The sweeps after the last batch until every window that ended by ``end`` has settled."""
    longest = max((window_seconds(b.definition) for b in profiles.behaviors), default=0)
    at = first
    while at <= end + longest + MAX_CLOCK_SKEW_SECONDS + every:
        yield at
        at += every


def _result(
    run: Invocation,
    fleet: Fleet,
    groups: Mapping[str, frozenset[str]],
    records: int,
    seconds: float,
    observer: SetObserver | None,
) -> ReplayResult:
    assert isinstance(run.notifier, CollectingPublisher) and isinstance(run.history, CollectingHistory)
    return ReplayResult(
        profiles=run.config.profiles,
        violations=run.notifier.messages,
        history=run.history,
        things=groups,
        start=fleet.spec.start,
        end=fleet.spec.end,
        device_days=fleet.device_days,
        records=records,
        datapoints=run.counts["datapoints"],
        seconds=seconds,
        counts=Counter(run.counts),
        observed=observer.observations() if observer is not None else None,
    )


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _progress(batches: Iterable[Batch], start: float, end: float, on: bool) -> Iterable[Batch]:
    """``batches`` with a progress bar on stderr when ``on``, in simulated hours: tqdm's when installed,
    else a line rewritten at most once a second."""
    if not on:
        return batches
    try:
        from tqdm import tqdm
    except ImportError:
        return _plain_progress(batches, start, end, lambda text: print(text, end="", file=sys.stderr, flush=True))
    return _tqdm_progress(batches, start, end, tqdm)


def _tqdm_progress(batches: Iterable[Batch], start: float, end: float, tqdm: Any) -> Iterator[Batch]:
    hours = (end - start) / 3600
    with tqdm(total=round(hours, 2), unit="h", file=sys.stderr, desc="replay (simulated hours)") as bar:
        for batch in batches:
            bar.update(round(min(batch.arrival - start, end - start) / 3600 - bar.n, 2))
            yield batch


def _plain_progress(
    batches: Iterable[Batch], start: float, end: float, write: Callable[[str], None]
) -> Iterator[Batch]:
    last = 0.0
    for batch in batches:
        now = time.monotonic()
        if now - last >= 1.0:
            done = min(max(batch.arrival - start, 0.0) / max(end - start, 1.0), 1.0)
            write(f"\rreplay: {100 * done:.0f} % of {(end - start) / 3600:g} simulated hours")
            last = now
        yield batch
    write("\n")
