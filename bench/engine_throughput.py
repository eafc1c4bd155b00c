"""Datapoint evaluations per second of the pure self-hosted Detect engine on one core.

    .venv/bin/python bench/engine_throughput.py [--things 10000] [--behaviors 5] [--datapoints 4]

Each thing reports ``--datapoints`` message counts inside one 5-minute window for each of
``--behaviors`` rule behaviors; the window is then judged (``now`` past its end), so every run
exercises aggregation, judgement and streak updates. One thing in a hundred misbehaves and raises
alarms, the rest are normal, as in a real fleet. Ends with one JSON line {"evals_per_s": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambdas.evaluation.engine import BehaviorState, Datapoint, evaluate
from lambdas.shared.behavior_definition import BehaviorDefinition, BehaviorKind
from lambdas.shared.metric_catalog import METRICS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--things", type=int, default=10_000)
    parser.add_argument("--behaviors", type=int, default=5)
    parser.add_argument("--datapoints", type=int, default=4)
    arguments = parser.parse_args()
    spec = METRICS["aws:num-messages-sent"]
    behaviors = [
        BehaviorDefinition(
            name=f"B{i}",
            metric=spec.name,
            kind=BehaviorKind.RULE,
            comparison_operator="less-than-equals",
            value={"count": 100 + i},
            duration_seconds=300,
        )
        for i in range(arguments.behaviors)
    ]
    normal = [Datapoint(10.0 + j, 20, f"d{j}") for j in range(arguments.datapoints)]
    storm = [Datapoint(10.0 + j, 500, f"d{j}") for j in range(arguments.datapoints)]
    evaluations = alarms = 0
    started = time.perf_counter()
    for thing in range(arguments.things):
        name = f"thing-{thing}"
        datapoints = storm if thing % 100 == 0 else normal
        for behavior in behaviors:
            result = evaluate(name, behavior, spec, BehaviorState(), datapoints, now=400.0)
            evaluations += len(datapoints)
            alarms += len(result.transitions)
    elapsed = time.perf_counter() - started
    rate = evaluations / elapsed
    print(f"{arguments.things} things x {arguments.behaviors} behaviors x {arguments.datapoints} datapoints")
    print(f"  {evaluations} datapoint evaluations in {elapsed:.2f} s: {rate:,.0f} per second (one core)")
    print(f"  alarms raised: {alarms}")
    print(json.dumps({"evals_per_s": round(rate, 1)}))


if __name__ == "__main__":
    main()
