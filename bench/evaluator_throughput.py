"""Self-hosted Detect throughput: the pure engine on one core, and the evaluator handler on moto.

    .venv/bin/python bench/evaluator_throughput.py [--things 10000] [--behaviors 5] [--datapoints 4]

Each thing reports ``--datapoints`` message counts inside one 5-minute window for each of
``--behaviors`` rule behaviors; the window is then judged (``now`` past its end), so every run
exercises aggregation, judgement and streak updates. One thing in a hundred misbehaves and raises
alarms, the rest are normal, as in a real fleet.

Then the handler takes one 1,000-record Kinesis batch (200 normal things x 5 datapoints in one
window) on moto, and the same batch again as Kinesis redelivers it. Ends with one JSON line
{"evals_per_s": ..., "batch_1000_ms": ..., "state_writes_batch_1000": ..., "state_writes_steady": ...}:
``state_writes_steady`` counts the writes of the redelivered batch, which changes no state.
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
    batch_ms, writes, writes_again = handler_batch(behaviors[0])
    print(f"handler, 1000-record batch on moto: {batch_ms:.0f} ms, {writes} state writes; redelivered: {writes_again}")
    print(
        json.dumps(
            {
                "evals_per_s": round(rate, 1),
                "batch_1000_ms": round(batch_ms, 1),
                "state_writes_batch_1000": writes,
                "state_writes_steady": writes_again,
            }
        )
    )


def encode(body: dict) -> str:
    return base64.b64encode(json.dumps(body).encode()).decode()


def handler_batch(behavior: BehaviorDefinition) -> tuple[float, int, int]:
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

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
        os.environ.update(
            {
                "STATE_TABLE_NAME": "state",
                "ALERT_TOPIC_ARN": topic,
                "DETECT_PROFILES": json.dumps({"profiles": [{"name": "bench", "behaviors": [behavior.to_api()]}]}),
            }
        )
        from lambdas.detect_evaluator import handler

        start_s = 1_700_000_100
        records = [
            {
                "kinesis": {
                    "sequenceNumber": f"{thing:05d}{j}",
                    "data": base64.b64encode(
                        json.dumps(
                            {
                                "thingName": f"t{thing}",
                                "metric": behavior.metric,
                                "value": 5,
                                "timestamp": (start_s + j) * 1000,
                            }
                        ).encode()
                    ).decode(),
                }
            }
            for thing in range(200)
            for j in range(5)
        ]
        writes = []

        def count_puts(**_: object) -> None:
            writes.append(1)

        client_dynamodb = handler.DetectStates("state")._dynamodb
        client_dynamodb.meta.events.register("before-call.dynamodb.PutItem", count_puts)
        started = time.perf_counter()
        handler.evaluate_batch(records, now=start_s + 10)
        elapsed_ms = (time.perf_counter() - started) * 1000
        first = len(writes)
        writes.clear()
        handler.evaluate_batch(records, now=start_s + 20)
        return elapsed_ms, first, len(writes)


if __name__ == "__main__":
    main()
