#!/usr/bin/env python3
"""Example: plant A's sensors watched by self-hosted Detect, for an account that cannot use managed
Detect (closed to new customers since 2026-08-31). The behaviors are those of the managed_detect
example that self-hosted Detect can run; violations go to the same kind of alert topic and drive
a quarantine responder, exactly as managed Detect's would.

AWS IoT logging (v2, ERROR or more verbose, into AWSIotLogsV2) must be on before deployment, for
the credential-misuse behavior.

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
    FleetGroup,
    QuarantineGroup,
    QuarantineResponder,
    SelfHostedDetect,
    StarterBehaviors,
    apply_nag_packs,
)


class SelfHostedDetectStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, env: cdk.Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=env)
        plant = FleetGroup(self, "Plant", thing_group_name="plant-a", attributes={"site": "lyon"})
        sensors = FleetGroup(self, "Sensors", thing_group_name="plant-a-sensors", parent=plant)
        battery = CustomMetric(self, "Battery", metric_name="battery_percent", metric_type=CustomMetricType.NUMBER)
        alerts = AlertTopic(self, "Alerts", display_name="Plant A Detect alerts")
        self.detect = SelfHostedDetect(
            self,
            "Detect",
            profile_name="plant-a-sensors",
            behaviors=[
                StarterBehaviors.message_storm(max_messages=600),
                StarterBehaviors.credential_misuse(),
                # Managed Detect scopes this with a dimension; here the telemetry topic filter does it.
                Behavior.rule(
                    "TelemetrySize",
                    metric="aws:message-byte-size",
                    operator=ComparisonOperator.LESS_THAN_EQUALS,
                    value=4096,
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
                # On messages sent: messages received would need AWS IoT logging at INFO level (an entry per message).
                Behavior.statistical(
                    "MessagesLikeThePlant",
                    metric="aws:num-messages-sent",
                    operator=ComparisonOperator.LESS_THAN_EQUALS,
                    percentile="p99",
                    duration=cdk.Duration.minutes(15),
                ),
            ],
            targets=[sensors],
            telemetry_topic_filters=["dt/plant-a/+/telemetry"],
            alert_topic=alerts,
            max_batching_window=cdk.Duration.minutes(1),
        )
        QuarantineResponder(
            self,
            "Responder",
            quarantine_group=QuarantineGroup(self, "Quarantine"),
            alert_topic=alerts,
            dry_run=True,  # watch what it would do for a while before letting it act
        )


def build(app: cdk.App) -> SelfHostedDetectStack:
    stack = SelfHostedDetectStack(app, "PlantASelfHostedDetect")
    apply_nag_packs(app)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
