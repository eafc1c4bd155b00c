"""Self-hosted Detect throughput: the pure engine on one core, and the evaluator handler on moto.

    .venv/bin/python bench/evaluator_throughput.py [--things 10000] [--behaviors 5] [--datapoints 4]

Each thing reports ``--datapoints`` message counts (each validated as the intake validates it)
inside one 5-minute window for each of ``--behaviors`` rule behaviors; the window is then judged
(``now`` past its end), so every run exercises aggregation, judgement and streak updates. One thing
in a hundred misbehaves and raises alarms, the rest are normal, as in a real fleet.

Then the handler takes 1,000-record Kinesis batches of telemetry on moto (200 normal things x 5
messages): a first batch, a second batch a minute later in the same window, and that batch again
as Kinesis redelivers it; then the sweep judges the windows of the 200 things gone quiet. Ends with
one JSON line {"evals_per_s", "batch_1000_ms", "state_writes_batch_1000", "state_writes_steady",
"state_writes_steady_windowed", "state_writes_redelivered", "sweep_200_things_ms"}:
``state_writes_steady`` counts the second batch's writes when the profile has a per-message size
rule only (steady normal things), ``state_writes_steady_windowed`` when it also has the windowed
messages-sent behaviors, whose open windows' totals must be kept (one item per thing, so one write
per thing however many behaviors).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iot_defender_runtime.evaluation.engine import BehaviorState, Datapoint, evaluate
from iot_defender_runtime.evaluation.values import datapoint_value
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.metric_catalog import METRICS


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
        # The intake's validation (each value checked against its metric's kind, as every record's are)
        raw = storm if thing % 100 == 0 else normal
        datapoints = [Datapoint(d.timestamp, datapoint_value(spec.value_kind, d.value), d.datapoint_id) for d in raw]
        for behavior in behaviors:
            result = evaluate(name, behavior, spec, BehaviorState(), datapoints, now=400.0)
            evaluations += len(datapoints)
            alarms += len(result.transitions)
    elapsed = time.perf_counter() - started
    rate = evaluations / elapsed
    print(f"{arguments.things} things x {arguments.behaviors} behaviors x {arguments.datapoints} datapoints")
    print(f"  {evaluations} datapoint evaluations in {elapsed:.2f} s: {rate:,.0f} per second (one core)")
    print(f"  alarms raised: {alarms}")
    figures = handler_batch(behaviors)
    print(
        f"handler, 1000-record batch on moto: {figures['batch_1000_ms']:.0f} ms, "
        f"{figures['state_writes_batch_1000']} state writes (200 things; {len(behaviors)} windowed behaviors and a "
        "per-message one)"
    )
    print(
        f"  next batch of normal datapoints: {figures['state_writes_steady']} writes with the per-message behavior "
        f"alone, {figures['state_writes_steady_windowed']} with the windowed ones (the open windows' totals); "
        f"redelivered: {figures['state_writes_redelivered']}"
    )
    print(f"  sweep judging the quiet things' windows: {figures['sweep_200_things_ms']:.0f} ms for 200 things on moto")
    print(json.dumps({"evals_per_s": round(rate, 1), **{k: round(v, 1) for k, v in figures.items()}}))


def encode(body: dict) -> str:
    return base64.b64encode(json.dumps(body).encode()).decode()


def handler_batch(behaviors: list[BehaviorDefinition]) -> dict[str, float]:
    """1,000-record telemetry batches (200 things x 5 messages) on moto, in two set-ups:

    - per-message only: a size rule; the second batch of normal messages should write nothing;
    - windowed: the size rule plus every windowed ``behaviors`` (messages sent): one write per thing
      per batch for the open windows' totals, however many behaviors.
    """
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    import boto3
    from moto import mock_aws

    from iot_defender_runtime.detect_evaluator import handler

    sizes = BehaviorDefinition(
        name="Sizes",
        metric="aws:message-byte-size",
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": 4096},
    )
    start_s = 1_700_000_100

    def batch(first_second: int) -> list[dict]:
        return [
            {
                "kinesis": {
                    "sequenceNumber": f"{first_second:04d}{thing:05d}{j}",
                    "data": encode(
                        {
                            "thingName": f"t{thing}",
                            "kind": "message",
                            "base64Length": 400,  # a 300-byte payload
                            "padded1": False,
                            "padded2": False,
                            "timestamp": (start_s + first_second + j) * 1000,
                        }
                    ),
                }
            }
            for thing in range(200)
            for j in range(5)
        ]

    def run(profile_behaviors: list[BehaviorDefinition]) -> tuple[float, int, int, int, float]:
        with mock_aws():
            dynamodb = boto3.client("dynamodb")
            dynamodb.create_table(
                TableName="state",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
            profile = {"name": "bench", "behaviors": [b.to_api() for b in profile_behaviors]}
            os.environ.update(
                {
                    "STATE_TABLE_NAME": "state",
                    "ALERT_TOPIC_ARN": topic,
                    "DETECT_PROFILES": json.dumps({"profiles": [profile]}),
                }
            )
            handler.clear_caches()
            from iot_defender_runtime.adapters import aws_clients
            from iot_defender_runtime.adapters.detect_state import DetectStates

            aws_clients.client.cache_clear()
            writes = []
            DetectStates("state")._dynamodb.meta.events.register(
                "before-call.dynamodb.PutItem", lambda **_: writes.append(1)
            )
            started = time.perf_counter()
            handler.evaluate_batch(batch(0), now=start_s + 10)
            elapsed_ms = (time.perf_counter() - started) * 1000
            first = len(writes)
            writes.clear()
            second = batch(60)  # the same things, a minute later, still normal, same window
            handler.evaluate_batch(second, now=start_s + 70)
            steady = len(writes)
            writes.clear()
            handler.evaluate_batch(second, now=start_s + 80)  # Kinesis redelivers it
            redelivered = len(writes)
            started = time.perf_counter()
            handler.sweep(now=start_s + 400)  # the things went quiet: the sweep judges their windows
            sweep_ms = (time.perf_counter() - started) * 1000
            return elapsed_ms, first, steady, redelivered, sweep_ms

    _, _, steady, _, _ = run([sizes])
    elapsed_ms, first, steady_windowed, redelivered, sweep_ms = run([sizes, *behaviors])
    return {
        "batch_1000_ms": elapsed_ms,
        "state_writes_batch_1000": first,
        "state_writes_steady": steady,
        "state_writes_steady_windowed": steady_windowed,
        "state_writes_redelivered": redelivered,
        "sweep_200_things_ms": sweep_ms,
    }


if __name__ == "__main__":
    main()
