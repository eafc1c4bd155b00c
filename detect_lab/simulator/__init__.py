"""Fleet simulator of the Detect lab: N things in device classes, with daily and weekly patterns,
jitter, reconnects and labelled attacks, emitting exactly the Kinesis records the self-hosted Detect
evaluator reads (agent reports in both name forms, telemetry messages, lifecycle events and their
datapoints, AWS IoT log entries through CloudWatch Logs). Deterministic for a seed.

    fleet = simulate(FleetSpec(things=500, days=3.0, seed=7, attacks=AttackPlan(per_kind=5)))
    for batch in fleet.batches():
        ...  # StreamBatch(arrival, shard, records): Lambda Kinesis event records
"""

from detect_lab.simulator.attacks import ATTACK_METRICS, AttackKind, AttackLabel, AttackPlan
from detect_lab.simulator.device_classes import DEVICE_CLASSES, DeviceClass
from detect_lab.simulator.fleet import SimulatedFleet, StreamBatch, simulate
from detect_lab.simulator.jsonl import WrittenFleet, read_labels, read_records, write_records
from detect_lab.simulator.spec import DEFAULT_START, FleetSpec, SimulatedThing, SpecError

__all__ = [
    "ATTACK_METRICS",
    "DEFAULT_START",
    "DEVICE_CLASSES",
    "AttackKind",
    "AttackLabel",
    "AttackPlan",
    "DeviceClass",
    "FleetSpec",
    "SimulatedFleet",
    "SimulatedThing",
    "SpecError",
    "StreamBatch",
    "WrittenFleet",
    "read_labels",
    "read_records",
    "simulate",
    "write_records",
]
