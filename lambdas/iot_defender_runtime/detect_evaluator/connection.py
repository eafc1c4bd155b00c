"""``aws:disconnect-duration`` datapoints from a thing's connection state
(``iot_defender_runtime.evaluation.disconnect_duration``): one when a lifecycle event changes the state (0 at a
connect, 0 at the instant of a disconnect), and one per sweep while the thing is disconnected."""

from __future__ import annotations

from iot_defender_runtime.evaluation.disconnect_duration import ConnectionState, apply, disconnect_minutes
from iot_defender_runtime.evaluation.engine import Datapoint
from iot_defender_runtime.model.lifecycle import LifecycleEvent


def after_events(
    state: ConnectionState | None, events: list[Datapoint]
) -> tuple[ConnectionState | None, list[Datapoint]]:
    """The state after the lifecycle events (each a datapoint whose value is its ``LifecycleEvent``)
    and the datapoints of the changes; an older or duplicate event changes nothing."""
    points = []
    for point in sorted(events, key=lambda p: p.timestamp):
        event = point.value
        assert isinstance(event, LifecycleEvent)
        after = apply(state, event)
        if after != state:
            minutes = disconnect_minutes(after, event.timestamp)
            if minutes is not None:
                points.append(Datapoint(event.timestamp, minutes, point.datapoint_id))
        state = after
    return state, points


def while_disconnected(state: ConnectionState | None, now: float) -> list[Datapoint]:
    """The sweep's datapoint for a thing known to be disconnected: the whole minutes since then."""
    if state is None or state.connected:
        return []
    return [Datapoint(now, disconnect_minutes(state, now))]
