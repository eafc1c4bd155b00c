"""examples/organization/pipeline: the CDK Pipelines app synthesizes in process (once for the module)
with the connection given as context, cdk-nag (AwsSolutions, Serverless) passing on the pipeline stack
and every stage stack and cfn-lint clean; its configuration refuses bad accounts, Regions and waves."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib.synth_report import cfn_lint_findings
from tests.conftest import load_module

APP_DIR = Path(__file__).resolve().parents[2] / "examples" / "organization" / "pipeline"
sys.path.insert(0, str(APP_DIR))  # the app imports its sibling modules, as when run from its folder
organization_app = load_module(APP_DIR / "app.py", "organization_pipeline_app")
config = sys.modules["organization_config"]

CONTEXT = {
    "connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-1234-1234-1234-123456789012",
    "repository": "acme/iot-fleet",
}


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> cdk.cx_api.CloudAssembly:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("organization")), context=CONTEXT)
    organization_app.build(app)
    return app.synth()  # raises on any unacknowledged cdk-nag error, in the pipeline stack and in each stage


def _stage_templates(assembly: cdk.cx_api.CloudAssembly) -> dict[str, Path]:
    stages = {}
    for nested in Path(assembly.directory).glob("assembly-*"):
        [template] = nested.glob("*.template.json")
        stages[nested.name.removeprefix("assembly-DeviceDefenderPipeline-")] = template
    return stages


def test_pipeline_deploys_dev_then_prod_in_two_regions(assembly):
    template = assembly.get_stack_by_name("DeviceDefenderPipeline").template
    [pipeline] = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    names = [stage["Name"] for stage in pipeline["Properties"]["Stages"]]
    assert names == ["Source", "Build", "UpdatePipeline", "Assets", "Dev", "prod"]  # a one-stage wave takes its name
    deployments = {
        stage["Name"]: sorted(a["Configuration"]["StackName"] for a in stage["Actions"] if a["RunOrder"] == 1)
        for stage in pipeline["Properties"]["Stages"][4:]
    }
    assert deployments == {
        "Dev": ["Dev-DeviceDefender"],
        "prod": ["ProdEuCentral1-DeviceDefender", "ProdEuWest1-DeviceDefender"],
    }
    [source] = pipeline["Properties"]["Stages"][0]["Actions"]
    assert source["Configuration"]["ConnectionArn"] == CONTEXT["connectionArn"]
    assert source["Configuration"]["FullRepositoryId"] == "acme/iot-fleet"


def test_each_account_and_region_gets_one_audit_configuration(assembly):
    stages = _stage_templates(assembly)
    assert sorted(stages) == ["Dev", "ProdEuCentral1", "ProdEuWest1"]
    for path in stages.values():
        template = json.loads(path.read_text())
        types = [r["Type"] for r in template["Resources"].values()]
        assert types.count("AWS::IoT::AccountAuditConfiguration") == 1, path.name
        assert types.count("AWS::CloudWatch::Dashboard") == 1, path.name
    environments = {s.stack_name: (s.environment.account, s.environment.region) for s in _nested_stacks(assembly)}
    assert environments == {
        "Dev-DeviceDefender": ("222222222222", "eu-west-1"),
        "ProdEuWest1-DeviceDefender": ("333333333333", "eu-west-1"),
        "ProdEuCentral1-DeviceDefender": ("333333333333", "eu-central-1"),
    }


def _nested_stacks(assembly: cdk.cx_api.CloudAssembly) -> list[cdk.cx_api.CloudFormationStackArtifact]:
    return [
        stack
        for nested in sorted(Path(assembly.directory).glob("assembly-*"))
        for stack in cdk.cx_api.CloudAssembly(str(nested)).stacks
    ]


def test_every_template_is_cfn_lint_clean(assembly):
    templates = sorted(Path(assembly.directory).rglob("*.template.json"))
    assert len(templates) == 5  # pipeline, its eu-central-1 support stack, three stages
    for template in templates:
        assert cfn_lint_findings(template) == [], template.name


@pytest.mark.parametrize("missing", ["connectionArn", "repository"])
def test_fails_when_the_connection_context_is_absent(missing):
    app = cdk.App(context={k: v for k, v in CONTEXT.items() if k != missing})
    with pytest.raises(config.OrganizationConfigError, match=rf"context {missing} is missing: pass -c {missing}=<"):
        organization_app.build(app)


def _organization(**changes: object) -> Any:
    base = config.Organization(
        pipeline_account=config.PIPELINE_ACCOUNT,
        pipeline_region=config.PIPELINE_REGION,
        waves=config.WAVES,
        connection_arn=CONTEXT["connectionArn"],
        repository=CONTEXT["repository"],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_example_organization_is_valid():
    assert _organization().problems() == []


def test_fails_when_a_wave_has_no_stage():
    waves = (*config.WAVES, config.Wave("canary", ()))
    with pytest.raises(config.OrganizationConfigError) as raised:
        config.checked(_organization(waves=waves))
    assert raised.value.problems == (
        "waves[2] 'canary' has no stage; a wave needs at least one stage (account, region)",
    )


def test_fails_when_two_stages_share_an_account_and_region():
    twin = config.Stage("ProdAgain", "333333333333", "eu-west-1")
    waves = (*config.WAVES, config.Wave("again", (twin,)))
    assert _organization(waves=waves).problems() == [
        "waves[2].stages[0] deploys to account 333333333333 in eu-west-1 as waves[1].stages[0] does; an account "
        "has one audit configuration per Region, so give each stage its own account or Region"
    ]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=20).filter(lambda s: not (len(s) == 12 and s.isascii() and s.isdigit())))
def test_fails_when_an_account_id_is_not_12_digits(account):
    stage = replace(config.WAVES[0].stages[0], account=account)
    problems = _organization(waves=(config.Wave("dev", (stage,)), config.WAVES[1])).problems()
    assert f"waves[0].stages[0].account {account!r} must be an AWS account id: 12 digits" in problems
    assert _organization(pipeline_account=account).problems()[0] == (
        f"pipeline_account {account!r} must be an AWS account id: 12 digits"
    )


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=20).filter(lambda s: s not in config.AWS_REGIONS))
def test_fails_when_a_region_does_not_exist(region):
    stage = replace(config.WAVES[1].stages[1], region=region)
    problems = _organization(
        waves=(config.WAVES[0], config.Wave("prod", (config.WAVES[1].stages[0], stage)))
    ).problems()
    expected = (
        f"waves[1].stages[1].region {region!r} is not an AWS Region; allowed: {', '.join(sorted(config.AWS_REGIONS))}"
    )
    assert expected in problems


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4))
def test_fails_for_every_empty_wave_by_index(names):
    waves = tuple(config.Wave(name, ()) for name in names)
    problems = _organization(waves=waves).problems()
    assert problems == [
        f"waves[{i}] {name!r} has no stage; a wave needs at least one stage (account, region)"
        for i, name in enumerate(names)
    ]


def test_fails_when_connection_arn_or_repository_is_malformed():
    problems = _organization(connection_arn="arn:aws:s3:::bucket", repository="just-a-name").problems()
    assert problems == [
        "connectionArn 'arn:aws:s3:::bucket' must be a CodeConnections connection ARN, "
        "arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
        "repository 'just-a-name' must be owner/name, e.g. acme/iot-fleet",
    ]
