#!/usr/bin/env python3
"""Example: an outside CDK app adds quarantine and audits to a fleet whose thing group already exists.

No managed Detect here (the account joined after 2026-08-31): alerts come from whatever publishes
Device Defender violation JSON to the alert topic, and audits run monthly on the last day.

How to run it: README.md in this folder ("Run it").
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from constructs_lib import (
    LAST_DAY_OF_MONTH,
    AccountAudit,
    AlertTopic,
    AuditCheck,
    AuditFrequency,
    FleetGroup,
    QuarantineGroup,
    QuarantineResponder,
    ScheduledAudit,
    apply_nag_packs,
)


class ExistingFleetStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, env: cdk.Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=env)
        FleetGroup.from_thing_group_name(self, "Meters", "smart-meters")
        alerts = AlertTopic(self, "Alerts", display_name="Smart meter security alerts")
        quarantine = QuarantineGroup(self, "Quarantine", thing_group_name="smart-meters-quarantine")
        QuarantineResponder(
            self,
            "Responder",
            quarantine_group=quarantine,
            alert_topic=alerts,
            dry_run=True,
            reserved_concurrency=1,
        )
        audit = AccountAudit(
            self,
            "Audit",
            checks=[
                AuditCheck.DEVICE_CERTIFICATE_SHARED,
                AuditCheck.REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE,
                AuditCheck.DEVICE_CERTIFICATE_EXPIRING,
                AuditCheck.IOT_POLICY_OVERLY_PERMISSIVE,
                AuditCheck.LOGGING_DISABLED,
            ],
            alert_topic=alerts,
        )
        ScheduledAudit(
            self,
            "MonthlyAudit",
            account_audit=audit,
            frequency=AuditFrequency.MONTHLY,
            day_of_month=LAST_DAY_OF_MONTH,
        )


def build(app: cdk.App) -> ExistingFleetStack:
    stack = ExistingFleetStack(app, "SmartMeterDefender")
    apply_nag_packs(app)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
