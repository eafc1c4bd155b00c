"""Self-hosted Detect at fleet scale: the sweep and its fleet percentiles over 10,000 and 100,000
simulated things, then what a fleet of 1,000,000 devices sending one message a minute needs and costs.

    .venv/bin/python bench/fleet_scale.py [--sizes 10000 100000] [--things-per-segment 20000]

The sweep is the Lambda's own code (``sweep.coordinate`` and ``sweep.sweep_states``) over the real
state adapter (``adapters.detect_state.DetectStates``: every item encoded and decoded as in the table)
on an in-memory DynamoDB table that places items in parallel scan segments by a hash of their key,
pages scans at 1 MB and counts read and write units as DynamoDB meters them (strongly consistent read:
1 RRU per 4 KB; write: 1 WRU per 1 KB). Each thing has a statistical behavior (p90 of messages sent
per 5 minutes; its closed windows feed the fleet sketches) and a rule behavior whose window one thing
in ten has left open when it went quiet (judged by the sweep); the rest have nothing to judge, as in a
steady fleet. Runs are timed per segment, in process, one core.

The projection for 1,000,000 things: one segment per ``--things-per-segment`` things (the evaluator's
``SWEEP_THINGS_PER_SEGMENT``), each segment's duration from the measured time per thing plus the
scan's page reads (``SCAN_PAGE_SECONDS`` per 1 MB page, an assumption stated below), against the
evaluator's 120-second timeout and the 5-minute schedule. Then the capacity and the monthly cost of
the whole path at the rates listed in ``RATES`` (each with its page). Ends with one JSON line
{"sweep_ms_per_1k_things", "sweep_runs_1m", "cost_per_1000_devices_month_usd"}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from detect_lab.replay.memory import CollectingPublisher, MemoryPositions  # noqa: E402
from iot_defender_runtime.adapters.detect_state import DetectStates, state_key  # noqa: E402
from iot_defender_runtime.detect_evaluator import sweep  # noqa: E402
from iot_defender_runtime.detect_evaluator.config import Config  # noqa: E402
from iot_defender_runtime.detect_evaluator.invocation import Invocation  # noqa: E402
from iot_defender_runtime.detect_evaluator.sweep_segments import segment_of  # noqa: E402
from iot_defender_runtime.evaluation.engine import BehaviorState  # noqa: E402
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind  # noqa: E402
from iot_defender_runtime.model.detect_profiles import DetectProfiles  # noqa: E402

T0 = 1_700_000_100  # a window boundary
NOW = T0 + 960
TIMEOUT_S = 120  # the evaluator's timeout (constructs_lib/detect/self_hosted_detect.py)
SCHEDULE_S = 300  # the sweep's schedule
SCAN_PAGE_SECONDS = 0.1  # assumed latency of one 1 MB Scan page (DynamoDB documents no figure)
PAGE_BYTES = 1024 * 1024  # a Scan page holds at most 1 MB (Scan, "Limit" and 1 MB per call)
LIKE_THE_FLEET = BehaviorDefinition(
    name="LikeTheFleet",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.STATISTICAL,
    comparison_operator="less-than-equals",
    statistic="p90",
    duration_seconds=300,
)
STORM = BehaviorDefinition(
    name="MessageStorm",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.RULE,
    comparison_operator="less-than-equals",
    value={"count": 100},
    duration_seconds=300,
)

# Rates (us-east-1, on-demand, as published on each page; check them before quoting a bill).
RATES: dict[str, tuple[float, str]] = {
    "kinesis_stream_hour": (0.04, "https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand, per stream-hour)"),
    "kinesis_gb_in": (0.08, "https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand data in, 1 KB units)"),
    "kinesis_gb_out": (0.04, "https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand data retrieved)"),
    "lambda_gb_second": (0.0000166667, "https://aws.amazon.com/lambda/pricing/ (x86, first tier)"),
    "lambda_million_requests": (0.20, "https://aws.amazon.com/lambda/pricing/"),
    "dynamodb_million_wru": (0.625, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_million_rru": (0.125, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "iot_million_rules": (0.15, "https://aws.amazon.com/iot-core/pricing/ (rules triggered)"),
    "iot_million_actions": (0.15, "https://aws.amazon.com/iot-core/pricing/ (actions executed)"),
    "sns_million_publishes": (0.50, "https://aws.amazon.com/sns/pricing/"),
    "logs_gb_ingested": (0.50, "https://aws.amazon.com/cloudwatch/pricing/ (vended and custom logs ingestion)"),
}
# Managed Detect (Rules Detect) bills per metric datapoint: the one published price this bench could read is
# the China regions' (https://www.amazonaws.cn/en/iot-device-defender/pricing/: CNY 0.24 per 100,000 datapoints,
# tier 1); https://aws.amazon.com/iot-device-defender/pricing/ has the USD rate of other regions.
MANAGED_CNY_PER_100K_DATAPOINTS = 0.24
CNY_PER_USD = 7.1  # an assumption for the comparison only


class MemoryTable:
    """The DynamoDB calls ``DetectStates`` makes, on a dict, metered as DynamoDB meters them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.units: Counter[str] = Counter()

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:  # noqa: N803 (boto3's names)
        self.units["wru"] += math.ceil(_size(Item) / 1024)
        self.items[Item["id"]["S"]] = Item

    def delete_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> None:  # noqa: N803
        self.units["wru"] += 1
        self.items.pop(Key["id"]["S"], None)

    def update_item(self, TableName: str, Key: dict[str, Any], ExpressionAttributeValues: dict, **_: Any) -> dict:  # noqa: N803
        self.units["wru"] += 1
        item = self.items.setdefault(Key["id"]["S"], {"id": Key["id"], "finished": {"SS": []}})
        item["finished"]["SS"] = sorted({*item["finished"]["SS"], *ExpressionAttributeValues[":segment"]["SS"]})
        return {"Attributes": {"finished": item["finished"]}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        [(table, request)] = RequestItems.items()
        found = [self.items[k["id"]["S"]] for k in request["Keys"] if k["id"]["S"] in self.items]
        self.units["rru"] += sum(math.ceil(_size(item) / 4096) for item in found)
        return {"Responses": {table: found}}

    def get_paginator(self, operation: str) -> MemoryTable:
        assert operation == "scan"
        return self

    def paginate(self, ExpressionAttributeValues: dict, Segment: int = 0, TotalSegments: int = 1, **_: Any):  # noqa: N803
        prefix = ExpressionAttributeValues[":prefix"]["S"]
        mine = [k for k in self.items if TotalSegments == 1 or zlib.crc32(k.encode()) % TotalSegments == Segment]
        page, size = [], 0
        for key in mine:
            item = self.items.get(key)
            if item is None:
                continue
            item_size = _size(item)
            self.units["scanned_bytes"] += item_size
            if key.startswith(prefix):
                page.append(item)
            size += item_size
            if size >= PAGE_BYTES:
                self.units["pages"] += 1
                yield {"Items": page}
                page, size = [], 0
        self.units["pages"] += 1
        yield {"Items": page}

    def scan_rru(self) -> int:
        """A strongly consistent Scan is metered on the size of the items read, 4 KB per unit."""
        return math.ceil(self.units["scanned_bytes"] / 4096)


def _size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names and values (close enough for strings, numbers, booleans)."""
    return sum(len(name) + len(str(next(iter(value.values())))) for name, value in item.items())


def populate(things: int) -> tuple[MemoryTable, DetectStates]:
    table = MemoryTable()
    states = DetectStates("bench", table)
    for index in range(things):
        like = BehaviorState(
            closed=((T0, float(index % 23)), (T0 + 300, float(index % 29))), last_datapoint_at=T0 + 590
        )
        open_windows = ((T0 + 600, 5.0),) if index % 10 == 0 else ((NOW - 100, 3.0),)
        storm = BehaviorState(open_windows=open_windows, last_datapoint_at=T0 + 610, judged_until=T0 + 600)
        states.put(state_key("fleet", f"thing-{index:07d}"), {"LikeTheFleet": like, "MessageStorm": storm}, 0, {})
    table.units.clear()
    return table, states


def run_sweep(things: int, per_segment: int) -> dict[str, Any]:
    """One sweep over ``things`` in ``ceil(things / per_segment)`` segments, each timed."""
    table, states = populate(things)
    profiles = DetectProfiles.from_json(
        json.dumps({"profiles": [{"name": "fleet", "behaviors": [LIKE_THE_FLEET.to_api(), STORM.to_api()]}]})
    )
    config = Config("bench", "arn:aws:sns:us-east-1:123456789012:alerts", profiles, 2 * 86_400, 60)

    def run() -> Invocation:
        return Invocation(
            config=config, states=states, notifier=CollectingPublisher(), now=NOW, positions=MemoryPositions()
        )

    total = max(1, math.ceil(things / per_segment))
    events: list[dict[str, Any]] = []
    segment_ms, swept = [], 0
    if total == 1:
        started = time.perf_counter()
        swept = sweep.sweep_states(run())["swept"]
        segment_ms.append((time.perf_counter() - started) * 1000)
    else:
        sweep.coordinate(run(), total, events.append)
        for event in events:
            started = time.perf_counter()
            swept += sweep.sweep_states(run(), segment_of(event))["swept"]
            segment_ms.append((time.perf_counter() - started) * 1000)
    thresholds = states.fleet_thresholds(["detect-fleet#fleet#LikeTheFleet"])
    assert swept == things, (swept, things)
    assert thresholds, "the fleet percentiles were not merged"
    return {
        "things": things,
        "segments": total,
        "segment_ms": segment_ms,
        "ms_per_1k": sum(segment_ms) / things * 1000,
        "rru": table.scan_rru() + table.units["rru"],
        "wru": table.units["wru"],
        "pages": table.units["pages"],
        "item_bytes": table.units["scanned_bytes"] / max(1, things),
    }


def project(ms_per_1k: float, item_bytes: float, per_segment: int, devices: int = 1_000_000) -> dict[str, float]:
    segments = math.ceil(devices / per_segment)
    pages = math.ceil(per_segment * item_bytes / PAGE_BYTES)
    segment_s = ms_per_1k * per_segment / 1000 / 1000 + pages * SCAN_PAGE_SECONDS
    return {"segments": segments, "runs": segments + 1, "segment_s": segment_s, "pages_per_segment": pages}


def capacity(devices: int, item_bytes: float, sweep_rru_per_thing: float) -> dict[str, float]:
    """What ``devices`` sending one message a minute need: stream, functions, table (per second)."""
    records_s = devices / 60
    record_bytes = 200  # a telemetry datapoint as the topic rule writes it (about 150-250 bytes)
    shards = max(math.ceil(records_s / 1000), math.ceil(records_s * record_bytes / 1_000_000))
    state_units = math.ceil(item_bytes / 1024)
    return {
        "records_s": records_s,
        "shards": shards,
        "concurrency_batches": shards,  # one per shard per event source mapping (parallelization factor 1)
        "reads_s": records_s * math.ceil(item_bytes / 4096),  # one strongly consistent state read per message
        "writes_s": records_s * state_units,  # the open window's total changes with each message
        "sweep_reads_s": devices * sweep_rru_per_thing / SCHEDULE_S,
    }


def monthly_cost(devices: int, item_bytes: float, sweep_rru_per_thing: float, segment_s: float, segments: int) -> float:
    """USD a month for the whole self-hosted path at ``RATES``."""
    month_s = 30 * 24 * 3600
    need = capacity(devices, item_bytes, sweep_rru_per_thing)
    messages = need["records_s"] * month_s
    rate = {name: value for name, (value, _) in RATES.items()}
    kinesis = rate["kinesis_stream_hour"] * 720 + messages * 1024 / 1e9 * (
        rate["kinesis_gb_in"] + rate["kinesis_gb_out"]
    )
    batches = messages / 500  # batch size 500 records
    batch_s = 0.5  # seconds per 500-record batch (bench/evaluator_throughput.py measures its order)
    sweeps = month_s / SCHEDULE_S
    gb_s = 0.5 * (batches * batch_s + sweeps * segments * segment_s)  # 512 MB
    lambda_cost = (
        gb_s * rate["lambda_gb_second"] + (batches + sweeps * (segments + 1)) / 1e6 * rate["lambda_million_requests"]
    )
    dynamodb = (need["reads_s"] + need["sweep_reads_s"]) * month_s / 1e6 * rate["dynamodb_million_rru"]
    dynamodb += need["writes_s"] * month_s / 1e6 * rate["dynamodb_million_wru"]
    iot = messages / 1e6 * (rate["iot_million_rules"] + rate["iot_million_actions"])
    sns = devices * 0.01 * 4 / 1e6 * rate["sns_million_publishes"]  # 1 % of devices alarm and clear twice a month
    logs = 0.0  # IoT logs only for authorization-failure / messages-received behaviors (not in this profile)
    return kinesis + lambda_cost + dynamodb + iot + sns + logs


def managed_cost(devices: int) -> float:
    """Rules Detect: one cloud-side datapoint per behavior per device every 5 minutes, two behaviors."""
    datapoints = devices * 2 * (30 * 24 * 12)
    return datapoints / 100_000 * MANAGED_CNY_PER_100K_DATAPOINTS / CNY_PER_USD


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--things-per-segment", type=int, default=20_000)
    args = parser.parse_args()
    results = [run_sweep(size, args.things_per_segment) for size in args.sizes]
    for result in results:
        print(
            f"sweep of {result['things']:,} things in {result['segments']} segment(s): "
            f"{sum(result['segment_ms']):.0f} ms in all, longest segment {max(result['segment_ms']):.0f} ms, "
            f"{result['ms_per_1k']:.1f} ms per 1,000 things; {result['rru']:,} RRU, {result['wru']:,} WRU, "
            f"{result['pages']} scan pages, {result['item_bytes']:.0f} bytes per state item"
        )
    largest = results[-1]
    rru_per_thing = largest["rru"] / largest["things"]
    plan = project(largest["ms_per_1k"], largest["item_bytes"], args.things_per_segment)
    print(
        f"1,000,000 things: {plan['segments']} segments + 1 coordinator = {plan['runs']} runs per sweep, each segment "
        f"about {plan['segment_s']:.1f} s ({plan['pages_per_segment']} scan pages at {SCAN_PAGE_SECONDS} s assumed) "
        f"against a {TIMEOUT_S} s timeout; all segments run at once, so the sweep ends in about "
        f"{plan['segment_s']:.0f} s of its {SCHEDULE_S} s schedule"
    )
    need = capacity(1_000_000, largest["item_bytes"], rru_per_thing)
    print(
        f"1,000,000 devices x 1 message/min: {need['records_s']:,.0f} records/s -> {need['shards']} on-demand shards "
        f"(1,000 records/s or 1 MB/s of writes per shard); {need['concurrency_batches']} concurrent batch runs "
        f"(one per shard, parallelization factor 1; up to 10 per shard) + {plan['segments']} sweep segments; "
        f"state table {need['reads_s']:,.0f} RRU/s + {need['sweep_reads_s']:,.0f} RRU/s (sweep), "
        f"{need['writes_s']:,.0f} WRU/s (at least {math.ceil(need['writes_s'] / 1000)} partitions at 1,000 WCU each)"
    )
    print("rates used:")
    for name, (value, source) in RATES.items():
        print(f"  {name} = {value} USD  ({source})")
    cost_per_1000 = 0.0
    for devices in (1_000, 100_000, 1_000_000):
        segments = max(1, math.ceil(devices / args.things_per_segment))
        cost = monthly_cost(devices, largest["item_bytes"], rru_per_thing, plan["segment_s"], segments)
        managed = managed_cost(devices)
        print(
            f"{devices:>9,} devices: self-hosted {cost:,.2f} USD/month ({cost / devices * 1000:.2f} per 1,000); "
            f"managed Rules Detect, 2 cloud-side behaviors: {managed:,.2f} USD/month ({managed / devices * 1000:.2f} "
            "per 1,000, China-region rate converted)"
        )
        if devices == 1_000_000:
            cost_per_1000 = cost / devices * 1000
    print(
        json.dumps(
            {
                "sweep_ms_per_1k_things": round(largest["ms_per_1k"], 1),
                "sweep_runs_1m": plan["runs"],
                "cost_per_1000_devices_month_usd": round(cost_per_1000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
