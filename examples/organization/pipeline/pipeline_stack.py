"""The pipeline (CDK Pipelines, in the tools account) and the stage it deploys in each account and
Region: one Device Defender stack, whose account audit configuration is the only one there."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct
from organization_config import Organization, Stage

from constructs_lib import AuditSchedule, DayOfWeek, DeviceDefender, acknowledge

SYNTH_FOLDER = "examples/organization/pipeline"  # where this app sits in the repository the pipeline builds


class DeviceDefenderStack(cdk.Stack):
    """One account and Region: alerts, quarantine, the account audit (once here) and the dashboard."""

    def __init__(self, scope: Construct, id: str, *, stage: Stage, **kwargs: object) -> None:
        super().__init__(scope, id, description=f"AWS IoT Device Defender ({stage.name})", **kwargs)  # type: ignore[arg-type]
        self.defender = DeviceDefender(
            self,
            "DeviceDefender",
            fleet_groups=list(stage.fleet_groups),
            audit_schedule=AuditSchedule.daily() if stage.dry_run else AuditSchedule.weekly(DayOfWeek.MON),
            notification_email=stage.notification_email,
            dry_run=stage.dry_run,
            dashboard=True,
        )


class DefenderStage(cdk.Stage):
    def __init__(self, scope: Construct, id: str, *, stage: Stage) -> None:
        super().__init__(scope, id, env=cdk.Environment(account=stage.account, region=stage.region))
        self.stack = DeviceDefenderStack(self, "DeviceDefender", stage=stage)


class PipelineStack(cdk.Stack):
    """Source (CodeConnections), synth, self-mutation, asset publishing, then each wave in turn."""

    def __init__(self, scope: Construct, id: str, *, organization: Organization) -> None:
        super().__init__(
            scope,
            id,
            env=cdk.Environment(account=organization.pipeline_account, region=organization.pipeline_region),
            description="Deploys AWS IoT Device Defender to every account and Region of the organization",
        )
        context = " ".join(
            f"-c {key}={value}"
            for key, value in (
                ("connectionArn", organization.connection_arn),
                ("repository", organization.repository),
                ("branch", organization.branch),
            )
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            cross_account_keys=True,  # the stage accounts read the artifacts: a KMS key they are granted
            enable_key_rotation=True,
            publish_assets_in_parallel=False,
            synth=pipelines.ShellStep(
                "Synth",
                input=pipelines.CodePipelineSource.connection(
                    organization.repository, organization.branch, connection_arn=organization.connection_arn
                ),
                install_commands=["npm ci", "python3 -m venv .venv", ".venv/bin/pip install -e ."],
                commands=[f"cd {SYNTH_FOLDER}", f"npx cdk synth --quiet {context}"],
                primary_output_directory=f"{SYNTH_FOLDER}/cdk.out",
            ),
        )
        self.stages: list[DefenderStage] = []
        for wave in organization.waves:
            pipeline_wave = self.pipeline.add_wave(wave.name)
            for stage in wave.stages:
                deployed = DefenderStage(self, stage.name, stage=stage)
                pipeline_wave.add_stage(deployed)
                self.stages.append(deployed)
        self.pipeline.build_pipeline()
        _acknowledge_pipeline(self.pipeline)
        _deploy_roles_as_sub(self.pipeline)


def _deploy_roles_as_sub(pipeline: pipelines.CodePipeline) -> None:
    """CDK Pipelines writes the stage accounts' bootstrap role ARNs as ``Fn::Join`` of literals and
    ``AWS::Partition``; cfn-lint (E3703) asks for ``Fn::Sub``, which says the same in one string."""
    cfn = pipeline.pipeline.node.default_child
    assert isinstance(cfn, codepipeline.CfnPipeline)
    stages = cdk.Stack.of(pipeline).resolve(cfn.stages)  # property names as jsii writes them: stages[i].actions[j]
    for i, stage in enumerate(stages):
        for j, action in enumerate(stage.get("actions", [])):
            for key, value in (action.get("configuration") or {}).items():
                rewritten = _joins_as_sub(value)
                if rewritten != value:
                    cfn.add_property_override(f"Stages.{i}.Actions.{j}.Configuration.{key}", rewritten)


def _joins_as_sub(value: object) -> object:
    """Every ``Fn::Join`` with an empty separator of literals and pseudo parameters, as ``Fn::Sub``."""
    if isinstance(value, list):
        return [_joins_as_sub(item) for item in value]
    if not isinstance(value, dict):
        return value
    join = value.get("Fn::Join")
    if len(value) == 1 and isinstance(join, list) and join[0] == "" and all(_literal_or_pseudo(p) for p in join[1]):
        return {"Fn::Sub": "".join(p if isinstance(p, str) else "${" + p["Ref"] + "}" for p in join[1])}
    return {key: _joins_as_sub(inner) for key, inner in value.items()}


def _literal_or_pseudo(part: object) -> bool:
    if isinstance(part, str):
        return "${" not in part
    return isinstance(part, dict) and list(part) == ["Ref"] and str(part["Ref"]).startswith("AWS::")


_ARTIFACT_GRANTS = (
    "CDK Pipelines grants this role object read/write (s3:GetObject*, s3:GetBucket*, s3:List*, s3:DeleteObject*, "
    "s3:Abort*) on this pipeline's artifact bucket and its objects only, and data-key use (kms:GenerateDataKey*, "
    "kms:ReEncrypt*) of the pipeline's artifact key only."
)
_ROLE_REASONS = {
    "Pipeline/Pipeline/Role": _ARTIFACT_GRANTS
    + " The KMS statement on * is for the cross-Region replication buckets' keys: they live in the support "
    "stacks of the other Regions and the pipeline names them by alias, so their ARNs are not known here.",
    "CodePipelineActionRole": _ARTIFACT_GRANTS + " This is the source action's role (CodeConnections).",
    "CdkBuildProject/Role": _ARTIFACT_GRANTS
    + " CodeBuild writes its logs and test reports under log groups and report groups named after this project.",
    "SelfMutation/Role": _ARTIFACT_GRANTS
    + " Self-mutation may assume only the CDK bootstrap roles of the tools account (the condition requires the "
    "aws-cdk:bootstrap-role tag: deploy, file-publishing, image-publishing); cloudformation:DescribeStacks and "
    "s3:ListBucket have no narrower resource the CDK CLI can know before it runs.",
    "Assets/FileRole": _ARTIFACT_GRANTS
    + " The asset publishing role starts and reads the builds of the pipeline's own asset projects; CodeBuild "
    "BatchGetBuilds is granted on * by CDK Pipelines. It uploads assets through the stage accounts' "
    "file-publishing bootstrap roles, which each account's bootstrap trust allows.",
}


def _acknowledge_pipeline(pipeline: pipelines.CodePipeline) -> None:
    """What CDK Pipelines creates and cdk-nag flags, each with the reason it is as it is."""
    buckets = [pipeline.pipeline.artifact_bucket]
    buckets += [support.replication_bucket for support in pipeline.pipeline.cross_region_support.values()]
    for bucket in buckets:
        acknowledge(
            bucket,
            {
                "AwsSolutions-S1": (
                    "Pipeline artifact bucket (or its cross-Region replica): only this pipeline's roles and the "
                    "stage accounts' deploy roles use it, objects are encrypted with the pipeline's KMS key and "
                    "CDK Pipelines enforces TLS; CloudTrail records who used the key. Enable S3 data events in "
                    "your organization trail if you need per-object access records."
                )
            },
        )
    for construct in pipeline.node.find_all():
        if isinstance(construct, iam.Role):
            reason = next((r for suffix, r in _ROLE_REASONS.items() if construct.node.path.endswith(suffix)), None)
            if reason is not None:
                acknowledge(construct, dict.fromkeys(_wildcard_findings(construct), reason))


def _wildcard_findings(role: iam.Role) -> list[str]:
    """The AwsSolutions-IAM5 finding of each wildcard action and resource in the role's default policy,
    named as cdk-nag names them (``<LogicalId.Arn>`` for a reference, ``<AWS::Partition>`` for a pseudo
    parameter)."""
    policy = role.node.try_find_child("DefaultPolicy")
    if not isinstance(policy, iam.Policy):
        return []
    document = cdk.Stack.of(role).resolve(policy.document.to_json())
    findings: list[str] = []
    for statement in document.get("Statement", []):
        for kind in ("Action", "Resource"):
            values = statement.get(kind, [])
            for value in values if isinstance(values, list) else [values]:
                rendered = _as_nag_renders(value)
                if "*" in rendered:
                    findings.append(f"AwsSolutions-IAM5[{kind}::{rendered}]")
    return list(dict.fromkeys(findings))


def _as_nag_renders(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_as_nag_renders(part) for part in parts)
    return str(value)
