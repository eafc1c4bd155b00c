"""Every example under examples/ synthesizes with cdk-nag passing and cfn-lint clean, and carries the
cdk.json that runs it from its folder (tests/synth/test_example_cli.py runs it with the CDK CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constructs_lib.synth_report import cfn_lint_findings
from tests.detect_templates import detect_profiles

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(path.parent.name for path in (REPO / "examples").glob("*/app.py"))
# What `cdk init` writes into a new app's cdk.json for the pinned CDK CLI.
RECOMMENDED_FLAGS = REPO / "node_modules" / "aws-cdk" / "lib" / "init-templates" / ".recommended-feature-flags.json"


@pytest.mark.parametrize("example", EXAMPLES)
def test_cdk_json_runs_the_app_with_the_repository_venv_or_python3_and_sets_the_recommended_flags(example):
    config = json.loads((REPO / "examples" / example / "cdk.json").read_text())
    assert config["app"] == (
        "if [ -x ../../.venv/bin/python ]; then ../../.venv/bin/python app.py; else python3 app.py; fi"
    )
    if not RECOMMENDED_FLAGS.exists():
        pytest.skip("no node_modules/aws-cdk: run `make synth` once")
    assert config["context"] == json.loads(RECOMMENDED_FLAGS.read_text())


@pytest.mark.parametrize("example", EXAMPLES)
def test_readme_says_how_to_run_it(example):
    readme = (REPO / "examples" / example / "README.md").read_text()
    assert "## Run it" in readme
    assert f"cd examples/{example} && npx cdk synth" in readme


def test_each_example_synthesizes_clean(example_assemblies):
    assert example_assemblies, "no example found under examples/"
    for name, assembly in example_assemblies.items():
        templates = sorted(Path(assembly.directory).glob("*.template.json"))
        assert templates, name
        for template in templates:
            assert cfn_lint_findings(template) == [], template.name


def test_existing_fleet_example_runs_the_responder_in_dry_run(example_assemblies):
    stack = example_assemblies["existing_fleet"].get_stack_by_name("SmartMeterDefender")
    variables = [
        r["Properties"]["Environment"]["Variables"]
        for r in stack.template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "Environment" in r["Properties"]
    ]
    assert [v["DRY_RUN"] for v in variables if "DRY_RUN" in v] == ["true"]
    audits = [r for r in stack.template["Resources"].values() if r["Type"] == "AWS::IoT::ScheduledAudit"]
    assert audits[0]["Properties"]["DayOfMonth"] == "LAST"


def test_managed_detect_example_has_every_behavior_kind_a_custom_metric_and_a_dimension(example_assemblies):
    template = example_assemblies["managed_detect"].get_stack_by_name("PlantADetect").template
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::IoT::CustomMetric") == 1
    assert types.count("AWS::IoT::Dimension") == 1
    [profile] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IoT::SecurityProfile"]
    criteria = [b["Criteria"] for b in profile["Properties"]["Behaviors"]]
    assert any("Value" in c for c in criteria)
    assert any("StatisticalThreshold" in c for c in criteria)
    assert any("MlDetectionConfig" in c for c in criteria)


def test_self_hosted_example_runs_the_managed_examples_behaviors_it_can_over_the_same_group(example_assemblies):
    template = example_assemblies["self_hosted_detect"].get_stack_by_name("PlantASelfHostedDetect").template
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::IoT::SecurityProfile" not in types
    assert types.count("AWS::Logs::SubscriptionFilter") == 1
    [profile] = detect_profiles(template)
    assert profile["targets"]["thingGroups"] == ["plant-a-sensors"]
    assert profile["customMetrics"] == {"battery_percent": "number"}
    assert [b["name"] for b in profile["behaviors"]] == [
        "MessageStorm",
        "CredentialMisuse",
        "TelemetrySize",
        "KnownNetworks",
        "BatteryAboveFloor",
        "MessagesLikeThePlant",
    ]
