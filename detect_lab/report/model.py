"""What a lab report shows, as plain data: the figures of each behavior on one fleet, what its
charts plot, and the fleet's alarm timeline.

The report draws and writes; it computes nothing about Detect. Replay and scoring
(``detect_lab.replay``, ``detect_lab.scoring``) and the tuner (``detect_lab.tune``) produce these
figures; ``detect_lab.demo`` gathers them into a ``LabReport``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PER_DEVICE_DAYS = 1000.0  # false alarms are counted per 1,000 device-days


@dataclass(frozen=True)
class Score:
    """What one behavior (or a whole set of them) did on one fleet.

    :param attacks: injected attacks it could see (those on a metric it watches; all of them overall).
    :param detected: of those, how many it alarmed on in time (``detect_lab.scoring`` decides "in time").
    :param false_alarms: in-alarm events no attack explains.
    :param device_days: things x days of the fleet it judged.
    :param detect_median: median seconds from a detected attack's start to its first alarm.
    :param detect_max: the longest of those.
    :param alarms: every in-alarm event.
    :param devices_in_alarm: things with at least one in-alarm event.
    """

    attacks: int
    detected: int
    false_alarms: int
    device_days: float
    detect_median: float | None = None
    detect_max: float | None = None
    alarms: int = 0
    devices_in_alarm: int = 0

    @property
    def recall(self) -> float | None:
        """Detected attacks over attacks; None when there was nothing to detect."""
        return self.detected / self.attacks if self.attacks else None

    @property
    def false_alarms_per_1000_device_days(self) -> float:
        return self.false_alarms * PER_DEVICE_DAYS / self.device_days if self.device_days > 0 else 0.0


@dataclass(frozen=True)
class Threshold:
    """What a behavior alarms on, as a chart marks it: a number (``value``) or a set of allowed values
    (``allowed``: ports, CIDRs), and the text a reader sees (``label``: ``"> 1000, 2 windows"``)."""

    label: str
    value: float | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class TradeoffPoint:
    """One candidate of the tuner: a threshold and ``consecutiveDatapointsToAlarm``, with the false
    alarms it would raise on normal devices and the attacks it would detect."""

    threshold: float
    consecutive: int
    false_alarms_per_1000_device_days: float
    detected: int
    attacks: int


@dataclass(frozen=True)
class Panel:
    """One profile's view of a behavior (profiles are per device class, so each has its own values).

    :param normal_values: the behavior's values (window aggregates or datapoints) on normal devices.
    :param attack_values: its values on attacked things during their attacks.
    :param categories: for a set metric (ports, IPs), ``(value, seen on normal devices, seen in attacks)``
        instead of numbers.
    """

    profile: str
    normal_values: tuple[float, ...] = ()
    attack_values: tuple[float, ...] = ()
    categories: tuple[tuple[str, int, int], ...] = ()
    today: Threshold | None = None
    proposed: Threshold | None = None
    tradeoff: tuple[TradeoffPoint, ...] = ()


@dataclass(frozen=True)
class BehaviorView:
    """One behavior (by name, across the profiles that have it): its figures untuned and tuned, and
    what its charts plot. ``untuned`` is None for a behavior the reference app does not ship."""

    name: str
    metric: str
    untuned: Score | None
    tuned: Score | None
    panels: tuple[Panel, ...] = ()


@dataclass(frozen=True)
class AlarmSpan:
    """A thing in alarm on a behavior from ``start`` until ``end`` (None: still in alarm at the end)."""

    thing: str
    behavior: str
    start: float
    end: float | None


@dataclass(frozen=True)
class AttackSpan:
    """An injected attack, and whether the behaviors of the timeline detected it."""

    attack_id: str
    kind: str
    thing: str
    start: float
    end: float
    detected: bool


@dataclass(frozen=True)
class Timeline:
    """The fleet's alarms and injected attacks over one run."""

    title: str
    start: float
    end: float
    alarms: tuple[AlarmSpan, ...]
    attacks: tuple[AttackSpan, ...]


@dataclass(frozen=True)
class LearnedView:
    """Learned behaviors (self-hosted ML Detect, no threshold given) on the evaluation fleet.

    :param overall: all of them together, over every injected attack.
    :param learnable_recall: recall over the attacks that show in a metric ML Detect supports.
    :param trained_on: one line describing the fleet the models were trained on.
    :param band_chart: a week of one model's learned band with an attack marked (PNG), when drawn.
    """

    overall: Score
    learnable_recall: float | None
    trained_on: str
    band_chart: Path | None = None


@dataclass(frozen=True)
class LabReport:
    """Everything the Markdown report, the charts and the terminal table show.

    :param fleet: one line describing the fleets (things, days, seeds).
    :param target: the false-alarm target the tuner was given (per 1,000 device-days).
    :param untuned: the reference app's behaviors on the evaluation fleet, all together.
    :param tuned: the tuned behaviors on the evaluation fleet, all together.
    :param code: the tuned behaviors as ``Behavior.rule(...)`` Python code.
    :param api_json: the tuned behaviors as CreateSecurityProfile ``behaviors`` JSON, per profile.
    :param timings: seconds each step took (``simulate``, ``replay``, ...), in order.
    :param learned: learned behaviors beside them, when the demo ran them (``--learned``).
    """

    title: str
    fleet: str
    target: float
    behaviors: tuple[BehaviorView, ...]
    untuned: Score
    tuned: Score
    timelines: tuple[Timeline, ...] = ()
    code: str = ""
    api_json: str = ""
    timings: tuple[tuple[str, float], ...] = field(default=())
    learned: LearnedView | None = None
