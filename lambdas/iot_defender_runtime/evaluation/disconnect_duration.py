"""``aws:disconnect-duration`` from AWS IoT lifecycle events: how long a thing has been disconnected.

The metric (``iot_defender_runtime/model/metric_catalog.py``): rule behaviors only, operator
``less-than-equals``, a ``count`` value in minutes, no ``durationSeconds``, no statistical
threshold, no ML Detect. A normal thing stays disconnected at most ``value`` minutes.

Definition used here (managed Detect does not publish how it samples the metric):

- The thing's **connection state** is the latest of its connect/disconnect events (``apply``), in
  the order ``is_newer`` gives, since "Lifecycle messages might be sent out of order. You might
  receive duplicate messages" (AWS IoT developer guide, "Lifecycle events",
  https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html).
- Its **datapoint** at time ``now`` (``disconnect_minutes``) is 0 while it is connected, and the
  whole minutes elapsed since its disconnect event's ``timestamp`` while it is disconnected (floor:
  a thing disconnected 5 minutes 59 seconds has the value 5). A thing with no known state has no
  datapoint (None).
- The evaluator takes a datapoint when an event changes the state (a connect gives 0, a disconnect
  0 at that instant) and at every sweep (every 5 minutes) for each thing it knows to be disconnected;
  each is judged like any per-datapoint metric, so ``consecutiveDatapointsToAlarm`` counts sweeps.

Ordering two events of one client (``is_newer``), from what the guide says of the fields:

1. Same ``sessionIdentifier`` ("exists for the life of the session"; a persistent session spans
   several connections), or timestamps at most ``CLOSE_SECONDS`` apart: the higher
   ``versionNumber`` is newer ("monotonically increasing ... for each client ID connection"); for
   the same version, ``disconnected`` is newer than ``connected`` ("The connect and disconnect
   messages for a client connection have the same version number"); same version and type: a
   duplicate, ignored.
2. Otherwise, or when either lacks ``versionNumber``: the later ``timestamp`` is newer (then
   ``disconnected`` after ``connected`` at the same instant). Versions are not compared across
   sessions far apart in time because "If a client is not connected for approximately one hour, the
   version number is reset to 0"; timestamps more than ``CLOSE_SECONDS`` apart are ordered right
   because "The accuracy of the timestamp is +/- 2 minutes".

Pure: no clock, ``now`` is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iot_defender_runtime.model.lifecycle import CONNECTED, DISCONNECTED, LifecycleEvent

DISCONNECT_DURATION_METRIC = "aws:disconnect-duration"
TIMESTAMP_ACCURACY_SECONDS = 120
CLOSE_SECONDS = 2 * TIMESTAMP_ACCURACY_SECONDS
"""Two timestamps each +/- 2 minutes off: closer than this, their order is not known from them."""
_RANK = {CONNECTED: 0, DISCONNECTED: 1}


@dataclass(frozen=True)
class ConnectionState:
    """What to keep per thing for ``aws:disconnect-duration``: its latest connect or disconnect event.

    ``timestamp`` (epoch seconds) is that event's; while disconnected it is when the disconnection began.
    """

    connected: bool
    timestamp: float
    version: int | None = None
    session: str | None = None
    disconnect_reason: str | None = None

    @classmethod
    def of(cls, event: LifecycleEvent) -> ConnectionState:
        return cls(event.connected, event.timestamp, event.version, event.session, event.disconnect_reason)

    def to_item(self) -> dict[str, Any]:
        """JSON- and DynamoDB-safe (no floats): the time in epoch milliseconds, absent fields left out."""
        item: dict[str, Any] = {"connected": self.connected, "at": round(self.timestamp * 1000)}
        for key, value in (("version", self.version), ("session", self.session), ("reason", self.disconnect_reason)):
            if value is not None:
                item[key] = value
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ConnectionState:
        version = item.get("version")
        return cls(
            connected=bool(item["connected"]),
            timestamp=int(item["at"]) / 1000,
            version=int(version) if version is not None else None,
            session=item.get("session"),
            disconnect_reason=item.get("reason"),
        )


def _event_type(connected: bool) -> str:
    return CONNECTED if connected else DISCONNECTED


def is_newer(event: LifecycleEvent, state: ConnectionState | None) -> bool:
    """Whether ``event`` happened after the event ``state`` was built from (see the module docstring)."""
    if state is None:
        return True
    rank, known_rank = _RANK[event.event_type], _RANK[_event_type(state.connected)]
    same_session = event.session is not None and event.session == state.session
    close = abs(event.timestamp - state.timestamp) <= CLOSE_SECONDS
    if event.version is not None and state.version is not None and (same_session or close):
        return (event.version, rank) > (state.version, known_rank)
    return (event.timestamp, rank) > (state.timestamp, known_rank)


def apply(state: ConnectionState | None, event: LifecycleEvent) -> ConnectionState | None:
    """The thing's state after ``event``: the event's when it is newer, else ``state`` unchanged (an
    older or duplicate event). Compare the result with ``state`` to know whether to take a datapoint."""
    return ConnectionState.of(event) if is_newer(event, state) else state


def disconnect_minutes(state: ConnectionState | None, now: float) -> int | None:
    """The ``aws:disconnect-duration`` datapoint at ``now`` (epoch seconds): 0 while connected, whole
    minutes since the disconnect event while disconnected (0 if that event is stamped after ``now``),
    None when no lifecycle event of the thing is known."""
    if state is None:
        return None
    if state.connected:
        return 0
    return max(0, math.floor((now - state.timestamp) / 60))
