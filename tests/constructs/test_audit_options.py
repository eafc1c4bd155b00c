"""AccountAudit options, one configuration per account and region, adopting an existing one, and
the named check sets."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from constructs_lib import (
    ALL_AUDIT_CHECKS,
    CERTIFICATE_CHECKS,
    AccountAudit,
    AuditCheck,
    AuditFrequency,
    ConstructValidationError,
    ScheduledAudit,
)

ENV = cdk.Environment(account="111122223333", region="eu-west-1")


@pytest.mark.parametrize("days", [29, 3653, 365.5])
def test_fails_when_certificate_age_is_out_of_bounds(days):
    with pytest.raises(ConstructValidationError) as raised:
        AccountAudit(cdk.Stack(cdk.App(), "S"), "A", device_certificate_age_days=days)
    assert (
        str(raised.value) == f"S/A: device_certificate_age_days {days!r} must be a whole number of days from 30 to 3652"
    )


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
