#!/usr/bin/env python3
"""Example: AWS IoT Device Defender in every account and Region of an organization, delivered by
CDK Pipelines from a tools account: a dev wave, then a prod wave in two Regions. Each stage is one
Device Defender stack, with the account audit configuration (one per account and Region).

    npx cdk synth -c connectionArn=arn:aws:codeconnections:eu-west-1:111111111111:connection/<id> \\
                  -c repository=<owner>/<name> [-c branch=main]

Accounts, Regions and waves: organization_config.py. How to bootstrap each account: ../README.md.
"""

from __future__ import annotations

import aws_cdk as cdk
from organization_config import PIPELINE_ACCOUNT, PIPELINE_REGION, WAVES, Organization, OrganizationConfigError, checked
from pipeline_stack import PipelineStack

from constructs_lib import apply_nag_packs

REQUIRED_CONTEXT = {
    "connectionArn": "the CodeConnections connection to the repository, "
    "arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
    "repository": "the repository the pipeline builds, owner/name",
}


def organization_of(app: cdk.App) -> Organization:
    """The example organization with the repository given as context (-c connectionArn=... -c repository=...)."""
    missing = [f"-c {key}=<{what}>" for key, what in REQUIRED_CONTEXT.items() if not app.node.try_get_context(key)]
    if missing:
        raise OrganizationConfigError([f"context {key.split('=')[0][3:]} is missing: pass {key}" for key in missing])
    return checked(
        Organization(
            pipeline_account=PIPELINE_ACCOUNT,
            pipeline_region=PIPELINE_REGION,
            waves=WAVES,
            connection_arn=str(app.node.try_get_context("connectionArn")),
            repository=str(app.node.try_get_context("repository")),
            branch=str(app.node.try_get_context("branch") or "main"),
        )
    )


def build(app: cdk.App) -> PipelineStack:
    organization = organization_of(app)
    apply_nag_packs(app)  # first: the pipeline synthesizes its stages when it is built
    return PipelineStack(app, "DeviceDefenderPipeline", organization=organization)


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
