"""CDK constructs for AWS IoT Device Defender.

The names below load on first use (PEP 562), so that ``python -m constructs_lib.synth_report``,
which only reads an assembly's JSON, runs without importing the CDK. Type checkers read the imports
under ``TYPE_CHECKING``; ``tests/test_public_api.py`` keeps the two lists the same.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_lib._validation import ConstructValidationError
    from constructs_lib.alerts.alert_topic import AlertTopic, ImportedAlertTopic
    from constructs_lib.audit.account_audit import AccountAudit, ExistingAccountAudit
    from constructs_lib.audit.mitigation_action import LogLevel, MitigationAction
    from constructs_lib.audit.scheduled_audit import (
        LAST_DAY_OF_MONTH,
        AuditFrequency,
        DayOfWeek,
        IScheduledAudit,
        ScheduledAudit,
    )
    from constructs_lib.defender import AuditSchedule, DetectMode, DeviceDefender
    from constructs_lib.detect.behavior import Behavior, BehaviorValidationError
    from constructs_lib.detect.custom_metric import CustomMetric, Dimension, DimensionOperator
    from constructs_lib.detect.security_profile import SecurityProfile, SecurityProfileTarget
    from constructs_lib.detect.self_hosted_detect import DetectProfile, SelfHostedDetect
    from constructs_lib.detect.starter_behaviors import StarterBehaviors
    from constructs_lib.detect.window_history import WindowHistory, WindowHistoryOptions
    from constructs_lib.fleet.fleet_group import DynamicFleetGroup, FleetGroup, IFleetGroup
    from constructs_lib.fleet.fleet_indexing import FleetIndexing, FleetIndexingSettings, ThingIndexingMode
    from constructs_lib.fleet.quarantine_group import QuarantineGroup
    from constructs_lib.nag import CompliancePack, acknowledge, apply_nag_packs, compliance_pack
    from constructs_lib.org.central_security_view import CentralDelivery, CentralSecurityView
    from constructs_lib.org.operations_dashboard import OperationsDashboard
    from constructs_lib.org.security_hub_findings import SecurityHubFindings
    from constructs_lib.org.security_view_forwarding import SecurityViewForwarding, SecurityViewTarget
    from constructs_lib.response.audit_remediator import AuditRemediator
    from constructs_lib.response.quarantine_responder import QuarantineResponder
    from iot_defender_runtime.model.audit_checks import (
        ALL_AUDIT_CHECKS,
        CERTIFICATE_CHECKS,
        IDENTITY_CHECKS,
        LOGGING_CHECKS,
        POLICY_CHECKS,
        AuditCheck,
    )
    from iot_defender_runtime.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy, policy_of
    from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
    from iot_defender_runtime.model.metric_catalog import METRICS, ComparisonOperator, CustomMetricType, MetricSpec
    from iot_defender_runtime.model.remediation_policy import (
        Confidence,
        EventType,
        PolicyError,
        RemediationAction,
        RemediationPolicy,
        RemediationRule,
    )
    from iot_defender_runtime.model.security_finding import SeverityLabel

_EXPORTS: dict[str, str] = {
    "ALL_AUDIT_CHECKS": "iot_defender_runtime.model.audit_checks",
    "AccountAudit": "constructs_lib.audit.account_audit",
    "AlertTopic": "constructs_lib.alerts.alert_topic",
    "AuditAction": "iot_defender_runtime.model.audit_remediation_policy",
    "AuditCheck": "iot_defender_runtime.model.audit_checks",
    "AuditFrequency": "constructs_lib.audit.scheduled_audit",
    "AuditRemediationPolicy": "iot_defender_runtime.model.audit_remediation_policy",
    "AuditRemediator": "constructs_lib.response.audit_remediator",
    "AuditSchedule": "constructs_lib.defender",
    "Behavior": "constructs_lib.detect.behavior",
    "BehaviorDefinition": "iot_defender_runtime.model.behavior_definition",
    "BehaviorKind": "iot_defender_runtime.model.behavior_definition",
    "BehaviorValidationError": "constructs_lib.detect.behavior",
    "CERTIFICATE_CHECKS": "iot_defender_runtime.model.audit_checks",
    "CentralDelivery": "constructs_lib.org.central_security_view",
    "CentralSecurityView": "constructs_lib.org.central_security_view",
    "ComparisonOperator": "iot_defender_runtime.model.metric_catalog",
    "CompliancePack": "constructs_lib.nag",
    "Confidence": "iot_defender_runtime.model.remediation_policy",
    "ConstructValidationError": "constructs_lib._validation",
    "CustomMetric": "constructs_lib.detect.custom_metric",
    "CustomMetricType": "iot_defender_runtime.model.metric_catalog",
    "DayOfWeek": "constructs_lib.audit.scheduled_audit",
    "DetectMode": "constructs_lib.defender",
    "DetectProfile": "constructs_lib.detect.self_hosted_detect",
    "DeviceDefender": "constructs_lib.defender",
    "Dimension": "constructs_lib.detect.custom_metric",
    "DimensionOperator": "constructs_lib.detect.custom_metric",
    "DynamicFleetGroup": "constructs_lib.fleet.fleet_group",
    "EventType": "iot_defender_runtime.model.remediation_policy",
    "ExistingAccountAudit": "constructs_lib.audit.account_audit",
    "FleetGroup": "constructs_lib.fleet.fleet_group",
    "FleetIndexing": "constructs_lib.fleet.fleet_indexing",
    "FleetIndexingSettings": "constructs_lib.fleet.fleet_indexing",
    "IDENTITY_CHECKS": "iot_defender_runtime.model.audit_checks",
    "IFleetGroup": "constructs_lib.fleet.fleet_group",
    "IScheduledAudit": "constructs_lib.audit.scheduled_audit",
    "ImportedAlertTopic": "constructs_lib.alerts.alert_topic",
    "LAST_DAY_OF_MONTH": "constructs_lib.audit.scheduled_audit",
    "LOGGING_CHECKS": "iot_defender_runtime.model.audit_checks",
    "LogLevel": "constructs_lib.audit.mitigation_action",
    "METRICS": "iot_defender_runtime.model.metric_catalog",
    "MetricSpec": "iot_defender_runtime.model.metric_catalog",
    "MitigationAction": "constructs_lib.audit.mitigation_action",
    "OperationsDashboard": "constructs_lib.org.operations_dashboard",
    "POLICY_CHECKS": "iot_defender_runtime.model.audit_checks",
    "PolicyError": "iot_defender_runtime.model.remediation_policy",
    "QuarantineGroup": "constructs_lib.fleet.quarantine_group",
    "QuarantineResponder": "constructs_lib.response.quarantine_responder",
    "RemediationAction": "iot_defender_runtime.model.remediation_policy",
    "RemediationPolicy": "iot_defender_runtime.model.remediation_policy",
    "RemediationRule": "iot_defender_runtime.model.remediation_policy",
    "ScheduledAudit": "constructs_lib.audit.scheduled_audit",
    "SecurityHubFindings": "constructs_lib.org.security_hub_findings",
    "SecurityProfile": "constructs_lib.detect.security_profile",
    "SecurityProfileTarget": "constructs_lib.detect.security_profile",
    "SecurityViewForwarding": "constructs_lib.org.security_view_forwarding",
    "SecurityViewTarget": "constructs_lib.org.security_view_forwarding",
    "SelfHostedDetect": "constructs_lib.detect.self_hosted_detect",
    "SeverityLabel": "iot_defender_runtime.model.security_finding",
    "StarterBehaviors": "constructs_lib.detect.starter_behaviors",
    "ThingIndexingMode": "constructs_lib.fleet.fleet_indexing",
    "WindowHistory": "constructs_lib.detect.window_history",
    "WindowHistoryOptions": "constructs_lib.detect.window_history",
    "acknowledge": "constructs_lib.nag",
    "apply_nag_packs": "constructs_lib.nag",
    "compliance_pack": "constructs_lib.nag",
    "policy_of": "iot_defender_runtime.model.audit_remediation_policy",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "ALL_AUDIT_CHECKS",
    "CERTIFICATE_CHECKS",
    "IDENTITY_CHECKS",
    "LAST_DAY_OF_MONTH",
    "LOGGING_CHECKS",
    "METRICS",
    "POLICY_CHECKS",
    "AccountAudit",
    "AlertTopic",
    "AuditAction",
    "AuditCheck",
    "AuditFrequency",
    "AuditRemediationPolicy",
    "AuditRemediator",
    "AuditSchedule",
    "Behavior",
    "BehaviorDefinition",
    "BehaviorKind",
    "BehaviorValidationError",
    "CentralDelivery",
    "CentralSecurityView",
    "ComparisonOperator",
    "CompliancePack",
    "Confidence",
    "ConstructValidationError",
    "CustomMetric",
    "CustomMetricType",
    "DayOfWeek",
    "DetectMode",
    "DetectProfile",
    "DeviceDefender",
    "Dimension",
    "DimensionOperator",
    "DynamicFleetGroup",
    "EventType",
    "ExistingAccountAudit",
    "FleetGroup",
    "FleetIndexing",
    "FleetIndexingSettings",
    "IFleetGroup",
    "IScheduledAudit",
    "ImportedAlertTopic",
    "LogLevel",
    "MetricSpec",
    "MitigationAction",
    "OperationsDashboard",
    "PolicyError",
    "QuarantineGroup",
    "QuarantineResponder",
    "RemediationAction",
    "RemediationPolicy",
    "RemediationRule",
    "ScheduledAudit",
    "SecurityHubFindings",
    "SecurityProfile",
    "SecurityProfileTarget",
    "SecurityViewForwarding",
    "SecurityViewTarget",
    "SelfHostedDetect",
    "SeverityLabel",
    "StarterBehaviors",
    "ThingIndexingMode",
    "WindowHistory",
    "WindowHistoryOptions",
    "acknowledge",
    "apply_nag_packs",
    "compliance_pack",
    "policy_of",
]
