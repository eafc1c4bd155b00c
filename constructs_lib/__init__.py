"""CDK constructs for AWS IoT Device Defender."""

from constructs_lib._validation import ConstructValidationError
from constructs_lib.alerts.alert_topic import AlertTopic, ImportedAlertTopic
from constructs_lib.audit.account_audit import AccountAudit, ExistingAccountAudit
from constructs_lib.audit.mitigation_action import LogLevel, MitigationAction
from constructs_lib.audit.scheduled_audit import LAST_DAY_OF_MONTH, AuditFrequency, DayOfWeek, ScheduledAudit
from constructs_lib.defender import AuditSchedule, DetectMode, DeviceDefender
from constructs_lib.detect.behavior import Behavior, BehaviorValidationError
from constructs_lib.detect.custom_metric import CustomMetric, Dimension, DimensionOperator
from constructs_lib.detect.security_profile import SecurityProfile, SecurityProfileTarget
from constructs_lib.detect.self_hosted_detect import DetectProfile, SelfHostedDetect
from constructs_lib.detect.starter_behaviors import StarterBehaviors
from constructs_lib.fleet.fleet_group import DynamicFleetGroup, FleetGroup, IFleetGroup
from constructs_lib.fleet.fleet_indexing import FleetIndexing, FleetIndexingSettings, ThingIndexingMode
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.nag import acknowledge, apply_nag_packs
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
    "ComparisonOperator",
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
    "ImportedAlertTopic",
    "LogLevel",
    "MetricSpec",
    "MitigationAction",
    "PolicyError",
    "QuarantineGroup",
    "QuarantineResponder",
    "RemediationAction",
    "RemediationPolicy",
    "RemediationRule",
    "ScheduledAudit",
    "SecurityProfile",
    "SecurityProfileTarget",
    "SelfHostedDetect",
    "StarterBehaviors",
    "ThingIndexingMode",
    "acknowledge",
    "apply_nag_packs",
    "policy_of",
]
