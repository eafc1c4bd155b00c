"""Quarantine handler under a faulty violation storm on moto: is every thing quarantined exactly once,
notified, and counted once by the breaker?

    .venv/bin/python bench/quarantine_storm.py [--things 1000] [--violations 10000] [--seed 16]
        [--throttle 0.2] [--publish-failures 0.05] [--workers 2] [--max-receives 5]

The storm: ``--violations`` in-alarm violations spread over ``--things`` things (each thing has
violations of different behaviors), each delivered twice: once in a shuffled stream and once in the
same stream with every event moved by up to two batches. ``--workers`` threads (two Lambda instances)
take batches of 10 from the streams at once, so the two deliveries of a violation, and violations of
one thing, are often handled at the same moment: Powertools idempotency, the quarantine record and
the breaker race on DynamoDB conditional writes.

Faults, from botocore ``before-call`` hooks on the function's clients (the call fails as it would once
botocore's retries are exhausted, and never reaches moto): ``--throttle`` of IoT calls raise a
``ThrottlingException`` ClientError, ``--publish-failures`` of SNS publishes an ``InternalError``.
A failed record goes back to the queue; after ``--max-receives`` it waits in a dead-letter queue that
is redriven (as the README tells operators) once the queue is empty, until nothing is left.

Figures: ``quarantined_once`` things in the quarantine group with one quarantine in the action log;
``lost`` things never quarantined; ``doubled`` things quarantined (logged) more than once;
``missing_notifications`` quarantined things with no delivered ``remediate`` notification naming the
group move; ``breaker_slots_per_quarantine`` admissions in the breaker item per quarantined thing.
Aims: lost 0, doubled 0, missing_notifications 0, breaker_slots_per_quarantine 1.0.

Prints readable lines, then one JSON line: {"things": ..., "quarantined_once": ..., "lost": ...,
"doubled": ..., "missing_notifications": ..., "breaker_slots_per_quarantine": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "CRITICAL"),
    }
)
warnings.filterwarnings("ignore", message="No application metrics to publish")

from quarantine_throughput import Context, sqs_records, violation  # noqa: E402  (bench/ is on sys.path)

BATCH = 10
GROUP = "quarantine"


@dataclass
class Faults:
    """Injected failures and what the function published, shared by the worker threads."""

    throttle: float
    publish_failures: float
    seed: int
    counts: Counter[str] = field(default_factory=Counter)
    published: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def _roll(self, chance: float) -> bool:
        with self._lock:
            return self._random.random() < chance

    def iot(self, model: Any, **_: Any) -> None:
        self.counts["iot calls"] += 1
        if self._roll(self.throttle):
            self.counts["iot throttled"] += 1
            raise _client_error("ThrottlingException", model.name)

    def sns(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self._roll(self.publish_failures):
            self.counts["publish failed"] += 1
            raise _client_error("InternalError", model.name)
        self.counts["published"] += 1
        with self._lock:
            self.published.append(json.loads(params["Message"]))


def _client_error(code: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "injected by the bench"}}, operation)


def storm(things: int, violations: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two streams of the same violations: shuffled, and the same order with each moved by up to 2 batches."""
    chooser = random.Random(seed)
    events = [violation(f"t{i % things}", i // things) for i in range(violations)]
    chooser.shuffle(events)
    jittered = sorted(range(len(events)), key=lambda index: index + chooser.uniform(-2 * BATCH, 2 * BATCH))
    return events, [events[index] for index in jittered]


def build_account(things: int) -> None:
    import boto3

    iot, sns, dynamodb = (boto3.client(s) for s in ("iot", "sns", "dynamodb"))
    iot.create_thing_group(thingGroupName=GROUP)
    iot.create_thing_group(thingGroupName="fleet")
    for index in range(things):
        iot.create_thing(thingName=f"t{index}")
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=f"t{index}")
    topic = sns.create_topic(Name="ops")["TopicArn"]
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    os.environ.update(
        {
            "QUARANTINE_GROUP_NAME": GROUP,
            "STATE_TABLE_NAME": "state",
            "NOTIFY_TOPIC_ARN": topic,
            "DRY_RUN": "false",
            "MAX_QUARANTINES_PER_HOUR": str(things + 1),
        }
    )


def serialise_dynamodb_writes() -> None:
    """DynamoDB applies each conditional write to an item atomically; moto's backend, called from threads,
    checks and writes in separate steps. One lock around its writes makes it as atomic as DynamoDB."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


class Queue:
    """SQS as the handler sees it: batches of 10, failed records back to the queue, a DLQ after
    ``max_receives``, redriven when the queue is empty."""

    def __init__(self, streams: list[list[dict[str, Any]]], max_receives: int, max_redrives: int) -> None:
        self._streams = [deque(stream) for stream in streams]
        self._retries: deque[tuple[dict[str, Any], int]] = deque()
        self.dead: list[tuple[dict[str, Any], int]] = []
        self.redrives = 0
        self._max = max_receives
        self._max_redrives = max_redrives
        self._lock = threading.Lock()

    def take(self, worker: int) -> list[tuple[dict[str, Any], int]]:
        with self._lock:
            own = self._streams[worker % len(self._streams)]
            source: Iterator[tuple[dict[str, Any], int]]
            if own:
                return [(own.popleft(), 1) for _ in range(min(BATCH, len(own)))]
            if not self._retries and self.dead and not any(self._streams) and self.redrives < self._max_redrives:
                self._retries.extend((event, 1) for event, _ in self.dead)
                self.dead.clear()
                self.redrives += 1
            source = iter([self._retries.popleft() for _ in range(min(BATCH, len(self._retries)))])
            return list(source)

    def give_back(self, event: dict[str, Any], receives: int) -> None:
        with self._lock:
            if receives >= self._max:
                self.dead.append((event, receives))
            else:
                self._retries.append((event, receives + 1))

    def busy(self) -> bool:
        with self._lock:
            redrivable = self.dead and self.redrives < self._max_redrives
            return bool(any(self._streams) or self._retries or redrivable)


INSTANCE = threading.local()  # what each Lambda instance has of its own: the BatchProcessor holds its batch


def work(worker: int, queue: Queue, handler: Any, stats: Counter[str]) -> None:
    from iot_defender_runtime.remediation.batch_intake import new_processor

    INSTANCE.processor = new_processor()
    while queue.busy():
        batch = queue.take(worker)
        if not batch:
            time.sleep(0.001)
            continue
        records = sqs_records([event for event, _ in batch], worker * 10_000_000 + stats["deliveries"])
        response = handler.lambda_handler({"Records": records}, Context())
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for record, (event, receives) in zip(records, batch, strict=True):
            stats["deliveries"] += 1
            if record["messageId"] in failed:
                stats["failed deliveries"] += 1
                queue.give_back(event, receives)
        handler.metrics.clear_metrics()


def measure(things: int, faults: Faults) -> dict[str, Any]:
    import boto3

    def client(service: str) -> Any:  # not the function's clients: no faults here
        return boto3.client(service)

    quarantined = {
        name
        for page in client("iot").get_paginator("list_things_in_thing_group").paginate(thingGroupName=GROUP)
        for name in page["things"]
    }
    items = [
        item for page in client("dynamodb").get_paginator("scan").paginate(TableName="state") for item in page["Items"]
    ]
    moves = Counter(
        item["thingName"]["S"]
        for item in items
        if item["id"]["S"].startswith("action#")
        for change in item["changes"]["L"]
        if change["S"] == f"added to thing group {GROUP}"
    )
    notified = Counter(
        message["thingName"]
        for message in faults.published
        if message.get("decision", {}).get("outcome") == "remediate"
        and f"added to thing group {GROUP}" in message.get("actionsTaken", [])
    )
    [breaker] = [item for item in items if item["id"]["S"] == "breaker#quarantine"]
    slots = len(breaker["events"]["L"])
    return {
        "things": things,
        "quarantined_once": sum(1 for name in quarantined if moves[name] == 1),
        "lost": things - len(quarantined),
        "doubled": sum(1 for count in moves.values() if count > 1),
        "missing_notifications": sum(1 for name in quarantined if notified[name] == 0),
        "breaker_slots_per_quarantine": round(slots / max(len(quarantined), 1), 3),
        "_notified_twice": sum(1 for count in notified.values() if count > 1),
        "_pending_notices": sum(1 for item in items if item["id"]["S"].startswith("notice#")),
    }


def run(arguments: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The storm on moto; returns the figures and the readable details."""
    from moto import mock_aws

    with mock_aws():
        started = time.perf_counter()
        build_account(arguments.things)
        serialise_dynamodb_writes()
        setup_s = time.perf_counter() - started
        from iot_defender_runtime.adapters.aws_clients import client
        from iot_defender_runtime.quarantine import handler

        handler.runtime.cache_clear()
        faults = Faults(arguments.throttle, arguments.publish_failures, arguments.seed)
        client("iot").meta.events.register("before-call.iot", faults.iot)
        client("sns").meta.events.register("before-parameter-build.sns.Publish", faults.sns)
        handler.runtime()
        handler.batch_processor = lambda: INSTANCE.processor
        streams = list(storm(arguments.things, arguments.violations, arguments.seed))
        queue = Queue(streams, arguments.max_receives, arguments.max_redrives)
        stats: Counter[str] = Counter()
        started = time.perf_counter()
        workers = [threading.Thread(target=work, args=(w, queue, handler, stats)) for w in range(arguments.workers)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.perf_counter() - started
        figures = measure(arguments.things, faults)
    details = {
        "setup_s": setup_s,
        "elapsed_s": elapsed,
        "redrives": queue.redrives,
        "left_in_dlq": len(queue.dead),
        **stats,
        **faults.counts,
    }
    return figures, details


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    options.add_argument("--things", type=int, default=1000)
    options.add_argument("--violations", type=int, default=10_000)
    options.add_argument("--seed", type=int, default=16)
    options.add_argument("--throttle", type=float, default=0.2, help="share of IoT calls throttled after retries")
    options.add_argument("--publish-failures", type=float, default=0.05, help="share of SNS publishes that fail")
    options.add_argument("--workers", type=int, default=2, help="concurrent handler invocations (Lambda instances)")
    options.add_argument("--max-receives", type=int, default=5, help="receives before the dead-letter queue")
    options.add_argument("--max-redrives", type=int, default=10_000, help="dead-letter redrives before giving up")
    return options


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parser().parse_args(argv)
    figures, details = run(arguments)
    print(
        f"{arguments.violations} in-alarm violations over {arguments.things} things, each delivered twice, "
        f"{arguments.workers} concurrent invocations, batches of {BATCH} (moto set up in {details['setup_s']:.0f} s)"
    )
    print(
        f"  faults: {details.get('iot throttled', 0)} of {details.get('iot calls', 0)} IoT calls throttled, "
        f"{details.get('publish failed', 0)} SNS publishes failed"
    )
    print(
        f"  {details.get('deliveries', 0)} deliveries ({details.get('failed deliveries', 0)} failed and redelivered, "
        f"{details['redrives']} dead-letter redrives, {details['left_in_dlq']} left there) "
        f"in {details['elapsed_s']:.1f} s"
    )
    print(
        f"  quarantined once: {figures['quarantined_once']} of {figures['things']}; lost {figures['lost']}; "
        f"doubled {figures['doubled']}; missing notifications {figures['missing_notifications']} "
        f"(notified twice: {figures['_notified_twice']}; pending notices left: {figures['_pending_notices']})"
    )
    print(f"  breaker slots per quarantine: {figures['breaker_slots_per_quarantine']}")
    result = {name: value for name, value in figures.items() if not name.startswith("_")}
    print(json.dumps(result))
    return figures


if __name__ == "__main__":
    main()
