#!/usr/bin/env python3
"""Example: a managed Detect profile with one behavior of each kind, a custom metric and a dimension.

Only for accounts that had Device Defender Detect before 2026-08-31 (it is closed to new customers).

How to run it: README.md in this folder ("Run it").
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from constructs_lib import (
    AlertTopic,
    Behavior,
    ComparisonOperator,
    CustomMetric,
    CustomMetricType,
    Dimension,
    FleetGroup,
    SecurityProfile,
    SecurityProfileTarget,
    StarterBehaviors,
    apply_nag_packs,
)


class ManagedDetectStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, env: cdk.Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=env)
        plant = FleetGroup(self, "Plant", thing_group_name="plant-a", attributes={"site": "lyon"})
        sensors = FleetGroup(self, "Sensors", thing_group_name="plant-a-sensors", parent=plant)
        battery = CustomMetric(self, "Battery", metric_name="battery_percent", metric_type=CustomMetricType.NUMBER)
        telemetry = Dimension(
            self, "Telemetry", dimension_name="telemetry_topics", topic_filters=["dt/plant-a/+/telemetry"]
        )
        SecurityProfile(
            self,
            "SensorsProfile",
            security_profile_name="plant-a-sensors",
            description="Expected behavior of plant A's sensors",
            behaviors=[
                StarterBehaviors.message_storm(max_messages=600),
                StarterBehaviors.credential_misuse(),
                Behavior.rule(
                    "TelemetrySize",
                    metric="aws:message-byte-size",
                    operator=ComparisonOperator.LESS_THAN_EQUALS,
                    value=4096,
                    dimension=telemetry,
                ),
                Behavior.rule(
                    "KnownNetworks",
                    metric="aws:source-ip-address",
                    operator=ComparisonOperator.IN_CIDR_SET,
                    value=["203.0.113.0/24", "198.51.100.0/24"],
                ),
                Behavior.rule(
                    "BatteryAboveFloor", metric=battery, operator=ComparisonOperator.GREATER_THAN_EQUALS, value=15
                ),
                Behavior.statistical(
                    "MessagesLikeThePlant",
                    metric="aws:num-messages-received",
                    operator=ComparisonOperator.LESS_THAN_EQUALS,
                    percentile="p99",
                    duration=cdk.Duration.minutes(15),
                ),
                Behavior.ml("DisconnectPattern", metric="aws:num-disconnects", confidence="HIGH"),
            ],
            targets=[sensors, SecurityProfileTarget.all_unregistered_things()],
            alert_topic=AlertTopic(self, "Alerts", display_name="Plant A Detect alerts"),
            additional_metrics_to_retain=["aws:num-connection-attempts"],
        )


def build(app: cdk.App) -> ManagedDetectStack:
    stack = ManagedDetectStack(app, "PlantADetect")
    apply_nag_packs(app)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
