"""Every example under examples/ synthesizes with cdk-nag passing and cfn-lint clean."""

from __future__ import annotations

from pathlib import Path

from constructs_lib.synth_report import cfn_lint_findings
from tests.detect_templates import detect_profiles


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
