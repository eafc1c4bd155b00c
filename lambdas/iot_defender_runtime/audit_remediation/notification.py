"""The audit-completion notification Device Defender publishes to SNS.

Shape: AWS IoT Device Defender developer guide, audit "Notifications" payload example and schema
(``arn:aws:iot:::schema:auditnotification/1.0``). Unknown fields are kept, under their own names:
fields are read by their API names only, so an unknown ``task_id`` is kept as such, not taken for
``taskId``.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from iot_defender_runtime.remediation.batch_intake import unwrapped

NON_COMPLIANT = "COMPLETED_NON_COMPLIANT"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class AuditCheckDetail(_Model):
    check_name: str = Field(alias="checkName", min_length=1)
    check_run_status: str = Field(alias="checkRunStatus")
    non_compliant_resources_count: int = Field(alias="nonCompliantResourcesCount", ge=0, strict=True)
    total_resources_count: int = Field(alias="totalResourcesCount", ge=0, strict=True)
    message: str | None = None
    error_code: str | None = Field(default=None, alias="errorCode")


class AuditNotification(_Model):
    account_id: str = Field(alias="accountId", pattern=r"^\d{12}$")
    task_id: str = Field(alias="taskId", min_length=1, max_length=40, pattern=r"^[a-zA-Z0-9\-]+$")
    task_status: str = Field(alias="taskStatus")
    task_type: str = Field(alias="taskType")
    scheduled_audit_name: str | None = Field(default=None, alias="scheduledAuditName")
    non_compliant_checks_count: int = Field(alias="nonCompliantChecksCount", ge=0, strict=True)
    task_start_time: StrictInt | StrictFloat = Field(alias="taskStartTime")
    audit_details: list[AuditCheckDetail] = Field(alias="auditDetails")

    @property
    def non_compliant_checks(self) -> list[AuditCheckDetail]:
        return [d for d in self.audit_details if d.check_run_status == NON_COMPLIANT]


def parse_audit_message(message: str) -> AuditNotification:
    """An SQS body or SNS message: the notification itself, or an SNS notification around it
    (unwrapped as violations are: ``iot_defender_runtime.remediation.batch_intake.unwrapped``).

    Raises ``ValueError`` (not JSON, not an object, nested too deep, not strict JSON, a lone surrogate,
    an SNS ``Type`` other than ``Notification``) or ``pydantic.ValidationError`` (missing or invalid
    fields); the handler's ``read_body`` turns any of them, and anything else, into a logged reject."""
    return parse(event=unwrapped(message), model=AuditNotification)
