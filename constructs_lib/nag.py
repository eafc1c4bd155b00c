"""cdk-nag 3 wiring: the rule packs this project holds itself to, the optional compliance packs, and
reasoned acknowledgments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum

import jsii
from aws_cdk import Acknowledgment, App, Aspects, IAspect, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct

PACKS = ("AwsSolutions", "Serverless")


class CompliancePack(str, Enum):
    """Optional cdk-nag packs, on top of AwsSolutions and Serverless (README, "Compliance")."""

    NIST_800_53_R5 = "nist-800-53-r5"
    HIPAA_SECURITY = "hipaa-security"

    @property
    def rule_prefix(self) -> str:
        """The cdk-nag pack name that prefixes its rule ids (``NIST.800.53.R5-LambdaDLQ``)."""
        return _RULE_PREFIXES[self]


_RULE_PREFIXES = {CompliancePack.NIST_800_53_R5: "NIST.800.53.R5", CompliancePack.HIPAA_SECURITY: "HIPAA.Security"}
_PACK_NAMES = {"nist": CompliancePack.NIST_800_53_R5, "hipaa": CompliancePack.HIPAA_SECURITY}

# Findings both compliance packs share, acknowledged when a pack that has them is applied:
# (construct, rule name without its pack prefix, reason, still-true check at synth time).
# Keyed by the stack's id(): jsii keeps every construct alive, so ids are not reused.
_Pending = tuple[IConstruct, str, str, Callable[[], bool]]
_PENDING: dict[int, list[_Pending]] = {}


def compliance_pack(name: str | CompliancePack) -> CompliancePack:
    """A pack by its value (``nist-800-53-r5``, ``hipaa-security``) or short name (``nist``, ``hipaa``)."""
    if isinstance(name, CompliancePack):
        return name
    try:
        return _PACK_NAMES.get(name) or CompliancePack(name)
    except ValueError:
        allowed = ", ".join([*_PACK_NAMES, *(p.value for p in CompliancePack)])
        raise ValueError(f"compliance pack '{name}' is not one of {allowed}") from None


@jsii.implements(IAspect)
class _RecordPacks:
    """Writes ``{"cdk_nag": {"packs": [...]}}`` into each stack's template Metadata: cdk-nag 3 records
    nothing for a pack that passed, so this is how a reader of the assembly (``synth_report``) knows
    the stack was checked. With compliance packs, it also acknowledges their findings this library
    registered for the stack (``acknowledge_compliance``), each only if still true."""

    def __init__(self, compliance: Sequence[CompliancePack]) -> None:
        self._compliance = tuple(compliance)

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, Stack):
            node.add_metadata("cdk_nag", {"packs": [*PACKS, *(p.rule_prefix for p in self._compliance)]})
            if self._compliance:
                _acknowledge_pending(node, self._compliance)


def apply_nag_packs(app: App, *, compliance: Sequence[CompliancePack | str] = ()) -> None:
    """AwsSolutions and Serverless packs, and the ``compliance`` packs (``CompliancePack.NIST_800_53_R5``,
    ``CompliancePack.HIPAA_SECURITY``, or ``"nist"``, ``"hipaa"``): synth fails on any unacknowledged
    error. Acknowledgments are also written into each resource's template Metadata
    (``cdk_nag.rules_to_suppress``), so that a reviewer of the shipped CloudFormation sees every one
    with its reason. Default: no compliance pack."""
    packs = tuple(dict.fromkeys(compliance_pack(name) for name in compliance))
    plugins = {
        CompliancePack.NIST_800_53_R5: NIST80053R5Checks,
        CompliancePack.HIPAA_SECURITY: HIPAASecurityChecks,
    }
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
        *(plugins[pack](app, write_suppressions_to_cloud_formation=True) for pack in packs),
    )
    Aspects.of(app).add(_RecordPacks(packs))


def acknowledge(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge findings (``Rule[Finding]`` ids) on the narrowest construct, one reason each.

    Finding ids name ARNs as cdk-nag shows them in an environment-agnostic stack (``<AWS::Region>``,
    ``<AWS::AccountId>``); in a stack with a concrete account and Region cdk-nag shows those literally,
    so the id is acknowledged in that form too."""
    concrete = _concrete_environment(Stack.of(construct))
    acknowledged = dict(reasons)
    for rule_id, reason in reasons.items():
        literal = rule_id
        for placeholder, value in concrete.items():
            literal = literal.replace(placeholder, value)
        acknowledged.setdefault(literal, reason)
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in acknowledged.items())
    )


def _concrete_environment(stack: Stack) -> dict[str, str]:
    """The placeholders of cdk-nag's finding ids that this stack's environment makes literal."""
    concrete = {}
    if not Token.is_unresolved(stack.region):
        concrete["<AWS::Region>"] = stack.region
    if not Token.is_unresolved(stack.account):
        concrete["<AWS::AccountId>"] = stack.account
    return concrete


def acknowledge_compliance(
    construct: IConstruct, reasons: Mapping[str, str], *, unless: Callable[[], bool] | None = None
) -> None:
    """Acknowledge a finding of the compliance packs (rule names without the pack prefix, such as
    ``LambdaInsideVPC``), only in apps that apply them, so that other templates carry no
    acknowledgment of a rule nobody checked. ``unless`` is asked at synth time: when it is true the
    finding has since been fixed (a backup plan was added) and nothing is acknowledged."""
    pending = _PENDING.setdefault(id(Stack.of(construct)), [])
    for rule, reason in reasons.items():
        pending.append((construct, rule, reason, unless or (lambda: False)))


def acknowledge_inline_policies(scope: IConstruct, whose: str) -> None:
    """The compliance packs' IAMNoInlinePolicy on every policy of a role ``scope`` creates (found at
    synth time, so that grants added later are included)."""
    acknowledge_compliance(scope, {_INLINE_POLICIES: whose})


_INLINE_POLICIES = "IAMNoInlinePolicy@policies"


def _acknowledge_pending(stack: Stack, packs: Sequence[CompliancePack]) -> None:
    for construct, rule, reason, fixed in _PENDING.pop(id(stack), []):
        if fixed():
            continue
        if rule == _INLINE_POLICIES:
            for policy in _policies_under(construct):
                _acknowledge_rule(policy, "IAMNoInlinePolicy", _inline_reason(reason), packs)
        else:
            _acknowledge_rule(construct, rule, reason, packs)


def _acknowledge_rule(construct: IConstruct, rule: str, reason: str, packs: Sequence[CompliancePack]) -> None:
    acknowledge(construct, {f"{pack.rule_prefix}-{rule}": reason for pack in packs})


def _policies_under(scope: IConstruct) -> list[IConstruct]:
    return [c for c in scope.node.find_all() if isinstance(c, iam.CfnPolicy)]


def _inline_reason(whose: str) -> str:
    return (
        f"Inline policy of {whose}, a role this library creates for that one principal: each statement "
        "names the resources of this stack it needs (or, where the API has no resource-level permission, "
        "one action). A customer-managed policy would be a separate object that can be attached to other "
        "principals, widening who holds these grants; the inline policy lives and dies with its role."
    )
