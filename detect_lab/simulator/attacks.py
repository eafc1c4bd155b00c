"""Labelled attacks: what is injected, on which thing, when, and the Device Defender metrics it shows in.

Magnitudes (drawn per attack from the thing's own random stream, so they are deterministic for a
seed) are clearly abnormal for the device's class yet realistic:

- message storm: telemetry at 5-20x the class's peak message rate (a firmware loop or a hijacked
  publisher), on the thing's usual telemetry topic;
- credential probing: 3-15 authorization failures a minute (publishes and subscribes to topics the
  thing's policy denies, as a stolen certificate is tried against other things' topics); a normal
  thing has a handful a week at most;
- new listening port: one TCP port the class never opens (telnet 23/2323, 4444, 5555, 31337: a
  backdoor or a debug shell left on);
- exfiltration: 10-50x the class's peak bytes out (and packets out) per report interval;
- cloned identity: a second device with the same client id, so the two kick each other off
  (``DUPLICATE_CLIENTID``) every 20-60 s, the clone connecting from an attacker's address;
- new destination IP: an established TCP connection to an address the class never talks to.

Each lasts 15-90 minutes when planned (``AttackPlan``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class AttackKind(str, Enum):
    MESSAGE_STORM = "message-storm"
    CREDENTIAL_PROBING = "credential-probing"
    NEW_LISTENING_PORT = "new-listening-port"
    EXFILTRATION = "exfiltration"
    CLONED_IDENTITY = "cloned-identity"
    NEW_DESTINATION_IP = "new-destination-ip"


ATTACK_METRICS: dict[AttackKind, tuple[str, ...]] = {
    AttackKind.MESSAGE_STORM: ("aws:num-messages-sent",),
    AttackKind.CREDENTIAL_PROBING: ("aws:num-authorization-failures",),
    AttackKind.NEW_LISTENING_PORT: ("aws:listening-tcp-ports", "aws:num-listening-tcp-ports"),
    AttackKind.EXFILTRATION: ("aws:all-bytes-out", "aws:all-packets-out"),
    AttackKind.CLONED_IDENTITY: ("aws:num-connection-attempts", "aws:num-disconnects", "aws:source-ip-address"),
    AttackKind.NEW_DESTINATION_IP: ("aws:destination-ip-addresses",),
}
"""The Device Defender metrics in which each kind of attack is abnormal."""
MIN_PLANNED_SECONDS, MAX_PLANNED_SECONDS = 15 * 60, 90 * 60


@dataclass(frozen=True)
class AttackLabel:
    """One injected attack: ``thing`` is attacked from ``start`` to ``end`` (epoch seconds)."""

    attack_id: str
    kind: AttackKind
    thing: str
    start: float
    end: float
    metrics: tuple[str, ...]

    @classmethod
    def of(cls, kind: AttackKind, thing: str, start: float, end: float, attack_id: str = "") -> AttackLabel:
        """A label with the metrics of its kind; its id defaults to ``<kind>-<thing>-<start>``."""
        kind = AttackKind(kind)
        return cls(attack_id or f"{kind.value}-{thing}-{int(start)}", kind, thing, start, end, ATTACK_METRICS[kind])

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end

    def to_json(self) -> dict[str, Any]:
        return {
            "attack_id": self.attack_id,
            "kind": self.kind.value,
            "thing": self.thing,
            "start": self.start,
            "end": self.end,
            "metrics": list(self.metrics),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttackLabel:
        return cls(
            str(data["attack_id"]),
            AttackKind(data["kind"]),
            str(data["thing"]),
            float(data["start"]),
            float(data["end"]),
            tuple(str(m) for m in data["metrics"]),
        )


@dataclass(frozen=True)
class AttackPlan:
    """Which attacks a fleet gets: ``per_kind`` attacks of each of ``kinds`` on random things at random
    times (15-90 minutes each, spread over the run, deterministic from the seed), plus ``explicit`` ones.

    Default: none."""

    per_kind: int = 0
    kinds: tuple[AttackKind, ...] = tuple(AttackKind)
    explicit: tuple[AttackLabel, ...] = ()

    @classmethod
    def none(cls) -> AttackPlan:
        return cls()

    @classmethod
    def of(cls, *labels: AttackLabel) -> AttackPlan:
        """Exactly these attacks."""
        return cls(explicit=tuple(labels))

    def problems(self) -> list[str]:
        found: list[str] = []
        if isinstance(self.per_kind, bool) or not isinstance(self.per_kind, int) or not 0 <= self.per_kind <= 1000:
            found.append(f"attacks.per_kind {self.per_kind!r} must be an integer from 0 to 1000")
        for kind in self.kinds:
            if not isinstance(kind, AttackKind):
                allowed = ", ".join(k.value for k in AttackKind)
                found.append(f"attacks.kinds {kind!r} is not an AttackKind ({allowed})")
        return found


def planned_labels(
    plan: AttackPlan, things: Sequence[str], start: float, end: float, seed: int
) -> tuple[AttackLabel, ...]:
    """The plan's attacks: for each kind, ``per_kind`` attacks, the ``i``-th starting in the ``i``-th
    equal slice of the run (after a first hour, so a replay knows each thing before it is attacked),
    on things drawn without replacement while the fleet has enough of them."""
    rng = random.Random(f"{seed}:attack-plan")
    labels: list[AttackLabel] = []
    pool: list[str] = []
    first = min(start + 3600.0, start + (end - start) / 4)
    for kind in plan.kinds:
        for index in range(plan.per_kind):
            if not pool:
                pool = list(things)
                rng.shuffle(pool)
            thing = pool.pop()
            duration = min(rng.uniform(MIN_PLANNED_SECONDS, MAX_PLANNED_SECONDS), (end - first) / plan.per_kind)
            width = (end - first) / plan.per_kind
            slot = first + index * width
            begin = round(slot + rng.uniform(0, max(0.0, width - duration)))
            end_at = float(begin + round(duration))
            labels.append(AttackLabel.of(kind, thing, float(begin), end_at, f"{kind.value}-{index + 1}"))
    return tuple(labels) + plan.explicit
