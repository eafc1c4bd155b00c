"""What fleet to simulate (``FleetSpec``), checked whole when it is made."""

from __future__ import annotations

import calendar
import math
import random
import re
from dataclasses import dataclass, field

from detect_lab.simulator.attacks import AttackKind, AttackLabel, AttackPlan
from detect_lab.simulator.device_classes import DEVICE_CLASSES, DeviceClass

DEFAULT_START = float(calendar.timegm((2026, 11, 2, 0, 0, 0)))  # a Monday, 00:00 UTC
EARLIEST_START, LATEST_START = 946_684_800.0, 32_503_680_000.0 - 366 * 86_400  # 2000-01-01 .. late 2998
MAX_THINGS, MAX_DAYS, MAX_SHARDS = 1_000_000, 366.0, 500
MIN_REPORT_SECONDS, MAX_REPORT_SECONDS = 300, 3600  # the agent reports at most every 5 minutes
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")


class SpecError(ValueError):
    """A bad ``FleetSpec`` argument; the message names the argument, the value and what is allowed."""


@dataclass(frozen=True)
class SimulatedThing:
    name: str
    device_class: DeviceClass


def thing_at(seed: int, index: int) -> SimulatedThing:
    """The fleet's ``index``-th thing: its class drawn by share from its own stream, so a thing is the
    same in a fleet of any size that has it."""
    rng = random.Random(f"{seed}:class:{index}")
    device_class = rng.choices(DEVICE_CLASSES, weights=[c.share for c in DEVICE_CLASSES])[0]
    return SimulatedThing(f"{device_class.name}-{index:06d}", device_class)


@dataclass(frozen=True)
class FleetSpec:
    """A fleet to simulate.

    :param things: how many things, 1 to 1,000,000.
    :param days: how long the run is, in days (more than 0, at most 366).
    :param seed: the run's seed: the same spec gives byte-identical records.
    :param start: epoch seconds of the run's start. Default: Monday 2026-11-02T00:00Z.
    :param shards: shards of the datapoint stream, 1 to 500. Default: 4.
    :param attacks: the attacks injected. Default: none.
    :param report_interval: seconds between a device's agent reports, 300 to 3600. Default: 300 (the agent's).
    :param region: the stream's region. Default: us-east-1.
    :param stream_name: the stream's name. Default: DetectDatapoints.
    """

    things: int
    days: float
    seed: int = 0
    start: float = DEFAULT_START
    shards: int = 4
    attacks: AttackPlan = field(default_factory=AttackPlan.none)
    report_interval: int = 300
    region: str = "us-east-1"
    stream_name: str = "DetectDatapoints"

    def __post_init__(self) -> None:
        problems = self._number_problems() + self._name_problems()
        if isinstance(self.attacks, AttackPlan):
            problems += self.attacks.problems()
            if not problems:
                problems += self._label_problems()
        else:
            problems.append(f"attacks {self.attacks!r} must be an AttackPlan (AttackPlan.none() for a clean fleet)")
        if problems:
            raise SpecError("; ".join(problems))

    @property
    def end(self) -> float:
        return self.start + self.days * 86_400

    def _number_problems(self) -> list[str]:
        found = []
        if not _integer(self.things) or not 1 <= self.things <= MAX_THINGS:
            found.append(f"things {self.things!r} must be an integer from 1 to {MAX_THINGS:,}")
        if not _number(self.days) or not 0 < self.days <= MAX_DAYS:
            found.append(f"days {self.days!r} must be a number more than 0 and at most {MAX_DAYS:g}")
        if not _integer(self.seed):
            found.append(f"seed {self.seed!r} must be an integer")
        if not _number(self.start) or not EARLIEST_START <= self.start <= LATEST_START:
            found.append(f"start {self.start!r} must be epoch seconds from 2000-01-01 to a year before 3000-01-01")
        if not _integer(self.shards) or not 1 <= self.shards <= MAX_SHARDS:
            found.append(f"shards {self.shards!r} must be an integer from 1 to {MAX_SHARDS}")
        interval = self.report_interval
        if not _integer(interval) or not MIN_REPORT_SECONDS <= interval <= MAX_REPORT_SECONDS:
            found.append(
                f"report_interval {interval!r} must be whole seconds from {MIN_REPORT_SECONDS} to {MAX_REPORT_SECONDS}"
            )
        return found

    def _name_problems(self) -> list[str]:
        found = []
        if not isinstance(self.region, str) or not _REGION.fullmatch(self.region):
            found.append(f"region {self.region!r} must be an AWS region name such as us-east-1")
        if not isinstance(self.stream_name, str) or not _STREAM_NAME.fullmatch(self.stream_name):
            found.append(f"stream_name {self.stream_name!r} must be 1-128 of [a-zA-Z0-9_.-]")
        return found

    def _label_problems(self) -> list[str]:
        found = []
        ids = [label.attack_id for label in self.attacks.explicit if isinstance(label, AttackLabel)]
        for label in self.attacks.explicit:
            if not isinstance(label, AttackLabel) or not isinstance(label.kind, AttackKind):
                found.append(f"attacks.explicit {label!r} must be an AttackLabel (AttackLabel.of(kind, thing, ...))")
                continue
            where = f"attack '{label.attack_id}'"
            if ids.count(label.attack_id) > 1:
                found.append(f"{where}: attack_id is used more than once; ids must be unique")
            if not self._has_thing(label.thing):
                found.append(f"{where}: thing {label.thing!r} is not in the fleet (names are <class>-<index>)")
            if not (_number(label.start) and _number(label.end) and self.start <= label.start < label.end <= self.end):
                found.append(
                    f"{where}: start {label.start!r} and end {label.end!r} must be epoch seconds with "
                    f"start < end inside the run ({self.start:g} to {self.end:g})"
                )
        return found

    def _has_thing(self, name: str) -> bool:
        index = name.rsplit("-", 1)[-1] if isinstance(name, str) else ""
        return index.isdigit() and int(index) < self.things and thing_at(self.seed, int(index)).name == name


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
