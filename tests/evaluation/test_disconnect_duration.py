"""aws:disconnect-duration from lifecycle events: the record, the order of out-of-order and duplicate
events, and the datapoint (0 while connected, whole minutes since the disconnect while disconnected)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_defender_runtime.evaluation.disconnect_duration import (
    CLOSE_SECONDS,
    ConnectionState,
    apply,
    disconnect_minutes,
    is_newer,
)
from iot_defender_runtime.model.lifecycle import LifecycleEvent

T0 = 1_700_000_000.0


def event(kind: str, at: float, version: int | None = 1, session: str | None = "s1", reason: str | None = None):
    return LifecycleEvent("meter-7", kind, at, version, session, reason)


def state(kind: str, at: float, version: int | None = 1, session: str | None = "s1") -> ConnectionState:
    return ConnectionState.of(event(kind, at, version, session))


# The record the lifecycle rule writes


def test_a_disconnect_record_reads_as_its_event_in_epoch_seconds():
    body = {
        "thingName": "meter-7",
        "kind": "lifecycle",
        "eventType": "disconnected",
        "timestamp": 1573002340451,
        "versionNumber": 0,
        "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
        "disconnectReason": "CONNECTION_LOST",
    }
    assert LifecycleEvent.from_record(body) == LifecycleEvent(
        "meter-7", "disconnected", 1573002340.451, 0, "a4666d2a7d844ae4ac5d7b38c9cb7967", "CONNECTION_LOST"
    )


def test_a_connect_record_needs_only_its_type_and_time():
    body = {"thingName": "meter-7", "kind": "lifecycle", "eventType": "connected", "timestamp": 1573002230}
    assert LifecycleEvent.from_record(body) == LifecycleEvent("meter-7", "connected", 1573002230.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "message"}, "kind must be 'lifecycle'"),
        ({"eventType": "subscribed"}, "eventType 'subscribed' is not 'connected' or 'disconnected'"),
        ({"thingName": ""}, "thingName must be a non-empty string"),
        ({"timestamp": "soon"}, "timestamp 'soon' must be epoch milliseconds"),
        ({"timestamp": True}, "timestamp True must be epoch milliseconds"),
        ({"timestamp": -5}, "timestamp -5 must be a finite epoch time"),
        ({"versionNumber": True}, "versionNumber True must be a non-negative integer"),
        ({"versionNumber": -1}, "versionNumber -1 must be a non-negative integer"),
        ({"sessionIdentifier": 7}, "sessionIdentifier 7 must be a string"),
    ],
)
def test_a_record_that_is_not_a_lifecycle_event_is_refused(change, message):
    body = {"thingName": "meter-7", "kind": "lifecycle", "eventType": "connected", "timestamp": 1573002230757}
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        LifecycleEvent.from_record({**body, **change})


# Which of two events is the later one


@pytest.mark.parametrize(
    ("known", "incoming", "newer"),
    [
        # No state yet: any event
        (None, event("connected", T0), True),
        # One connection (same session and version): its disconnect follows its connect, whatever the clocks say
        (state("connected", T0), event("disconnected", T0 - 100), True),
        (state("disconnected", T0), event("connected", T0 + 100), False),
        # Duplicates change nothing
        (state("connected", T0), event("connected", T0), False),
        (state("disconnected", T0), event("disconnected", T0 + 5), False),
        # A persistent session spans connections: the higher version is newer
        (state("disconnected", T0, 3), event("connected", T0 - 30, 4), True),
        (state("connected", T0, 4), event("disconnected", T0 + 30, 3), False),
        # Other sessions close in time (clocks +/- 2 minutes): versions order them
        (state("disconnected", T0, 3, "s1"), event("connected", T0 - 60, 4, "s2"), True),
        (state("connected", T0, 4, "s2"), event("disconnected", T0 + 60, 3, "s1"), False),
        (state("connected", T0, 4, "s2"), event("connected", T0 + CLOSE_SECONDS, 3, "s1"), False),
        # Other sessions far apart: the version may have been reset after an hour away, timestamps order them
        (state("disconnected", T0, 9, "s1"), event("connected", T0 + 3700, 0, "s2"), True),
        (state("connected", T0 + 3700, 0, "s2"), event("disconnected", T0, 9, "s1"), False),
        (state("connected", T0, 4, "s2"), event("connected", T0 + CLOSE_SECONDS + 1, 3, "s1"), True),
        # Without versions: timestamps, and at the same instant a disconnect after a connect
        (state("connected", T0, None, None), event("disconnected", T0 + 1, None, None), True),
        (state("disconnected", T0, None, None), event("connected", T0 - 1, None, None), False),
        (state("connected", T0, None, None), event("disconnected", T0, None, None), True),
        (state("disconnected", T0, 2), event("connected", T0 + 10, None, "s3"), True),
    ],
)
def test_which_event_is_newer(known, incoming, newer):
    assert is_newer(incoming, known) is newer
    assert apply(known, incoming) == (ConnectionState.of(incoming) if newer else known)


# The datapoint


@pytest.mark.parametrize(
    ("known", "now", "minutes"),
    [
        (None, T0, None),  # no lifecycle event known: no datapoint
        (state("connected", T0), T0 + 86_400, 0),
        (state("disconnected", T0), T0, 0),
        (state("disconnected", T0), T0 + 59.999, 0),
        (state("disconnected", T0), T0 + 60, 1),
        (state("disconnected", T0), T0 + 359, 5),  # 5 minutes 59 seconds: 5 whole minutes
        (state("disconnected", T0), T0 + 360, 6),
        (state("disconnected", T0), T0 + 86_400, 1440),
        (state("disconnected", T0), T0 - 90, 0),  # stamped after now (the timestamp is +/- 2 minutes)
    ],
)
def test_the_datapoint_is_whole_minutes_disconnected(known, now, minutes):
    assert disconnect_minutes(known, now) == minutes


def test_a_disconnect_then_a_sweep_then_a_reconnect():
    # Given a connected thing that disconnects with CONNECTION_LOST
    known = apply(None, event("connected", T0, 5, "s1"))
    known = apply(known, event("disconnected", T0 + 600, 5, "s1", "CONNECTION_LOST"))
    assert known == ConnectionState(False, T0 + 600, 5, "s1", "CONNECTION_LOST")
    # When sweeps run, the value grows; a late duplicate of the connect changes nothing
    assert disconnect_minutes(known, T0 + 600 + 7 * 60 + 5) == 7
    assert apply(known, event("connected", T0, 5, "s1")) == known
    # Then the next connection brings it back to 0
    known = apply(known, event("connected", T0 + 1200, 6, "s2"))
    assert disconnect_minutes(known, T0 + 1300) == 0


@pytest.mark.parametrize(
    "known", [ConnectionState(False, T0 + 0.25, 5, "s1", "CONNECTION_LOST"), ConnectionState(True, T0)]
)
def test_the_state_round_trips_through_its_item(known):
    item = known.to_item()
    assert not any(isinstance(value, float) for value in item.values())
    assert ConnectionState.from_item(item) == known


# Any order of delivery, duplicates included, ends in the state of the last event


@st.composite
def _history(draw: st.DrawFn) -> tuple[list[LifecycleEvent], LifecycleEvent]:
    """A client's connections in true order, as AWS IoT stamps them: one session and version per
    connection, versions increasing (with gaps) and reset to 0 after more than an hour away, each
    timestamp up to 2 minutes off. Returns the events and the last one."""
    events: list[LifecycleEvent] = []
    at, version = T0, draw(st.integers(0, 5))
    count = draw(st.integers(1, 5))
    for index in range(count):
        session = f"s{index}"
        jitter = st.integers(-120, 120)
        events.append(event("connected", at + draw(jitter), version, session))
        last_open = index == count - 1 and draw(st.booleans())
        if last_open:
            break
        at += draw(st.integers(0, 3600))
        events.append(event("disconnected", at + draw(jitter), version, session, "CONNECTION_LOST"))
        away = draw(st.one_of(st.integers(1, 900), st.integers(3700, 20_000)))
        at += away
        version = 0 if away > 3600 else version + draw(st.integers(1, 3))
    return events, events[-1]


@given(_history(), st.data())
def test_events_in_any_order_with_duplicates_end_in_the_last_event(history, data):
    events, last = history
    delivered = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    known = None
    for incoming in delivered:
        known = apply(known, incoming)
    assert known == ConnectionState.of(last)
