"""cdk-nag 3 wiring: the rule packs this project holds itself to, and reasoned acknowledgments."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Acknowledgment, App, Aspects, IAspect, Stack, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

PACKS = ("AwsSolutions", "Serverless")


@jsii.implements(IAspect)
class _RecordPacks:
    """Writes ``{"cdk_nag": {"packs": [...]}}`` into each stack's template Metadata: cdk-nag 3 records
    nothing for a pack that passed, so this is how a reader of the assembly (``synth_report``) knows
    the stack was checked."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, Stack):
            node.add_metadata("cdk_nag", {"packs": list(PACKS)})


def apply_nag_packs(app: App) -> None:
    """AwsSolutions and Serverless packs: synth fails on any unacknowledged error. Acknowledgments
    are also written into each resource's template Metadata (``cdk_nag.rules_to_suppress``), so that a
    reviewer of the shipped CloudFormation sees every one with its reason."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
    )
    Aspects.of(app).add(_RecordPacks())


def acknowledge(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge findings (``Rule[Finding]`` ids) on the narrowest construct, one reason each."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in reasons.items())
    )
