"""In-memory adapters behind the evaluator's ports (``detect_evaluator.ports``), so the lab replays the
Lambda's own batch and sweep code (``batch.judge_batch``, ``sweep.sweep_states``) with no AWS at all.

- ``MemoryStates``: the state table's detect items, with ``adapters.detect_state.DetectStates``'s
  semantics: versions start at 1, a write or delete at a version other than the stored one (0: no
  item) raises ``StateConflictError``. States are kept as the objects given: ``BehaviorState`` and
  ``ConnectionState`` are frozen and hold tuples, so nothing can change them behind the store's back
  (a JSON round trip per write cost a third of a replay's time; ``tests/lab/test_replay_memory.py``
  holds the store to ``DetectStates`` on moto).
- ``MemoryPositions``: the shard positions (``adapters.stream_positions.StreamPositionStore``).
- ``CollectingPublisher``: keeps every violation message instead of publishing it.
- ``CollectingHistory``: keeps every closed window as the window history's row
  (``model.window_history``), columnar, so a day of 10,000 things fits in memory.
- ``class_membership``: the profiles' targets resolved from the simulated things' thing groups.
"""

from __future__ import annotations

import json
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from iot_defender_runtime.adapters.detect_state import PREFIX, FleetThresholds, StateConflictError, ThingState
from iot_defender_runtime.adapters.stream_positions import ShardPosition, StreamPositions
from iot_defender_runtime.detect_evaluator.ports import Membership
from iot_defender_runtime.evaluation.disconnect_duration import ConnectionState
from iot_defender_runtime.evaluation.engine import BehaviorState, ClosedWindow
from iot_defender_runtime.model.detect_profiles import ProfileBehavior, ProfileTargets
from iot_defender_runtime.model.window_history import VERDICTS, history_row, verdict_of


class MemoryStates:
    """The evaluator's ``StateStore`` in a dict, with the versions and conflicts of ``DetectStates``."""

    def __init__(self) -> None:
        self._states: dict[str, ThingState] = {}
        self._fleet: dict[str, FleetThresholds] = {}
        self._parts: dict[tuple[str, int, int], str] = {}  # (fleet key, segment, segments) -> part JSON
        self._finished: dict[str, set[int]] = {}  # sweep id -> segments finished

    def get_many(self, keys: list[str]) -> dict[str, ThingState]:
        """The stored state of each key; missing keys are absent from the result."""
        return {key: self._states[key] for key in keys if key in self._states}

    def put(
        self,
        key: str,
        behaviors: Mapping[str, BehaviorState],
        expected_version: int,
        marks: Mapping[str, int],
        connection: ConnectionState | None = None,
    ) -> None:
        """Store the state at ``expected_version + 1``; ``StateConflictError`` if the stored version
        is not ``expected_version`` (0: no item)."""
        self._check_version(key, expected_version)
        self._states[key] = ThingState(
            dict(sorted(behaviors.items())),
            expected_version + 1,
            {shard: int(number) for shard, number in marks.items()},
            ConnectionState.from_item(connection.to_item()) if connection else None,  # as the item keeps it (ms)
        )

    def delete(self, key: str, expected_version: int) -> None:
        """Drop the state; ``StateConflictError`` if the stored version is not ``expected_version``
        (0 for a state that does not exist, which deletes nothing)."""
        self._check_version(key, expected_version)
        self._states.pop(key, None)

    def scan(self, segment: int = 0, segments: int = 1) -> list[tuple[str, ThingState]]:
        """The things' states of one of ``segments`` disjoint segments (a key's by its CRC-32, as DynamoDB
        places an item in a parallel scan segment by its key's hash), in key order; all with the defaults."""
        return sorted(
            (key, state)
            for key, state in self._states.items()
            if key.startswith(PREFIX) and (segments == 1 or zlib.crc32(key.encode()) % segments == segment)
        )

    def fleet_thresholds(self, keys: list[str]) -> dict[str, FleetThresholds]:
        """The fleet percentiles of each statistical behavior; missing keys are absent."""
        return {key: dict(self._fleet[key]) for key in keys if key in self._fleet}

    def put_fleet_thresholds(self, key: str, thresholds: FleetThresholds) -> None:
        """Last write wins (only the sweep writes them); stored as their JSON reads back."""
        self._fleet[key] = {
            float(repr(start)): (float(value), int(things)) for start, (value, things) in sorted(thresholds.items())
        }

    def put_fleet_part(self, key: str, segment: int, segments: int, part: Mapping[str, Any]) -> None:
        """One segment's sketches of a behavior's windows, kept as the table keeps them (JSON)."""
        self._parts[(key, segment, segments)] = json.dumps(part)

    def fleet_parts(self, key: str, segments: int) -> list[dict[str, Any]]:
        """The parts the segments of that count last kept for a behavior."""
        found = (self._parts.get((key, segment, segments)) for segment in range(segments))
        return [json.loads(part) for part in found if part is not None]

    def finish_segment(self, sweep_id: str, segment: int, now: float) -> int:
        """How many distinct segments of the sweep have finished, this one included."""
        finished = self._finished.setdefault(sweep_id, set())
        finished.add(segment)
        return len(finished)

    def __len__(self) -> int:
        return len(self._states)

    def _check_version(self, key: str, expected_version: int) -> None:
        stored = self._states.get(key)
        if (stored.version if stored else 0) != expected_version:
            raise StateConflictError(f"state {key} changed concurrently")


class MemoryPositions:
    """The evaluator's ``PositionStore``: each shard's last counted record and the open shards with
    when each was last caught up (what the sweep lists and saves)."""

    def __init__(self) -> None:
        self._shards: dict[str, tuple[str, float]] = {}
        self._caught_up: dict[str, float | None] = {}

    def record(self, shard: str, sequence: str, arrival: float) -> None:
        self._shards[shard] = (sequence, arrival)

    def load(self, shards: list[str] | None = None) -> StreamPositions:
        """The positions of ``shards``, or of the open shards last saved (none before a save)."""
        open_shards = tuple(shards) if shards is not None else tuple(self._caught_up)
        positions = {}
        for shard in open_shards:
            sequence, arrival = self._shards.get(shard, ("", 0.0))
            positions[shard] = ShardPosition(sequence, arrival, float(self._caught_up.get(shard) or 0.0))
        return StreamPositions(open_shards, positions)

    def save_caught_up(self, caught_up: Mapping[str, float | None]) -> None:
        self._caught_up = dict(caught_up)


class CollectingPublisher:
    """The evaluator's ``Publisher``: keeps each violation message (the managed Detect alert JSON)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, subject: str, message: dict[str, Any]) -> str:
        self.messages.append(message)
        return f"lab-{len(self.messages)}"


class CollectingHistory:
    """The evaluator's ``WindowSink``: every closed window, as the window history's rows.

    Stored by column (a series code per profile, behavior, metric and thing; start, end and value in
    typed arrays; the verdict as its index in ``VERDICTS``): about 30 bytes a window."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str], int] = {}
        self._names: list[tuple[str, str, str, str]] = []
        self._code = array("i")
        self._start = array("q")
        self._end = array("q")
        self._value = array("d")
        self._verdict = array("b")

    def record(self, behavior: ProfileBehavior, thing: str, windows: tuple[ClosedWindow, ...]) -> None:
        key = (behavior.profile, behavior.definition.name, behavior.definition.metric, thing)
        code = self._series.get(key)
        if code is None:
            code = self._series[key] = len(self._names)
            self._names.append(key)
        for window in windows:
            self._code.append(code)
            self._start.append(int(window.start))
            self._end.append(int(window.end))
            self._value.append(float(window.value))
            self._verdict.append(VERDICTS.index(verdict_of(window.violating)))

    def flush(self) -> None:
        return None

    def extend(self, other: CollectingHistory) -> None:
        """Add ``other``'s windows after these (a replay in parts merged)."""
        codes = []
        for key in other._names:
            code = self._series.get(key)
            if code is None:
                code = self._series[key] = len(self._names)
                self._names.append(key)
            codes.append(code)
        self._code.extend(codes[code] for code in other._code)
        self._start.extend(other._start)
        self._end.extend(other._end)
        self._value.extend(other._value)
        self._verdict.extend(other._verdict)

    def __len__(self) -> int:
        return len(self._code)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each window as ``model.window_history.history_row``, in the order they closed."""
        for code, start, end, value, verdict in zip(
            self._code, self._start, self._end, self._value, self._verdict, strict=True
        ):
            profile, behavior, metric, thing = self._names[code]
            yield history_row(
                profile=profile,
                behavior=behavior,
                metric=metric,
                thing_name=thing,
                start=start,
                end=end,
                value=value,
                verdict=VERDICTS[verdict],
            )

    def columns(self) -> dict[str, list[Any]]:
        """The rows as columns, named and ordered as ``model.window_history.HISTORY_COLUMNS``."""
        names = [self._names[code] for code in self._code]
        return {
            "thing_name": [n[3] for n in names],
            "profile": [n[0] for n in names],
            "behavior": [n[1] for n in names],
            "metric": [n[2] for n in names],
            "window_start": list(self._start),
            "window_end": list(self._end),
            "value": list(self._value),
            "verdict": [VERDICTS[v] for v in self._verdict],
        }


def class_membership(groups_by_thing: Mapping[str, Iterable[str]]) -> Membership:
    """A ``Membership`` from each simulated thing's thing groups (its device class's group, see
    ``detect_lab.behaviors.class_group``); a client not in the mapping is not a registered thing."""
    groups = {thing: frozenset(names) for thing, names in groups_by_thing.items()}

    def watches(targets: ProfileTargets, thing: str, now: float, max_age: float) -> bool:
        return targets.everything or targets.watches(groups.get(thing))

    return watches
