#!/usr/bin/env python3
"""Reference app: one Device Defender stack per stage, configured from cdk.json context.

    cdk synth                  # every stage in cdk.json
    cdk synth -c stage=prod    # one stage
    cdk synth -c stage=dev -c detect=managed       # an account that had managed Detect
    cdk synth -c stage=dev -c detect=self-hosted   # any account: this library's evaluator
    cdk synth -c compliance=nist,hipaa             # also the NIST 800-53 R5 and HIPAA Security packs

Stacks are environment-agnostic unless a stage gives ``account`` and ``region``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from constructs_lib import (
    AuditSchedule,
    Behavior,
    CompliancePack,
    DayOfWeek,
    DetectMode,
    DeviceDefender,
    StarterBehaviors,
    apply_nag_packs,
    compliance_pack,
)
from iot_defender_runtime.model.self_hosted_metrics import AUTHORIZATION_FAILURES_METRIC


def fleet_behaviors() -> list[Behavior]:
    """The reference fleet's normal behavior; used when Detect is managed. Criteria describe a
    normal device: Device Defender alarms when a device stops meeting them."""
    return [
        StarterBehaviors.message_storm(max_messages=1000),
        StarterBehaviors.credential_misuse(max_failures=10),
        StarterBehaviors.connection_churn(max_attempts=20),
    ]


def behaviors_for(detect_mode: DetectMode, *, iot_logs: bool) -> list[Behavior]:
    """The same behaviors in both modes, except that self-hosted Detect counts authorization failures
    from AWS IoT logs, which must be on (``iot_logs``) for its subscription filter to deploy."""
    if detect_mode is DetectMode.MANAGED:
        return fleet_behaviors()
    if detect_mode is DetectMode.SELF_HOSTED:
        return [b for b in fleet_behaviors() if iot_logs or b.definition.metric != AUTHORIZATION_FAILURES_METRIC]
    return []


def _audit_schedule(config: Mapping[str, Any]) -> AuditSchedule:
    frequency = config.get("frequency", "WEEKLY")
    if frequency == "DAILY":
        return AuditSchedule.daily()
    if frequency == "WEEKLY":
        return AuditSchedule.weekly(DayOfWeek(config.get("dayOfWeek", "MON")))
    if frequency == "BIWEEKLY":
        return AuditSchedule.biweekly(DayOfWeek(config.get("dayOfWeek", "MON")))
    if frequency == "MONTHLY":
        return AuditSchedule.monthly(config.get("dayOfMonth", "LAST"))
    raise ValueError(f"auditSchedule.frequency '{frequency}' must be DAILY, WEEKLY, BIWEEKLY or MONTHLY")


class DeviceDefenderStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: str,
        config: Mapping[str, Any],
        detect: str,
        iot_logs: bool = False,
        backup_plan: bool = False,
        **kwargs: Any,
    ):
        super().__init__(scope, id, description=f"AWS IoT Device Defender setup ({stage})", **kwargs)
        detect_mode = DetectMode(detect)
        self.defender = DeviceDefender(
            self,
            "DeviceDefender",
            fleet_groups=list(config["fleetGroups"]),
            behaviors=behaviors_for(detect_mode, iot_logs=iot_logs),
            detect_mode=detect_mode,
            audit_schedule=_audit_schedule(config.get("auditSchedule", {})),
            notification_email=config["notificationEmail"],
            dry_run=bool(config.get("dryRun", False)),
            max_quarantines_per_hour=int(config.get("maxQuarantinesPerHour", 50)),
            outputs=True,  # what `python -m iot_defender_runtime.quarantine.release` and the other operator CLIs need
            backup_plan=backup_plan,
        )
        cdk.Tags.of(self).add("stage", stage)
        cdk.Tags.of(self).add("app", "iot-device-defender")


def build(app: cdk.App) -> list[DeviceDefenderStack]:
    stages: Mapping[str, Mapping[str, Any]] = app.node.try_get_context("stages") or {}
    chosen = app.node.try_get_context("stage")
    if chosen is not None and chosen not in stages:
        raise ValueError(f"context stage '{chosen}' is not defined in cdk.json; defined: {', '.join(stages)}")
    compliance = _compliance(app)
    stacks = []
    for stage, config in stages.items():
        if chosen is not None and stage != chosen:
            continue
        detect = app.node.try_get_context("detect") or config.get("detect", DetectMode.NONE.value)
        iot_logs = str(app.node.try_get_context("iotLogs") or config.get("iotLogs", False)).lower() == "true"
        env = None
        if config.get("account") or config.get("region"):
            env = cdk.Environment(account=config.get("account"), region=config.get("region"))
        stacks.append(
            DeviceDefenderStack(
                app,
                f"DeviceDefender-{stage}",
                stage=stage,
                config=config,
                detect=detect,
                iot_logs=iot_logs,
                backup_plan=bool(compliance),  # the compliance packs want the state table in a backup plan
                env=env,
            )
        )
    apply_nag_packs(app, compliance=compliance)
    return stacks


def _compliance(app: cdk.App) -> list[CompliancePack]:
    """``-c compliance=nist,hipaa``: the optional cdk-nag packs (short names or CompliancePack values)."""
    given = str(app.node.try_get_context("compliance") or "")
    return [compliance_pack(name.strip()) for name in given.split(",") if name.strip()]


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
