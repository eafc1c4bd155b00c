"""What each ``iot-defender-lab`` subcommand does, given its parsed arguments (``detect_lab.cli``).

Every argument is checked before any work starts, so a bad one costs nothing: the error names the
argument, the value given and what is allowed, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detect_lab.behaviors import BehaviorSetError, profiles_json, select, starter_profiles, untuned_profiles
from detect_lab.demo import DemoSettings, evaluator_quiet, run_demo, summary
from detect_lab.export_managed import ExportError, describe_behaviors, export_managed
from detect_lab.replay import HistoryError, ReplayResult, replay_fleet, replay_history
from detect_lab.report.gather import behavior_score, overall, threshold
from detect_lab.report.markdown import API_FILE, CODE_FILE
from detect_lab.report.table import detect_time_text, false_alarm_text, recall_text, text_table
from detect_lab.scoring import ScoringError, score_replay, verification_states
from detect_lab.simulator import (
    AttackPlan,
    FleetSpec,
    SimulatedFleet,
    SpecError,
    StreamBatch,
    read_labels,
    read_records,
    simulate,
    write_records,
)
from detect_lab.simulator.device_classes import DEVICE_CLASSES
from detect_lab.simulator.jsonl import labels_path_for
from detect_lab.tune import Tuning, TuningError, api_json_text, check_target, rule_code, tune_replay
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.remediation_policy import PolicyError

ATTACKS_PER_KIND = 5
PROFILES_FILE = "tuned_profiles.json"
BEHAVIOR_SETS = ("reference", "starter")


class LabUsageError(ValueError):
    """A bad argument: the message names it, the value given and what is allowed."""


class AwsCallError(RuntimeError):
    """An AWS call failed (``export-managed`` only): the message is the service's."""


def fleet_spec(arguments: argparse.Namespace, seed: int | None = None) -> FleetSpec:
    """The simulated fleet the arguments ask for; the simulator's checks, with the flags' names."""
    try:
        return FleetSpec(
            things=arguments.things,
            days=arguments.days,
            seed=arguments.seed if seed is None else seed,
            shards=arguments.shards,
            attacks=AttackPlan(per_kind=arguments.attacks_per_kind),
        )
    except SpecError as error:
        raise LabUsageError(_flag_names(str(error))) from error


def _flag_names(message: str) -> str:
    """``things 0 must be ...`` -> ``--things 0 must be ...`` for each problem of a spec message."""
    flags = {"things": "--things", "days": "--days", "seed": "--seed", "shards": "--shards"}
    flags["attacks.per_kind"] = "--attacks-per-kind"
    problems = []
    for problem in message.split("; "):
        name, _, rest = problem.partition(" ")
        problems.append(f"{flags[name]} {rest}" if name in flags else problem)
    return "; ".join(problems)


def class_names() -> list[str]:
    return [device_class.name for device_class in DEVICE_CLASSES]


def behavior_set(choice: str, names: Sequence[str]) -> DetectProfiles:
    """``reference``, ``starter`` or a DETECT_PROFILES JSON file; only ``names`` when given."""
    if choice == "reference":
        profiles = untuned_profiles(class_names())
    elif choice == "starter":
        profiles = starter_profiles(class_names())
    else:
        profiles = _profiles_file(choice)
    try:
        return select(profiles, names) if names else profiles
    except BehaviorSetError as error:
        raise LabUsageError(f"--behavior: {error}") from error


def _profiles_file(path: str) -> DetectProfiles:
    file = Path(path)
    if not file.is_file():
        raise LabUsageError(
            f"--behaviors {path!r} must be {' or '.join(BEHAVIOR_SETS)}, or a DETECT_PROFILES JSON file "
            "(as `tune --out` writes); no such file"
        )
    try:
        return DetectProfiles.from_json(file.read_text(encoding="utf-8"))
    except (PolicyError, ValueError) as error:
        problems = "; ".join(getattr(error, "problems", [])) or str(error)
        raise LabUsageError(
            f"--behaviors {path!r} is not a DETECT_PROFILES document the evaluator reads: {problems}"
        ) from error


def simulate_command(arguments: argparse.Namespace) -> int:
    """``simulate``: the fleet's records as JSON Lines and its labels beside them."""
    spec = fleet_spec(arguments)
    out = Path(arguments.out)
    if not out.parent.is_dir():
        raise LabUsageError(f"--out {arguments.out!r}: directory {str(out.parent)!r} does not exist")
    started = time.perf_counter()
    fleet: SimulatedFleet = simulate(spec)
    written = write_records(fleet, out)
    write_spec(spec, out)
    seconds = time.perf_counter() - started
    print(
        f"simulated {spec.things} things x {spec.days:g} days (seed {spec.seed}, {len(fleet.labels)} attacks): "
        f"{written.records} records in {seconds:.1f} s ({written.records / max(seconds, 1e-9):,.0f}/s)"
    )
    print(f"records: {written.records_path}\nlabels:  {written.labels_path}\nspec:    {spec_path_for(out)}")
    return 0


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def note(text: str) -> None:
    """A progress line on stderr (the report and tables go to stdout)."""
    print(text, file=sys.stderr, flush=True)


class SavedFleet:
    """A fleet saved by ``simulate --out``, replayed as it was simulated: its spec from the sidecar
    ``FILE.spec.json``, its things from the spec, its labels from ``FILE.labels.jsonl``, and its records
    from the file, one batch per shard per minute of arrival (as the simulator hands them out)."""

    def __init__(self, path: Path) -> None:
        sidecar = spec_path_for(path)
        if not path.is_file() or not sidecar.is_file():
            raise LabUsageError(
                f"--records {str(path)!r} must be a records file written by `simulate --out` (with "
                f"{sidecar.name} and {labels_path_for(path).name} beside it); not found"
            )
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
        try:
            self.spec = FleetSpec(**{**saved, "attacks": AttackPlan(per_kind=saved["attacks"])})
        except (SpecError, TypeError, KeyError) as error:
            raise LabUsageError(f"--records {str(path)!r}: {sidecar.name} is not a fleet spec ({error})") from error
        self.path = path
        self.things = simulate(self.spec).things
        self.labels = read_labels(path)

    @property
    def device_days(self) -> float:
        return self.spec.things * self.spec.days

    def batches(self) -> Iterator[StreamBatch]:
        batch: list[dict[str, Any]] = []
        key: tuple[str, int] | None = None
        for record in read_records(self.path):
            arrival = record["kinesis"]["approximateArrivalTimestamp"]
            this = (record["eventID"].split(":", 1)[0], int(arrival // 60))
            if batch and this != key:
                yield StreamBatch(batch[-1]["kinesis"]["approximateArrivalTimestamp"], key[0], batch)  # type: ignore[index]
                batch = []
            key = this
            batch.append(record)
        if batch and key is not None:
            yield StreamBatch(batch[-1]["kinesis"]["approximateArrivalTimestamp"], key[0], batch)


def spec_path_for(path: Path) -> Path:
    """Where ``simulate --out`` keeps the spec of the records at ``path``: ``x.jsonl`` -> ``x.spec.json``."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".spec.json")


def write_spec(spec: FleetSpec, path: Path) -> Path:
    sidecar = spec_path_for(path)
    fields = {"things": spec.things, "days": spec.days, "seed": spec.seed, "start": spec.start}
    fields |= {"shards": spec.shards, "attacks": spec.attacks.per_kind, "report_interval": spec.report_interval}
    write_json(sidecar, fields)
    return sidecar


def _source(arguments: argparse.Namespace, profiles: DetectProfiles, *, observe_sets: bool) -> tuple[ReplayResult, Any]:
    """Replay what the arguments name: saved history, a saved fleet, or a fleet simulated now; and its labels."""
    if arguments.history:
        try:
            with evaluator_quiet():
                return replay_history(arguments.history, profiles, progress=arguments.progress), ()
        except HistoryError as error:
            raise LabUsageError(f"--history: {error}") from error
    fleet: Any = SavedFleet(Path(arguments.records)) if arguments.records else simulate(fleet_spec(arguments))
    with evaluator_quiet():
        replayed = replay_fleet(fleet, profiles, progress=arguments.progress, observe_sets=observe_sets)
    return replayed, fleet.labels


def replay_command(arguments: argparse.Namespace) -> int:
    """``replay``: the replay's figures per behavior and overall."""
    profiles = behavior_set(arguments.behaviors, arguments.behavior)
    if not arguments.history and not arguments.records:
        fleet_spec(arguments)  # a bad fleet fails before anything runs
    verifications = _verifications(arguments.verifications)
    result, labels = _source(arguments, profiles, observe_sets=False)
    scored = score_replay(result, labels, verifications)
    rows = [
        [
            b.behavior,
            b.metric,
            str(b.alarms),
            str(b.devices_in_alarm),
            recall_text(behavior_score(b, scored.device_days)),
            false_alarm_text(behavior_score(b, scored.device_days)),
            detect_time_text(behavior_score(b, scored.device_days)),
        ]
        for b in scored.behaviors
    ]
    total = overall(scored)
    rows.append(
        [
            "all behaviors",
            "",
            str(scored.alarms),
            str(total.devices_in_alarm),
            recall_text(total),
            false_alarm_text(total),
            detect_time_text(total),
        ]
    )
    header = ("Behavior", "Metric", "Alarms", "Devices", "Recall", "FA/1k dd", "TTD")
    print(text_table(rows, header))
    print(
        f"\n{result.records:,} records, {result.datapoints:,} datapoints in {result.seconds:.1f} s "
        f"({result.datapoints_per_s:,.0f} datapoints/s); {result.device_days:g} device-days"
    )
    return 0


def _verifications(path: str | None) -> list[dict[str, Any]]:
    """``--verifications FILE``: the violation log's verification states, checked before anything runs
    (violation ids are the evaluator's own, so re-judging history with the same behaviors matches them)."""
    if path is None:
        return []
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LabUsageError(f"--verifications {path!r} must be a readable JSON file: {error}") from None
    entries = document.get("violationEvents", document) if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise LabUsageError(f"--verifications {path!r} must hold a JSON list of {{violationId, verificationState}}")
    # Events nobody verified carry no verificationState: they label nothing.
    entries = [e for e in entries if not isinstance(e, dict) or e.get("verificationState") is not None]
    try:
        verification_states(entries)
    except ScoringError as error:
        raise LabUsageError(f"--verifications {path!r}: {error}") from None
    return entries


def tune_command(arguments: argparse.Namespace) -> int:
    """``tune``: the trade-off per behavior, the proposals, and the files ``--out`` asks for."""
    target = _target(arguments.target_false_alarms)
    profiles = behavior_set(arguments.behaviors, arguments.behavior)
    out = _out_dir(arguments.out)
    if not arguments.history and not arguments.records:
        fleet_spec(arguments)
    result, labels = _source(arguments, profiles, observe_sets=True)
    tuning = tune_replay(result, target_false_alarms=target, labels=labels)
    print(tradeoff_text(tuning))
    print(rule_code(tuning))
    if out is not None:
        (out / CODE_FILE).write_text(rule_code(tuning), encoding="utf-8")
        (out / API_FILE).write_text(api_json_text(tuning), encoding="utf-8")
        (out / PROFILES_FILE).write_text(profiles_json(tuning.profiles()) + "\n", encoding="utf-8")
        print(f"wrote {out / CODE_FILE}, {out / API_FILE} and {out / PROFILES_FILE} (replay --behaviors FILE)")
    return 0


def _target(value: float) -> float:
    try:
        return check_target(value)
    except TuningError as error:
        raise LabUsageError(f"--{str(error).replace('_', '-')}") from error


def _out_dir(out: str | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise LabUsageError(f"--out {out!r} must be a directory; it is a file")
    path.mkdir(parents=True, exist_ok=True)
    return path


def tradeoff_text(tuning: Tuning) -> str:
    """Per profile and behavior: the proposal, and its trade-off (the candidates around the choice)."""
    blocks = []
    for proposal in tuning.proposals:
        title = (
            f"{proposal.profile}/{proposal.behavior}: today {threshold(proposal.current).label}; "
            f"proposed {threshold(proposal.proposed).label}" + ("" if proposal.met else " (target NOT met)")
        )
        rows = [
            [
                f"{c.threshold:g}",
                str(c.consecutive),
                f"{c.false_alarms_per_1000_device_days:.2f}",
                "-" if c.detected is None else f"{c.detected}/{c.attacks}",
                "<-" if c == proposal.chosen else "",
            ]
            for c in proposal.candidates
            if c.consecutive in (1, 2, 3) or c == proposal.chosen
        ]
        header = ("Threshold", "Windows", "FA/1k dd", "Detected", "")
        table = text_table(rows, header, total_row=False) if rows else proposal.note
        blocks.append(f"{title}\n{table}")
    return "\n\n".join(blocks)


def export_managed_command(arguments: argparse.Namespace) -> int:
    """``export-managed``: ``ListMetricValues`` of the profile's behaviors' metrics, as window history."""
    things = list(arguments.thing) + _things_file(arguments.things_file)
    if not things:
        raise LabUsageError("--thing or --things-file: give at least one thing name")
    start, end = _time("--start", arguments.start), _time("--end", arguments.end)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(profile_name=arguments.aws_profile, region_name=arguments.region)
        client = session.client("iot")
        behaviors = describe_behaviors(client, arguments.profile)
        summary = export_managed(client, things, arguments.profile, behaviors, start, end, arguments.out)
    except ExportError as error:
        raise LabUsageError(str(error)) from error
    except (ClientError, BotoCoreError) as error:
        raise AwsCallError(str(error)) from error
    print(
        f"exported {summary.rows:,} rows ({summary.pages} ListMetricValues pages) into {len(summary.files)} files "
        f"under {arguments.out}"
    )
    return 0


def _things_file(path: str | None) -> list[str]:
    if path is None:
        return []
    file = Path(path)
    if not file.is_file():
        raise LabUsageError(f"--things-file {path!r} must be a file of thing names, one a line; no such file")
    return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def _time(flag: str, text: str) -> datetime:
    """ISO 8601 (a time without a zone is UTC) or epoch seconds, as a timezone-aware datetime."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise LabUsageError(
            f"{flag} {text!r} must be an ISO 8601 time (2026-11-02T00:00:00Z) or epoch seconds"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def demo_command(arguments: argparse.Namespace) -> int:
    """``demo``: the whole lab, the report in ``--out``, the summary in the terminal."""
    settings = DemoSettings(
        things=arguments.things,
        days=arguments.days,
        tune_seed=arguments.seed,
        eval_seed=arguments.eval_seed,
        attacks_per_kind=arguments.attacks_per_kind,
        shards=arguments.shards,
        target=_target(arguments.target_false_alarms),
        progress=arguments.progress,
        learned=arguments.learned,
        learned_things=arguments.learned_things,
    )
    if arguments.learned and not 1 <= arguments.learned_things <= 1_000_000:
        raise LabUsageError(f"--learned-things {arguments.learned_things} must be an integer from 1 to 1,000,000")
    fleet_spec(arguments)
    fleet_spec(arguments, seed=arguments.eval_seed)
    if arguments.eval_seed == arguments.seed:
        raise LabUsageError(f"--eval-seed {arguments.eval_seed} must differ from --seed (the tuning fleet's)")
    out = _out_dir(arguments.out)
    assert out is not None
    outcome = run_demo(settings, out, note)
    print(summary(outcome))
    return 0
