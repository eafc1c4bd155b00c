"""Quarantine handler under a violation storm on moto: events/s, IoT calls per quarantine and per
duplicate, and the cold-start import time of the handler module.

    .venv/bin/python bench/quarantine_throughput.py [--things 1000] [--events 10000] [--seed 7]

The storm: ``--events`` violation events from ``--things`` things (one certificate each), in batches of
10 as SQS delivers them, shuffled. Each thing has 4 distinct events (3 in-alarm violations of
different behaviors and the alarm-cleared of the first); the rest are redeliveries of them chosen at
random (6 per thing on average at the default size), so 40% of the events are distinct and 60% are
duplicates (the same ``violationId`` and ``violationEventType``).

IoT calls are counted with botocore's ``before-call.iot`` events on the function's IoT client and
attributed to the event being handled: a quarantine is an event whose handling added its thing to
the quarantine group; a duplicate is an event already handled. ``cold_start_import_ms`` is the median
of 5 fresh Python processes, each timing ``import iot_defender_runtime.quarantine.handler`` (outside
Lambda, so with tracing off, as ``POWERTOOLS_TRACE_DISABLED`` makes it in Lambda).

Prints readable lines, then one JSON line: {"events_per_s": ..., "iot_calls_per_quarantine": ...,
"iot_calls_per_duplicate": ..., "cold_start_import_ms": ...}. moto runs in process, so events_per_s
measures this code plus moto, not AWS latency; the call counts are exact. Powertools metrics and logs
are off (``POWERTOOLS_METRICS_DISABLED``, log level ERROR), so nothing else reaches stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
warnings.filterwarnings("ignore", message="No application metrics to publish")

BATCH = 10
DISTINCT_PER_THING = 4
IMPORT_RUNS = 5


class Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def violation(thing: str, behavior: int, event_type: str = "in-alarm") -> dict[str, Any]:
    return {
        "violationId": f"{thing}-b{behavior}",
        "thingName": thing,
        "securityProfileName": "bench",
        "behavior": {
            "name": f"Behavior{behavior}",
            "metric": "aws:num-messages-sent",
            "criteria": {"comparisonOperator": "greater-than", "value": {"count": 100}},
        },
        "violationEventType": event_type,
        "violationEventTime": 1_700_000_000_000 + behavior,
        "metricValue": {"count": 5000},
    }


def storm(things: int, events: int, seed: int) -> list[dict[str, Any]]:
    """``events`` events: each thing's distinct events, then redeliveries of them, shuffled."""
    distinct = [
        event
        for index in range(things)
        for event in (*(violation(f"t{index}", b) for b in range(3)), violation(f"t{index}", 0, "alarm-cleared"))
    ]
    if events < len(distinct):
        raise SystemExit(f"--events must be at least {len(distinct)} (4 distinct events per thing)")
    chooser = random.Random(seed)
    delivered = distinct + [chooser.choice(distinct) for _ in range(events - len(distinct))]
    chooser.shuffle(delivered)
    return delivered


def sqs_records(events: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
    return [
        {
            "messageId": f"m{offset + i}",
            "receiptHandle": "r",
            "body": json.dumps(event),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "0",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1",
        }
        for i, event in enumerate(events)
    ]


def build_account(things: int) -> None:
    """In the moto account: the two groups, ``things`` things with one certificate each, the topic,
    the state table, and the function's environment."""
    import boto3

    iot, sns, dynamodb = (boto3.client(s) for s in ("iot", "sns", "dynamodb"))
    iot.create_thing_group(thingGroupName="quarantine")
    iot.create_thing_group(thingGroupName="fleet")
    for index in range(things):
        iot.create_thing(thingName=f"t{index}")
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=f"t{index}")
        certificate = iot.create_keys_and_certificate(setAsActive=True)
        iot.attach_thing_principal(thingName=f"t{index}", principal=certificate["certificateArn"])
    topic = sns.create_topic(Name="ops")["TopicArn"]
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    os.environ.update(
        {
            "QUARANTINE_GROUP_NAME": "quarantine",
            "STATE_TABLE_NAME": "state",
            "NOTIFY_TOPIC_ARN": topic,
            "DRY_RUN": "false",
            "MAX_QUARANTINES_PER_HOUR": str(things + 1),
        }
    )


class CallLedger:
    """IoT calls attributed to the event being handled (wraps the handler's ``handle_violation``)."""

    def __init__(self, handler: Any) -> None:
        self.current: list[str] | None = None
        self.per_event: list[tuple[bool, list[str]]] = []  # (duplicate, calls)
        self._handled: set[tuple[str, str]] = set()
        original = handler.handle_violation

        def handle_violation(violation: Any) -> None:
            key = (violation.violation_id, violation.violation_event_type.value)
            self.current = []
            try:
                original(violation)
            finally:
                self.per_event.append((key in self._handled, self.current))
                self._handled.add(key)
                self.current = None

        handler.handle_violation = handle_violation

    def count(self, model: Any, **_: Any) -> None:
        if self.current is not None:
            self.current.append(model.name)

    def figures(self) -> dict[str, Any]:
        quarantines = [calls for duplicate, calls in self.per_event if "AddThingToThingGroup" in calls]
        duplicates = [calls for duplicate, calls in self.per_event if duplicate]
        return {
            "quarantines": len(quarantines),
            "duplicates": len(duplicates),
            "iot_calls_per_quarantine": round(sum(map(len, quarantines)) / max(len(quarantines), 1), 2),
            "iot_calls_per_duplicate": round(sum(map(len, duplicates)) / max(len(duplicates), 1), 2),
            "quarantine_calls": Counter(name for calls in quarantines for name in calls),
        }


def run_storm(things: int, events: int, seed: int) -> dict[str, Any]:
    from moto import mock_aws

    with mock_aws():
        started = time.perf_counter()
        build_account(things)
        setup_s = time.perf_counter() - started
        from iot_defender_runtime.adapters.aws_clients import client
        from iot_defender_runtime.quarantine import handler

        ledger = CallLedger(handler)
        client("iot").meta.events.register("before-call.iot", ledger.count)
        delivered = storm(things, events, seed)
        started = time.perf_counter()
        for offset in range(0, len(delivered), BATCH):
            records = sqs_records(delivered[offset : offset + BATCH], offset)
            response = handler.lambda_handler({"Records": records}, Context())
            assert response == {"batchItemFailures": []}, response
            # With POWERTOOLS_METRICS_DISABLED, Powertools (3.x) does not clear the metrics at the end of an
            # invocation, and prints them anyway once 100 values accumulate: clear them as a flush would.
            handler.metrics.clear_metrics()
        elapsed = time.perf_counter() - started
        quarantined = sum(
            len(page["things"])
            for page in client("iot")
            .get_paginator("list_things_in_thing_group")
            .paginate(thingGroupName="quarantine", PaginationConfig={"PageSize": 250})
        )
    figures = ledger.figures()
    assert quarantined == things == figures["quarantines"], (quarantined, figures["quarantines"])
    return {**figures, "events": len(delivered), "elapsed_s": elapsed, "setup_s": setup_s}


def cold_start_import_ms() -> float:
    """Median over fresh processes of the time to import the handler module."""
    probe = (
        "import time; started = time.perf_counter(); import iot_defender_runtime.quarantine.handler; "
        "print((time.perf_counter() - started) * 1000)"
    )
    environment = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    environment["PYTHONPATH"] = str(ROOT / "lambdas")
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment
            ).stdout
        )
        for _ in range(IMPORT_RUNS)
    ]
    return round(statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--things", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    import_ms = cold_start_import_ms()
    result = run_storm(arguments.things, arguments.events, arguments.seed)
    events_per_s = round(result["events"] / result["elapsed_s"], 1)
    print(
        f"{result['events']} violation events from {arguments.things} things (one certificate each), "
        f"batches of {BATCH}, shuffled; moto in process (account set up in {result['setup_s']:.0f} s)"
    )
    print(f"  handled in {result['elapsed_s']:.1f} s: {events_per_s} events/s")
    print(
        f"  {result['quarantines']} quarantines, IoT calls each: {result['iot_calls_per_quarantine']} "
        f"({', '.join(f'{name} {count}' for name, count in sorted(result['quarantine_calls'].items()))})"
    )
    print(f"  {result['duplicates']} duplicates, IoT calls each: {result['iot_calls_per_duplicate']}")
    print(f"  handler module import in a fresh process: {import_ms} ms (median of {IMPORT_RUNS})")
    figures = {
        "events_per_s": events_per_s,
        "iot_calls_per_quarantine": result["iot_calls_per_quarantine"],
        "iot_calls_per_duplicate": result["iot_calls_per_duplicate"],
        "cold_start_import_ms": import_ms,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
