"""AccountAudit options, one configuration per account and region, adopting an existing one, and
the named check sets."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import (
    ALL_AUDIT_CHECKS,
    CERTIFICATE_CHECKS,
    AccountAudit,
    AuditCheck,
    AuditFrequency,
    ConstructValidationError,
    IScheduledAudit,
    ScheduledAudit,
)

ENV = cdk.Environment(account="111122223333", region="eu-west-1")


@pytest.mark.parametrize("days", [29, 3651, 3652, 365.5])
def test_fails_when_certificate_age_is_out_of_bounds(days):
    # 3651 and 3652 are in the guide's range, but the service refuses them at deploy (aws/aws-cdk#35365).
    with pytest.raises(ConstructValidationError) as raised:
        AccountAudit(cdk.Stack(cdk.App(), "S"), "A", device_certificate_age_days=days)
    assert (
        str(raised.value) == f"S/A: device_certificate_age_days {days!r} must be a whole number of days from 30 to 3650"
    )


@pytest.mark.parametrize("days", [30, 3650])
def test_certificate_age_bounds_are_accepted(days):
    stack = cdk.Stack(cdk.App(), "S")
    AccountAudit(stack, "A", device_certificate_age_days=days)
    configuration = Template.from_stack(stack).find_resources("AWS::IoT::AccountAuditConfiguration")
    [properties] = [r["Properties"] for r in configuration.values()]
    check = properties["AuditCheckConfigurations"]["DeviceCertificateAgeCheck"]
    assert check == {"Enabled": True, "Configuration": {"CertAgeThresholdInDays": str(days)}}


def test_fails_when_a_certificate_age_is_given_without_the_certificate_age_check():
    with pytest.raises(ConstructValidationError) as raised:
        AccountAudit(
            cdk.Stack(cdk.App(), "S"),
            "A",
            checks=[AuditCheck.DEVICE_CERTIFICATE_EXPIRING],
            device_certificate_age_days=730,
        )
    assert str(raised.value) == (
        "S/A: device_certificate_age_days 730 was given but checks does not enable DEVICE_CERTIFICATE_AGE_CHECK; "
        "add that check or drop the threshold"
    )


def test_without_the_certificate_age_check_no_threshold_is_written():
    stack = cdk.Stack(cdk.App(), "S")
    AccountAudit(stack, "A", checks=[AuditCheck.DEVICE_CERTIFICATE_EXPIRING])
    [resource] = Template.from_stack(stack).find_resources("AWS::IoT::AccountAuditConfiguration").values()
    assert "DeviceCertificateAgeCheck" not in resource["Properties"]["AuditCheckConfigurations"]


def test_scheduled_audit_from_its_arn_has_the_name_of_the_arn():
    stack = cdk.Stack(cdk.App(), "S")
    arn = "arn:aws:iot:eu-west-1:111122223333:scheduledaudit/nightly-audit"
    audit = ScheduledAudit.from_scheduled_audit_arn(stack, "Imported", arn)
    assert isinstance(audit, IScheduledAudit)
    assert (audit.scheduled_audit_name, audit.scheduled_audit_arn) == ("nightly-audit", arn)


def test_scheduled_audit_from_a_token_arn_takes_its_name_at_deploy_time():
    stack = cdk.Stack(cdk.App(), "S")
    arn = cdk.Fn.import_value("AuditArn")
    audit = ScheduledAudit.from_scheduled_audit_arn(stack, "Imported", arn)
    resource = {"Fn::Select": [5, {"Fn::Split": [":", {"Fn::ImportValue": "AuditArn"}]}]}
    assert stack.resolve(audit.scheduled_audit_name) == {"Fn::Select": [1, {"Fn::Split": ["/", resource]}]}


def test_fails_when_a_scheduled_audit_arn_is_not_one():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        ScheduledAudit.from_scheduled_audit_arn(stack, "Imported", "arn:aws:iot:eu-west-1:111122223333:thinggroup/g")
    assert str(raised.value) == (
        "S/Imported: scheduled_audit_arn 'arn:aws:iot:eu-west-1:111122223333:thinggroup/g' is not a scheduled "
        "audit ARN (arn:aws:iot:<region>:<account>:scheduledaudit/<name>)"
    )


def test_scheduled_audit_from_its_attributes():
    stack = cdk.Stack(cdk.App(), "S")
    arn = "arn:aws:iot:eu-west-1:111122223333:scheduledaudit/weekly"
    audit = ScheduledAudit.from_scheduled_audit_attributes(
        stack, "Imported", scheduled_audit_arn=arn, scheduled_audit_name="weekly"
    )
    assert isinstance(audit, IScheduledAudit)
    assert (audit.scheduled_audit_name, audit.scheduled_audit_arn) == ("weekly", arn)


def test_fails_when_scheduled_audit_attributes_are_wrong():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        ScheduledAudit.from_scheduled_audit_attributes(
            stack, "Imported", scheduled_audit_arn="weekly", scheduled_audit_name="weekly audit"
        )
    assert str(raised.value) == (
        "S/Imported: scheduled_audit_name 'weekly audit' must be 1 to 128 characters of [a-zA-Z0-9:_-]; "
        "scheduled_audit_arn 'weekly' is not a scheduled audit ARN "
        "(arn:aws:iot:<region>:<account>:scheduledaudit/<name>)"
    )


def test_an_owned_scheduled_audit_is_an_i_scheduled_audit():
    stack = cdk.Stack(cdk.App(), "S")
    audit = ScheduledAudit(stack, "Weekly", account_audit=AccountAudit(stack, "A"), frequency=AuditFrequency.DAILY)
    assert isinstance(audit, IScheduledAudit)


def test_fails_when_two_account_audits_are_in_one_stack():
    stack = cdk.Stack(cdk.App(), "S")
    AccountAudit(stack, "First")
    with pytest.raises(ConstructValidationError) as raised:
        AccountAudit(stack, "Second")
    assert str(raised.value) == (
        "S/Second: S/First already configures account audit for this account and region; there is one "
        "configuration per account and region (define it once, or use AccountAudit.from_account)"
    )


def test_fails_when_two_stacks_target_the_same_account_and_region():
    app = cdk.App()
    AccountAudit(cdk.Stack(app, "One", env=ENV), "Audit")
    with pytest.raises(ConstructValidationError, match=r"^Two/Audit: One/Audit already configures account audit"):
        AccountAudit(cdk.Stack(app, "Two", env=ENV), "Audit")


def test_environment_agnostic_stacks_may_each_have_one():
    # dev and prod stacks without an env deploy to different accounts: not a conflict
    app = cdk.App()
    AccountAudit(cdk.Stack(app, "Dev"), "Audit")
    AccountAudit(cdk.Stack(app, "Prod"), "Audit")


def test_existing_configuration_can_be_adopted_for_scheduled_audits():
    stack = cdk.Stack(cdk.App(), "S")
    existing = AccountAudit.from_account(stack, "Existing", checks=[AuditCheck.LOGGING_DISABLED])
    ScheduledAudit(stack, "Daily", account_audit=existing, frequency=AuditFrequency.DAILY)
    with pytest.raises(ConstructValidationError) as raised:
        ScheduledAudit(
            stack,
            "Bad",
            account_audit=existing,
            frequency=AuditFrequency.DAILY,
            checks=[AuditCheck.DEVICE_CERTIFICATE_SHARED],
        )
    assert str(raised.value) == "S/Bad: checks DEVICE_CERTIFICATE_SHARED_CHECK are not enabled by the account audit"
    assert not [
        c for c in stack.node.find_all() if isinstance(c, cdk.CfnResource) and "AccountAudit" in c.cfn_resource_type
    ]


def test_every_check_has_a_description_and_sets_hold_known_checks():
    assert all(check.description.endswith(".") for check in ALL_AUDIT_CHECKS)
    assert set(CERTIFICATE_CHECKS) <= set(AuditCheck)
