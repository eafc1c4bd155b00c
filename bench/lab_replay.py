"""Detect lab bench: how fast the lab replays a fleet through the evaluator's own code, and the demo's
time and figures.

    python bench/lab_replay.py                      # 10,000 things x 1 day, then the demo (500 x 3 days)
    python bench/lab_replay.py --things 1000        # a smaller replay
    python bench/lab_replay.py --skip-demo          # the replay only (demo figures null)

1. Replay: a fleet of ``--things`` things over ``--days`` simulated days, with attacks, generated and
   replayed with the lab's starter behaviors (every attack kind's metric, one profile per device class):
   replayed datapoints per second of wall-clock time, generation included (the fleet is generated as it
   is read, as the demo does), in ``--parts`` processes side by side (default one per CPU, as the demo;
   ``--parts 1`` for one process).
2. Demo: ``detect_lab.demo.run_demo`` at its defaults (tune on seed 1, evaluate on seed 2), timed end
   to end, with the tuned behaviors' recall and false alarms per 1,000 device-days on the evaluation seed.

Ends with one JSON line: ``{"replay_datapoints_per_s": ..., "demo_s": ..., "recall": ...,
"false_alarms_per_1000_device_days": ...}``. Other processes on the machine slow both figures down:
note the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "lambdas"))

from detect_lab.behaviors import starter_profiles
from detect_lab.demo import DemoSettings, evaluator_quiet, run_demo
from detect_lab.replay.parallel import default_parts, replay_in_parts
from detect_lab.report.table import goal_lines
from detect_lab.simulator import DEVICE_CLASSES, AttackPlan, FleetSpec


def replay_figures(things: int, days: float, progress: bool, parts: int | None) -> float:
    """Replayed datapoints per second over a fleet of ``things`` x ``days``."""
    spec = FleetSpec(things=things, days=days, seed=11, attacks=AttackPlan(per_kind=5))
    profiles = starter_profiles([c.name for c in DEVICE_CLASSES])
    processes = default_parts() if parts is None else parts
    started = time.perf_counter()
    with evaluator_quiet():
        result = replay_in_parts(spec, profiles, parts=processes, progress=progress)
    seconds = time.perf_counter() - started
    rate = result.datapoints / seconds if seconds > 0 else 0.0
    print(
        f"replay: {things:,} things x {days:g} days in {processes} process(es): {result.records:,} records, "
        f"{result.datapoints:,} datapoints in {seconds:.1f} s: {rate:,.0f} datapoints/s "
        f"({result.records / seconds:,.0f} records/s), {len(result.alarms()):,} alarms; load average {_load()}"
    )
    return rate


def demo_figures(out: Path, progress: bool) -> tuple[float, float | None, float]:
    """The demo at its defaults: seconds, the tuned behaviors' recall and false alarm rate."""
    settings = DemoSettings(progress=progress)
    outcome = run_demo(settings, out, lambda line: print(line, file=sys.stderr, flush=True))
    tuned = outcome.report.tuned
    print(
        f"demo: {settings.things} things x {settings.days:g} days, two fleets: {outcome.seconds:.1f} s; load {_load()}"
    )
    for line in goal_lines(outcome.report):
        print(f"demo: {line}")
    print(f"demo: report in {outcome.files.report}")
    return outcome.seconds, tuned.recall, tuned.false_alarms_per_1000_device_days


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--things", type=int, default=10_000, help="things in the replayed fleet (default: 10000)")
    parser.add_argument("--days", type=float, default=1.0, help="simulated days (default: 1)")
    parser.add_argument("--skip-demo", action="store_true", help="do not run the demo (its figures are null)")
    parser.add_argument("--demo-out", default=None, help="where the demo writes its report (default: a temp dir)")
    parser.add_argument("--progress", action="store_true", help="progress bars on stderr")
    parser.add_argument("--parts", type=int, default=None, help="replay processes (default: one per CPU)")
    arguments = parser.parse_args(argv)
    rate = replay_figures(arguments.things, arguments.days, arguments.progress, arguments.parts)
    demo_s = recall = false_alarms = None
    if not arguments.skip_demo:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(arguments.demo_out) if arguments.demo_out else Path(scratch)
            demo_s, recall, false_alarms = demo_figures(out, arguments.progress)
    figures = {
        "replay_datapoints_per_s": round(rate, 1),
        "demo_s": None if demo_s is None else round(demo_s, 1),
        "recall": None if recall is None else round(recall, 4),
        "false_alarms_per_1000_device_days": None if false_alarms is None else round(false_alarms, 3),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
