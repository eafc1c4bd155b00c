"""Synth time of security profiles built with this library versus the same resources as plain L1s.

    .venv/bin/python bench/synth_scale.py            (Node.js 22 first on PATH, as the Makefile does)

For 1, 10 and 50 profiles of 20 behaviors, each over its own fleet group (50 groups at most),
builds the stack with ``FleetGroup`` + ``SecurityProfile`` + ``Behavior`` and again with
``CfnThingGroup`` + ``CfnSecurityProfile``, synthesizes both in this process (best of 5 interleaved runs
each, after one warm-up), checks that the two templates hold the same behaviors, and ends with one JSON
line: {"ratio_1": ..., "ratio_10": ..., "ratio_50": ...} (ours divided by the plain L1 time).
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import aws_iot as iot

from constructs_lib import Behavior, ComparisonOperator, FleetGroup, SecurityProfile

BEHAVIORS_PER_PROFILE = 20
METRICS = (
    "aws:num-messages-sent",
    "aws:num-messages-received",
    "aws:num-authorization-failures",
    "aws:num-disconnects",
)
RUNS = 5


def behavior_facts(profile: int) -> list[tuple[str, str, int]]:
    return [(f"B{profile}x{i}", METRICS[i % len(METRICS)], 100 + i) for i in range(BEHAVIORS_PER_PROFILE)]


def ours(stack: cdk.Stack, profiles: int) -> None:
    five_minutes = cdk.Duration.minutes(5)  # as users write it: one Duration, shared
    for p in range(profiles):
        group = FleetGroup(stack, f"Group{p}", thing_group_name=f"group-{p}")
        behaviors = [
            Behavior.rule(
                name,
                metric=metric,
                operator=ComparisonOperator.LESS_THAN_EQUALS,
                value=value,
                duration=five_minutes,
            )
            for name, metric, value in behavior_facts(p)
        ]
        SecurityProfile(
            stack, f"Profile{p}", behaviors=behaviors, targets=[group], security_profile_name=f"profile-{p}"
        )


def plain(stack: cdk.Stack, profiles: int) -> None:
    for p in range(profiles):
        group = iot.CfnThingGroup(stack, f"Group{p}", thing_group_name=f"group-{p}")
        iot.CfnSecurityProfile(
            stack,
            f"Profile{p}",
            security_profile_name=f"profile-{p}",
            target_arns=[group.attr_arn],
            behaviors=[
                iot.CfnSecurityProfile.BehaviorProperty(
                    name=name,
                    metric=metric,
                    suppress_alerts=False,
                    criteria=iot.CfnSecurityProfile.BehaviorCriteriaProperty(
                        comparison_operator="less-than-equals",
                        value=iot.CfnSecurityProfile.MetricValueProperty(count=str(value)),
                        duration_seconds=300,
                        consecutive_datapoints_to_alarm=1,
                        consecutive_datapoints_to_clear=1,
                    ),
                )
                for name, metric, value in behavior_facts(p)
            ],
        )


def synth_once(build, profiles: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as outdir:
        gc.collect()
        started = time.perf_counter()
        app = cdk.App(outdir=outdir)
        stack = cdk.Stack(app, "Scale")
        build(stack, profiles)
        assembly = app.synth()
        elapsed = time.perf_counter() - started
        return elapsed, assembly.get_stack_by_name("Scale").template


def compare(profiles: int) -> tuple[float, float, dict, dict]:
    """Best of RUNS for each, the two builds interleaved: the jsii runtime's heap grows during a run,
    which would otherwise favor whichever build went first."""
    ours_best = plain_best = float("inf")
    ours_template = plain_template = {}
    for _ in range(RUNS):
        seconds, ours_template = synth_once(ours, profiles)
        ours_best = min(ours_best, seconds)
        seconds, plain_template = synth_once(plain, profiles)
        plain_best = min(plain_best, seconds)
    return ours_best, plain_best, ours_template, plain_template


def behaviors_of(template: dict) -> list:
    return sorted(
        json.dumps(b, sort_keys=True)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IoT::SecurityProfile"
        for b in r["Properties"]["Behaviors"]
    )


def main() -> None:
    compare(1)  # warm the jsii runtime
    figures = {}
    for profiles in (1, 10, 50):
        ours_s, plain_s, ours_template, plain_template = compare(profiles)
        assert behaviors_of(ours_template) == behaviors_of(plain_template), "templates differ"
        figures[f"ratio_{profiles}"] = round(ours_s / plain_s, 3)
        print(
            f"{profiles:3d} profiles x {BEHAVIORS_PER_PROFILE} behaviors: constructs {ours_s:6.2f} s, "
            f"plain L1 {plain_s:6.2f} s, ratio {ours_s / plain_s:.2f}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
