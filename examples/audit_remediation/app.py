#!/usr/bin/env python3
"""Example: audit as code. Account audit with notifications, a weekly scheduled audit, every kind
of mitigation action, and the audit remediator acting on findings. Deploys in any account (audit
is unaffected by the Detect availability change).

How to run it: README.md in this folder ("Run it").
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from constructs_lib import (
    CERTIFICATE_CHECKS,
    LOGGING_CHECKS,
    POLICY_CHECKS,
    AccountAudit,
    AlertTopic,
    AuditFrequency,
    AuditRemediator,
    DayOfWeek,
    LogLevel,
    MitigationAction,
    QuarantineGroup,
    ScheduledAudit,
    apply_nag_packs,
    policy_of,
)


class AuditStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, env: cdk.Environment | None = None) -> None:
        super().__init__(scope, construct_id, env=env)
        audit_topic = AlertTopic(self, "AuditTopic", display_name="Device Defender audit notifications")
        operators = AlertTopic(self, "Operators", display_name="Device Defender audit actions")
        quarantine = QuarantineGroup(self, "Quarantine", thing_group_name="audit-quarantine")
        audit = AccountAudit(
            self,
            "AccountAudit",
            checks=[*CERTIFICATE_CHECKS, *POLICY_CHECKS, *LOGGING_CHECKS],
            alert_topic=audit_topic,
            device_certificate_age_days=730,
        )
        ScheduledAudit(
            self,
            "WeeklyAudit",
            account_audit=audit,
            frequency=AuditFrequency.WEEKLY,
            day_of_week=DayOfWeek.SUN,
            scheduled_audit_name="weekly-certificates-and-policies",
        )
        MitigationAction.add_things_to_thing_group(self, "QuarantineThings", groups=[quarantine])
        MitigationAction.deactivate_device_certificate(self, "DeactivateDeviceCertificate")
        MitigationAction.deactivate_ca_certificate(self, "DeactivateCaCertificate")
        MitigationAction.replace_default_policy_version(self, "BlankPolicy")
        MitigationAction.enable_iot_logging(self, "EnableLogging", log_level=LogLevel.WARN)
        MitigationAction.publish_finding_to_sns(self, "PublishFinding", topic=operators)
        AuditRemediator(
            self,
            "Remediator",
            alert_topic=audit_topic,
            quarantine_group=quarantine,
            notification_topic=operators,
            remediation_policy=policy_of(
                {
                    "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK": ["deactivate-certificate", "notify"],
                    "DEVICE_CERTIFICATE_SHARED_CHECK": ["quarantine-things", "notify"],
                    "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK": [
                        "deactivate-certificate",
                        "notify",
                    ],
                },
                exempt_groups=["lab-devices"],
            ),
            max_actions_per_hour=25,
        )


def build(app: cdk.App) -> AuditStack:
    stack = AuditStack(app, "FleetAudit")
    apply_nag_packs(app)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
