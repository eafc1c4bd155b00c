"""The lab's demo (``iot-defender-lab demo``, ``make demo``): the whole story on a simulated fleet.

1. Simulate the tuning fleet (seed ``tune_seed``) with attacks, replay it with the starter behaviors
   (the reference app's plus one per attack kind, per device class) and tune them to the target.
2. Simulate the evaluation fleet (another seed: other things, other attacks, other noise) and replay
   it once with the reference app's behaviors as they ship and the tuned ones side by side (they are
   separate profiles, so the evaluator judges them independently; one pass reads each record once).
3. Score both against the evaluation fleet's labels and write the report with its charts.

Tuning on one seed and scoring on another is what keeps the figures honest: thresholds fitted to
the very windows they are scored on would flatter them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from detect_lab.behaviors import starter_profiles, untuned_profiles
from detect_lab.learned import learned_profiles, storm_band_chart, train_and_evaluate
from detect_lab.replay import ReplayResult, Windows
from detect_lab.replay.parallel import replay_in_parts
from detect_lab.report import LabReport, ReportFiles, write_report
from detect_lab.report.gather import behavior_views, overall, timeline
from detect_lab.report.model import LearnedView
from detect_lab.report.table import terminal_summary
from detect_lab.scoring import Score, score
from detect_lab.simulator import AttackKind, AttackPlan, FleetSpec, simulate
from detect_lab.simulator.device_classes import DEVICE_CLASSES
from detect_lab.tune import Tuning, api_json_text, rule_code, tune_replay
from iot_defender_runtime.model.detect_profiles import DetectProfiles

T = TypeVar("T")


@dataclass(frozen=True)
class DemoSettings:
    """The demo's fleets: ``things`` x ``days``, ``attacks_per_kind`` of each attack kind, tuned on
    ``tune_seed`` to ``target`` false alarms per 1,000 device-days and scored on ``eval_seed``."""

    things: int = 500
    days: float = 3.0
    tune_seed: int = 1
    eval_seed: int = 2
    attacks_per_kind: int = 5
    shards: int = 4
    target: float = 1.0
    progress: bool = False
    parts: int | None = None  # processes per replay (``replay_in_parts``); default one per CPU
    learned: bool = False  # also learned (ML) behaviors, trained on a 14-day fleet (several more minutes)
    learned_things: int = 300
    learned_seed: int = 3

    def spec(self, seed: int) -> FleetSpec:
        return FleetSpec(
            things=self.things,
            days=self.days,
            seed=seed,
            shards=self.shards,
            attacks=AttackPlan(per_kind=self.attacks_per_kind),
        )


@dataclass(frozen=True)
class DemoOutcome:
    """The report, the files written, and the figures the bench prints."""

    report: LabReport
    files: ReportFiles
    seconds: float
    replayed_datapoints: int
    replay_seconds: float

    @property
    def replay_datapoints_per_s(self) -> float:
        return self.replayed_datapoints / self.replay_seconds if self.replay_seconds > 0 else 0.0


def run_demo(settings: DemoSettings, out: Path, log: Callable[[str], None] = lambda _: None) -> DemoOutcome:
    """Run the demo and write its report into ``out``; ``log`` gets a line per step."""
    started = time.perf_counter()
    steps: list[tuple[str, float]] = []
    classes = [device_class.name for device_class in DEVICE_CLASSES]
    tuning_fleet = simulate(settings.spec(settings.tune_seed))
    log(f"replaying the tuning fleet (seed {settings.tune_seed}) with the starter behaviors ...")
    tuning_run = _timed(
        steps, "replay tuning fleet", lambda: _replay(tuning_fleet.spec, starter_profiles(classes), settings)
    )
    log(_replayed(tuning_run))
    tuning = _timed(
        steps,
        "tune",
        lambda: tune_replay(tuning_run, target_false_alarms=settings.target, labels=tuning_fleet.labels),
    )
    untuned, tuned = untuned_profiles(classes), tuning.profiles()
    evaluation_fleet = simulate(settings.spec(settings.eval_seed))
    log(f"replaying the evaluation fleet (seed {settings.eval_seed}) with the reference and the tuned behaviors ...")
    both = DetectProfiles(untuned.behaviors + tuned.behaviors)
    evaluation_run = _timed(
        steps, "replay evaluation fleet", lambda: _replay(evaluation_fleet.spec, both, settings, False)
    )
    log(_replayed(evaluation_run))
    labels = evaluation_fleet.labels
    scores = {"untuned": _score_of(evaluation_run, untuned, labels), "tuned": _score_of(evaluation_run, tuned, labels)}
    report = _report(settings, (tuning_run, tuning_fleet.labels, tuning), evaluation_run, scores, steps)
    if settings.learned:
        log(f"training learned behaviors on {settings.learned_things} things x 14 days, judging the evaluation fleet")
        report = replace(report, learned=_timed(steps, "learned behaviors", lambda: _learned(settings, out)))
        report = replace(report, timings=tuple(steps))
    log(f"drawing the charts and writing the report to {out} ...")
    files = write_report(report, out)
    replayed = tuning_run.datapoints + evaluation_run.datapoints
    seconds = time.perf_counter() - started
    return DemoOutcome(report, files, seconds, replayed, tuning_run.seconds + evaluation_run.seconds)


def _learned(settings: DemoSettings, out: Path) -> LearnedView:
    """Learned behaviors (no threshold) trained on a 14-day fleet without attacks, judging the evaluation
    fleet; a week of one model's band drawn into the report's charts."""
    classes = [device_class.name for device_class in DEVICE_CLASSES]
    training = FleetSpec(things=settings.learned_things, days=14.0, seed=settings.learned_seed, shards=settings.shards)
    evaluation = settings.spec(settings.eval_seed)
    with evaluator_quiet():
        outcome = train_and_evaluate(training, evaluation, learned_profiles(classes), parts=settings.parts)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    chart = storm_band_chart(outcome, evaluation, out / "charts" / "learned-band.png")
    return LearnedView(
        overall(outcome.score),
        outcome.learnable_recall(),
        f"{settings.learned_things} things x 14 days (seed {settings.learned_seed}, no attacks), at HIGH confidence",
        chart,
    )


def _replayed(run: ReplayResult) -> str:
    return f"  {run.records:,} records, {run.datapoints:,} datapoints in {run.seconds:.1f} s"


def _timed(steps: list[tuple[str, float]], name: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    steps.append((name, time.perf_counter() - started))
    return result


def _replay(
    spec: FleetSpec, profiles: DetectProfiles, settings: DemoSettings, observe_sets: bool = True
) -> ReplayResult:
    """The fleet of ``spec`` replayed in parts side by side (one process per CPU by default)."""
    with evaluator_quiet():
        return replay_in_parts(
            spec, profiles, parts=settings.parts, progress=settings.progress, observe_sets=observe_sets
        )


@contextmanager
def evaluator_quiet() -> Iterator[None]:
    """The evaluator's code runs here outside Lambda: the CloudWatch embedded-metric lines and the log
    lines it writes (one per learned model that cannot judge yet, for example) would only bury the lab's
    output, so its stdout goes nowhere and its warnings are not logged while it runs (progress bars are
    on stderr and still show)."""
    logging.disable(logging.WARNING)
    try:
        with open(os.devnull, "w") as nowhere, redirect_stdout(nowhere):
            yield
    finally:
        logging.disable(logging.NOTSET)


def _score_of(run: ReplayResult, profiles: DetectProfiles, labels: Sequence[Any]) -> Score:
    """The score of ``profiles``' alarms alone, out of a replay that judged them beside others."""
    names = set(profiles.by_profile)
    alarms = [alarm for alarm in run.alarms() if alarm.profile in names]
    return score(alarms, profiles, labels, run.device_days)


def _report(
    settings: DemoSettings,
    tuned_on: tuple[ReplayResult, Sequence[Any], Tuning],
    evaluation_run: ReplayResult,
    scores: dict[str, Score],
    steps: list[tuple[str, float]],
) -> LabReport:
    """The report: charts from the tuning run (values, trade-offs), figures and timelines from the
    evaluation run."""
    tuning_run, labels, tuning = tuned_on
    untuned, tuned = scores["untuned"], scores["tuned"]
    windows = Windows.from_history(tuning_run.history)
    views = behavior_views(untuned, tuned, tuning, windows, labels, tuning_run.observed, tuning_run.things)
    alarms = evaluation_run.alarms()
    tuned_names = set(tuning.profiles().by_profile)
    start, end = evaluation_run.start, evaluation_run.end
    return LabReport(
        title="Detect lab demo: the reference app's behaviors against tuned ones",
        fleet=describe(settings),
        target=settings.target,
        behaviors=views,
        untuned=overall(untuned),
        tuned=overall(tuned),
        timelines=(
            timeline(
                "reference app's behaviors (untuned), evaluation fleet",
                start,
                end,
                [a for a in alarms if a.profile not in tuned_names],
                untuned,
            ),
            timeline(
                "tuned behaviors, evaluation fleet", start, end, [a for a in alarms if a.profile in tuned_names], tuned
            ),
        ),
        code=rule_code(tuning),
        api_json=api_json_text(tuning),
        timings=tuple(steps),
    )


def describe(settings: DemoSettings) -> str:
    kinds = len(AttackKind)
    return (
        f"{settings.things:,} things x {settings.days:g} days per fleet, {settings.attacks_per_kind} attacks of each "
        f"of the {kinds} kinds per fleet; tuned on seed {settings.tune_seed} to {settings.target:g} false alarms "
        f"per 1,000 device-days, evaluated on seed {settings.eval_seed}."
    )


def summary(outcome: DemoOutcome) -> str:
    """What the demo prints: the summary table, the goal, where the report is, how long it took."""
    return (
        f"{terminal_summary(outcome.report)}\n\nreport: {outcome.files.report} ({len(outcome.files.charts)} charts)\n"
        f"demo took {outcome.seconds:.0f} s; replay: {outcome.replay_datapoints_per_s:,.0f} datapoints/s"
    )
