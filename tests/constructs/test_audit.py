"""AccountAudit and ScheduledAudit: checks, least-privilege roles, and every day rule's message."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    AccountAudit,
    AlertTopic,
    AuditCheck,
    AuditFrequency,
    ConstructValidationError,
    DayOfWeek,
    ScheduledAudit,
)
from tests.constructs.matchers import attached_to

SOME_CHECKS = [AuditCheck.DEVICE_CERTIFICATE_SHARED, AuditCheck.IOT_POLICY_POTENTIAL_MIS_CONFIGURATION]


@pytest.fixture(scope="module")
def template() -> Template:
    stack = cdk.Stack(cdk.App(), "Audit")
    audit = AccountAudit(stack, "Audit", alert_topic=AlertTopic(stack, "Alerts"))
    ScheduledAudit(
        stack,
        "Weekly",
        account_audit=audit,
        frequency=AuditFrequency.WEEKLY,
        day_of_week=DayOfWeek.MON,
        checks=SOME_CHECKS,
        scheduled_audit_name="weekly-audit",
    )
    return Template.from_stack(stack)


def test_all_checks_are_enabled_by_default(template):
    [config] = template.find_resources("AWS::IoT::AccountAuditConfiguration").values()
    checks = config["Properties"]["AuditCheckConfigurations"]
    assert len(checks) == len(AuditCheck)
    checks = dict(checks)
    age = checks.pop("DeviceCertificateAgeCheck")
    assert age == {"Enabled": True, "Configuration": {"CertAgeThresholdInDays": "365"}}
    assert all(value == {"Enabled": True} for value in checks.values())
    assert "IoTPolicyPotentialMisConfigurationCheck" in checks
    assert config["Properties"]["AccountId"] == {"Ref": "AWS::AccountId"}


def test_notifications_go_to_the_alert_topic_through_a_publish_only_role(template):
    template.has_resource_properties(
        "AWS::IoT::AccountAuditConfiguration",
        {
            "AuditNotificationTargetConfigurations": {
                "Sns": {
                    "Enabled": True,
                    "TargetArn": {"Ref": Match.string_like_regexp("Alerts")},
                    "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("AuditNotificationRole"), "Arn"]},
                }
            }
        },
    )


def test_audit_role_uses_no_managed_policy_and_is_read_only(template):
    roles = template.find_resources("AWS::IAM::Role")
    assert all("ManagedPolicyArns" not in role["Properties"] for role in roles.values())
    [policy] = template.find_resources("AWS::IAM::Policy", {"Properties": attached_to("^AuditAuditRole")}).values()
    actions = {
        action
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert all(action.split(":")[1].startswith(("Get", "List", "Describe")) for action in actions), actions


def test_scheduled_audit_names_the_chosen_checks(template):
    template.has_resource_properties(
        "AWS::IoT::ScheduledAudit",
        {
            "Frequency": "WEEKLY",
            "DayOfWeek": "MON",
            "ScheduledAuditName": "weekly-audit",
            "TargetCheckNames": [c.value for c in SOME_CHECKS],
        },
    )


def _schedule_error(**arguments) -> str:
    stack = cdk.Stack(cdk.App(), "S")
    audit = AccountAudit(stack, "Audit", checks=SOME_CHECKS)
    with pytest.raises(ConstructValidationError) as raised:
        ScheduledAudit(stack, "Sched", account_audit=audit, **arguments)
    return str(raised.value)


def test_fails_when_daily_has_a_day():
    assert _schedule_error(frequency=AuditFrequency.DAILY, day_of_week=DayOfWeek.MON) == (
        "S/Sched: frequency DAILY takes neither day_of_week nor day_of_month"
    )


@pytest.mark.parametrize("frequency", [AuditFrequency.WEEKLY, AuditFrequency.BIWEEKLY])
def test_fails_when_weekly_or_biweekly_has_no_day_of_week(frequency):
    assert _schedule_error(frequency=frequency) == (
        f"S/Sched: frequency {frequency.value} needs day_of_week (one of SUN, MON, ..., SAT)"
    )


def test_fails_when_weekly_has_a_day_of_month():
    assert _schedule_error(frequency=AuditFrequency.WEEKLY, day_of_week=DayOfWeek.FRI, day_of_month=3) == (
        "S/Sched: frequency WEEKLY takes no day_of_month, got 3"
    )


def test_fails_when_day_of_week_is_not_a_day():
    assert _schedule_error(frequency=AuditFrequency.WEEKLY, day_of_week="MONDAY") == (
        "S/Sched: day_of_week 'MONDAY' is not a DayOfWeek (SUN, MON, ..., SAT)"
    )


def test_fails_when_monthly_has_no_day_of_month():
    assert _schedule_error(frequency=AuditFrequency.MONTHLY) == (
        "S/Sched: frequency MONTHLY needs day_of_month (1 to 31, or 'LAST')"
    )


@pytest.mark.parametrize("day", [0, 32, "FIRST", True])
def test_fails_when_day_of_month_is_out_of_range(day):
    assert _schedule_error(frequency=AuditFrequency.MONTHLY, day_of_month=day) == (
        f"S/Sched: day_of_month {day!r} must be 1 to 31 or 'LAST'"
    )


def test_fails_when_monthly_has_a_day_of_week():
    assert _schedule_error(frequency=AuditFrequency.MONTHLY, day_of_month="LAST", day_of_week=DayOfWeek.SUN) == (
        "S/Sched: frequency MONTHLY takes no day_of_week, got 'SUN'"
    )


def test_fails_when_frequency_is_unknown():
    assert _schedule_error(frequency="HOURLY") == (
        "S/Sched: frequency 'HOURLY' is not one of DAILY, WEEKLY, BIWEEKLY, MONTHLY"
    )


def test_fails_when_a_scheduled_check_is_not_enabled_by_the_account_audit():
    assert _schedule_error(frequency=AuditFrequency.DAILY, checks=[AuditCheck.LOGGING_DISABLED]) == (
        "S/Sched: checks LOGGING_DISABLED_CHECK are not enabled by the account audit"
    )


def test_fails_when_account_audit_has_no_checks():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        AccountAudit(stack, "Audit", checks=[])
    assert str(raised.value) == "S/Audit: checks is empty; enable at least one audit check"


@pytest.mark.parametrize("day", [1, 31, "LAST"])
def test_monthly_accepts_valid_days(day):
    stack = cdk.Stack(cdk.App(), "S")
    audit = AccountAudit(stack, "Audit", checks=SOME_CHECKS)
    scheduled = ScheduledAudit(stack, "M", account_audit=audit, frequency=AuditFrequency.MONTHLY, day_of_month=day)
    assert stack.resolve(scheduled.resource.day_of_month) == str(day)
