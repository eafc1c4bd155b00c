"""The lifecycle record: an AWS IoT connect or disconnect event as the self-hosted ingestion rule
puts it on the datapoint stream, for ``aws:disconnect-duration``. One module owns its shape: the
``SelfHostedDetect`` construct builds the rule's SQL from ``LIFECYCLE_FIELDS`` and the evaluator
reads each record with ``LifecycleEvent.from_record``.

    {"thingName": "meter-7", "kind": "lifecycle", "eventType": "disconnected",
     "timestamp": 1573002340451, "versionNumber": 3,
     "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
     "disconnectReason": "CONNECTION_LOST"}

The fields are those of AWS IoT's connect/disconnect events (AWS IoT developer guide, "Lifecycle
events", https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html#connect-disconnect),
published on ``$aws/events/presence/connected/<clientId>`` and
``$aws/events/presence/disconnected/<clientId>``:

- ``eventType``: "Valid values are ``connected`` or ``disconnected``";
- ``timestamp``: "An approximation of when the event occurred, expressed in milliseconds since the
  Unix epoch. The accuracy of the timestamp is +/- 2 minutes";
- ``versionNumber``: "a monotonically increasing long integer value for each client ID connection
  ... The connect and disconnect messages for a client connection have the same version number ...
  might skip values ... If a client is not connected for approximately one hour, the version number
  is reset to 0";
- ``sessionIdentifier``: "A globally unique identifier in AWS IoT that exists for the life of the
  session";
- ``disconnectReason``: "The reason why the client is disconnecting. Found in disconnect messages
  only".

The guide warns: "Lifecycle messages might be sent out of order. You might receive duplicate
messages." ``lambdas/iot_defender_runtime/evaluation/disconnect_duration.py`` orders them. IoT SQL leaves out a field
the event lacks, so ``versionNumber``, ``sessionIdentifier`` and ``disconnectReason`` are optional.
``timestamp`` is epoch milliseconds (or seconds, as the other datapoint records).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LIFECYCLE_KIND = "lifecycle"
LIFECYCLE_TOPIC = "$aws/events/presence/+/+"
"""Both connect and disconnect events of every client (topic level 4 is the event type)."""
CONNECTED, DISCONNECTED = "connected", "disconnected"
LIFECYCLE_FIELDS = ("eventType", "timestamp", "versionNumber", "sessionIdentifier", "disconnectReason")
"""The event's fields the rule copies into the record, under the same names."""


@dataclass(frozen=True)
class LifecycleEvent:
    """One connect or disconnect event; ``timestamp`` in epoch seconds."""

    thing: str
    event_type: str
    timestamp: float
    version: int | None = None
    session: str | None = None
    disconnect_reason: str | None = None

    @property
    def connected(self) -> bool:
        return self.event_type == CONNECTED

    @classmethod
    def from_record(cls, body: Mapping[str, Any]) -> LifecycleEvent:
        """The event in a lifecycle record's JSON body; ``ValueError`` when the body is not one."""
        if body.get("kind") != LIFECYCLE_KIND:
            raise ValueError(f"kind must be '{LIFECYCLE_KIND}'")
        thing, event_type = body.get("thingName"), body.get("eventType")
        if not isinstance(thing, str) or not thing:
            raise ValueError("thingName must be a non-empty string")
        if event_type not in (CONNECTED, DISCONNECTED):
            raise ValueError(f"eventType {event_type!r} is not '{CONNECTED}' or '{DISCONNECTED}'")
        version, session, reason = (body.get(k) for k in ("versionNumber", "sessionIdentifier", "disconnectReason"))
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise ValueError(f"versionNumber {version!r} must be a non-negative integer")
        for field, value in (("sessionIdentifier", session), ("disconnectReason", reason)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{field} {value!r} must be a string")
        return cls(thing, event_type, _seconds(body.get("timestamp")), version, session, reason)


def _seconds(timestamp: Any) -> float:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise ValueError(f"timestamp {timestamp!r} must be epoch milliseconds")
    seconds = timestamp / 1000 if timestamp >= 1e11 else float(timestamp)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp {timestamp!r} must be a finite epoch time")
    return seconds
