"""Quarantine handler throughput on moto, and the AWS calls each quarantine costs.

    .venv/bin/python bench/quarantine_throughput.py [--things 200]

Prints human-readable lines, then one JSON line: {"events_per_s": ..., "iot_calls_per_quarantine": ...,
"dynamodb_calls_per_quarantine": ..., "sns_calls_per_quarantine": ..., "duplicate_events_per_s": ...}
moto runs in process, so events_per_s measures this code plus moto, not AWS latency; the call counts
are exact and are what matters for the IoT API rate limits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)

import boto3
from moto import mock_aws

BATCH = 10


class Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def violation(thing: str, index: int) -> dict:
    return {
        "violationId": f"v{index}",
        "thingName": thing,
        "securityProfileName": "bench",
        "behavior": {"name": "MessageStorm", "metric": "aws:num-messages-sent", "criteria": {"value": {"count": 1}}},
        "violationEventType": "in-alarm",
        "violationEventTime": 1_700_000_000_000 + index,
        "metricValue": {"count": 5000},
    }


def records(events: list[dict]) -> list[dict]:
    return [
        {
            "messageId": f"m{i}",
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


def deliver(handler: Any, events: list[dict], *, check: bool) -> float:
    """Every event in batches of ``BATCH``; returns the seconds it took."""
    started = time.perf_counter()
    for offset in range(0, len(events), BATCH):
        response = handler.lambda_handler({"Records": records(events[offset : offset + BATCH])}, Context())
        if check:
            assert response == {"batchItemFailures": []}, response
    return time.perf_counter() - started


def measure(things: int) -> dict[str, float]:
    with mock_aws():
        build_account(things)
        from iot_defender_runtime.adapters.aws_clients import client
        from iot_defender_runtime.quarantine import handler

        calls: Counter[str] = Counter()
        for service in ("iot", "dynamodb", "sns"):
            client(service).meta.events.register(
                "before-call", lambda model, _service=service, **_: calls.update([_service])
            )
        events = [violation(f"t{i}", i) for i in range(things)]
        elapsed = deliver(handler, events, check=True)
        iot = boto3.client("iot")
        quarantined = len(iot.list_things_in_thing_group(thingGroupName="quarantine", maxResults=250)["things"])
        assert quarantined == things, quarantined
        first_pass = dict(calls)
        duplicate_elapsed = deliver(handler, events, check=False)
    return {
        "events_per_s": round(things / elapsed, 1),
        "iot_calls_per_quarantine": round(first_pass.get("iot", 0) / things, 2),
        "dynamodb_calls_per_quarantine": round(first_pass.get("dynamodb", 0) / things, 2),
        "sns_calls_per_quarantine": round(first_pass.get("sns", 0) / things, 2),
        "duplicate_events_per_s": round(things / duplicate_elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--things", type=int, default=200)
    things = parser.parse_args().things
    figures = measure(things)
    print(f"{things} in-alarm violations, batches of {BATCH}, one certificate per thing, moto in process")
    print(f"  first delivery: {figures['events_per_s']} events/s")
    print(f"  IoT calls per quarantine: {figures['iot_calls_per_quarantine']}")
    print(f"  DynamoDB calls per quarantine: {figures['dynamodb_calls_per_quarantine']}")
    print(f"  SNS calls per quarantine: {figures['sns_calls_per_quarantine']}")
    print(f"  duplicate delivery (idempotent replay): {figures['duplicate_events_per_s']} events/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
