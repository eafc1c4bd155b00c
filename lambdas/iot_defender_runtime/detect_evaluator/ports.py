"""What a batch or sweep needs from the outside world, as protocols: the Lambda passes the AWS
adapters (``Invocation.open``), the Detect lab passes in-memory ones and replays the same code.

- ``StateStore``: the per-thing alarm state, scanned by parallel segments, and the fleet thresholds with
  the segments' sketches they are merged from (``adapters.detect_state``).
- ``PositionStore``: how far each shard has been read (``adapters.stream_positions``).
- ``Publisher``: where violations go (the alert topic, then the violation log).
- ``WindowSink``: where closed windows go (the window history, when it is on).
- ``Membership``: whether a profile's targets include a thing (``membership.watches``).
- ``ModelStore``: the learned behaviors' models (``adapters.model_store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from iot_defender_runtime.adapters.detect_state import FleetThresholds, ThingState
from iot_defender_runtime.adapters.stream_positions import StreamPositions
from iot_defender_runtime.evaluation.disconnect_duration import ConnectionState
from iot_defender_runtime.evaluation.engine import BehaviorState, ClosedWindow
from iot_defender_runtime.model.detect_profiles import ProfileBehavior, ProfileTargets
from iot_defender_runtime.model.learned_model import CorruptModelError, LearnedModel


class StateStore(Protocol):
    def get_many(self, keys: list[str]) -> dict[str, ThingState]: ...

    def put(
        self,
        key: str,
        behaviors: Mapping[str, BehaviorState],
        expected_version: int,
        marks: Mapping[str, int],
        connection: ConnectionState | None = None,
    ) -> None: ...

    def delete(self, key: str, expected_version: int) -> None: ...

    def scan(self, segment: int = 0, segments: int = 1) -> Iterable[tuple[str, ThingState]]:
        """The states of one of ``segments`` disjoint segments (all of them: every state)."""
        ...

    def fleet_thresholds(self, keys: list[str]) -> dict[str, FleetThresholds]: ...

    def put_fleet_thresholds(self, key: str, thresholds: FleetThresholds) -> None: ...

    def put_fleet_part(self, key: str, segment: int, segments: int, part: Mapping[str, Any]) -> None:
        """Keep (replace) one segment's sketches of a behavior's windows (``fleet.part_to_document``)."""
        ...

    def fleet_parts(self, key: str, segments: int) -> list[dict[str, Any]]:
        """The parts last kept by the segments of that count, for a behavior."""
        ...

    def finish_segment(self, sweep_id: str, segment: int, now: float) -> int:
        """Mark a segment of a sweep finished; the number of distinct segments of it finished so far."""
        ...


class PositionStore(Protocol):
    def record(self, shard: str, sequence: str, arrival: float) -> None: ...

    def load(self, shards: list[str] | None = None) -> StreamPositions: ...

    def save_caught_up(self, caught_up: Mapping[str, float | None]) -> None: ...


class Publisher(Protocol):
    def publish(self, subject: str, message: dict[str, Any]) -> str: ...


class WindowSink(Protocol):
    def record(self, behavior: ProfileBehavior, thing: str, windows: tuple[ClosedWindow, ...]) -> None:
        """Keep the windows one evaluation closed for ``thing`` under ``behavior``."""
        ...

    def flush(self) -> None:
        """Send what was kept; called once at the end of a batch or sweep."""
        ...


class NoHistory:
    """The window history is off: closed windows are not kept."""

    def record(self, behavior: ProfileBehavior, thing: str, windows: tuple[ClosedWindow, ...]) -> None:
        return None

    def flush(self) -> None:
        return None


class ModelStore(Protocol):
    def get_many(self, keys: list[str]) -> dict[str, LearnedModel | CorruptModelError]:
        """The stored models by key (``model_key``); an unreadable one as its error; a missing key absent."""
        ...


class NoModels:
    """No learned behaviors' models (the lab replaying without training): learned behaviors are unjudged."""

    def get_many(self, keys: list[str]) -> dict[str, LearnedModel | CorruptModelError]:
        return {}


Membership = Callable[[ProfileTargets, str, float, float], bool]  # (targets, thing, now, max age) -> watched
