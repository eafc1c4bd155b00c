"""Dynamic fleet groups, the fleet indexing they need, and importing groups by ARN."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from constructs_lib import (
    ConstructValidationError,
    FleetGroup,
    FleetIndexing,
    SecurityProfile,
    StarterBehaviors,
    ThingIndexingMode,
    apply_nag_packs,
)
from constructs_lib.synth_report import cfn_lint_findings


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("dynamic")))
    stack = cdk.Stack(app, "Dynamic")
    indexing = FleetIndexing(stack, "Indexing", connectivity=True)
    offline = FleetGroup.dynamic(
        stack, "Offline", query="connectivity.connected:false AND attributes.model:m1", indexing=indexing
    )
    SecurityProfile(stack, "Profile", behaviors=[StarterBehaviors.credential_misuse()], targets=[offline])
    apply_nag_packs(app)
    return app.synth()  # raises on any unacknowledged cdk-nag error


def test_dynamic_group_is_a_thing_group_with_a_query_created_after_indexing(assembly):
    template = assembly.get_stack_by_name("Dynamic").template
    [group] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IoT::ThingGroup"]
    assert group["Properties"]["QueryString"] == "connectivity.connected:false AND attributes.model:m1"
    assert any(d.startswith("Indexing") for d in group["DependsOn"])


def test_fleet_indexing_sets_the_requested_coverage_and_may_do_nothing_else(assembly):
    template = assembly.get_stack_by_name("Dynamic").template
    [indexing] = [r for r in template["Resources"].values() if r["Type"] == "Custom::IotFleetIndexing"]
    create = json.loads(indexing["Properties"]["Create"])
    assert create["parameters"]["thingIndexingConfiguration"] == {
        "thingIndexingMode": "REGISTRY",
        "thingConnectivityIndexingMode": "STATUS",
        "deviceDefenderIndexingMode": "OFF",
    }
    assert "Delete" not in indexing["Properties"]
    statements = [
        s
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and logical_id.startswith("Indexing")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [{"Action": "iot:UpdateIndexingConfiguration", "Effect": "Allow", "Resource": "*"}]


def test_dynamic_group_stack_is_cfn_lint_clean(assembly):
    assert cfn_lint_findings(Path(assembly.directory) / "Dynamic.template.json") == []


def test_fails_when_dynamic_group_has_no_indexing():
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup.dynamic(cdk.Stack(cdk.App(), "S"), "G", query="attributes.model:m1", indexing=None)
    assert str(raised.value) == (
        "S/G: query 'attributes.model:m1' needs fleet indexing, which is off until enabled: pass "
        "indexing=FleetIndexing(...) to enable it from this stack, or indexing=FleetIndexing.already_enabled(...) "
        "if the account has it"
    )


def test_fails_when_indexing_does_not_cover_what_the_query_reads():
    indexing = FleetIndexing.already_enabled(thing_indexing_mode=ThingIndexingMode.REGISTRY)
    query = "shadow.reported.fw:1.0 AND connectivity.connected:true AND deviceDefender.violationCount>0"
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup.dynamic(cdk.Stack(cdk.App(), "S"), "G", query=query, indexing=indexing)
    assert raised.value.problems == (
        f"query '{query}' needs fleet indexing with thing_indexing_mode REGISTRY_AND_SHADOW (the query reads "
        "shadow.*); connectivity=True (the query reads connectivity.*); device_defender_violations=True (the query "
        "reads deviceDefender.*)",
    )


def test_fails_when_query_is_empty():
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup.dynamic(cdk.Stack(cdk.App(), "S"), "G", query=" ", indexing=FleetIndexing.already_enabled())
    assert str(raised.value) == "S/G: query is empty; give a fleet-indexing query such as 'attributes.model:m1'"


def test_from_thing_group_arn_keeps_the_arn_and_reads_the_name():
    stack = cdk.Stack(cdk.App(), "S")
    arn = "arn:aws:iot:eu-west-1:111122223333:thinggroup/meters"
    group = FleetGroup.from_thing_group_arn(stack, "Meters", arn)
    assert (group.thing_group_name, group.thing_group_arn) == ("meters", arn)


def test_fails_when_the_arn_is_not_a_thing_group_arn():
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup.from_thing_group_arn(cdk.Stack(cdk.App(), "S"), "G", "arn:aws:iot:eu-west-1:111122223333:thing/x")
    assert str(raised.value) == (
        "S/G: thing_group_arn 'arn:aws:iot:eu-west-1:111122223333:thing/x' is not a thing group ARN "
        "(arn:aws:iot:<region>:<account>:thinggroup/<name>)"
    )
