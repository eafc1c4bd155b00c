"""SelfHostedDetect(max_sweep_segments=...): the sweep's fan-out wiring (the coordinator may invoke the
evaluator alone and read the table's size), cdk-nag and cfn-lint clean; and the argument's validation."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import AlertTopic, ConstructValidationError, SelfHostedDetect, StarterBehaviors, apply_nag_packs
from constructs_lib.synth_report import cfn_lint_findings


def _detect(stack: cdk.Stack, **kwargs) -> SelfHostedDetect:
    return SelfHostedDetect(
        stack,
        "Detect",
        alert_topic=AlertTopic(stack, "Alerts"),
        behaviors=[StarterBehaviors.message_storm(max_messages=100)],
        **kwargs,
    )


@pytest.fixture(scope="module")
def fanned_out(tmp_path_factory) -> Template:
    # Given a fleet sized for 50 sweep segments, synthesized with the nag packs
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("sweep_segments")))
    stack = cdk.Stack(app, "Segments")
    _detect(stack, max_sweep_segments=50, reserved_concurrency=80)
    apply_nag_packs(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag error
    assert cfn_lint_findings(Path(assembly.directory) / "Segments.template.json") == []
    return Template.from_json(assembly.get_stack_by_name("Segments").template)


def _evaluator(template: Template) -> tuple[str, dict]:
    [(name, function)] = [
        (name, function)
        for name, function in template.find_resources("AWS::Lambda::Function").items()
        if "SWEEP_MAX_SEGMENTS" in function["Properties"].get("Environment", {}).get("Variables", {})
    ]
    return name, function


def test_the_coordinator_may_invoke_the_evaluator_and_nothing_else(fanned_out):
    name, function = _evaluator(fanned_out)
    [policy] = [
        r for k, r in fanned_out.find_resources("AWS::IAM::Policy").items() if k.startswith("DetectSweepFanOutPolicy")
    ]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [name, "Arn"]}}
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}]


def test_the_coordinator_reads_the_table_size_and_the_evaluator_knows_its_limit(fanned_out):
    _, function = _evaluator(fanned_out)
    assert function["Properties"]["Environment"]["Variables"]["SWEEP_MAX_SEGMENTS"] == "50"
    granted = [
        action
        for policy in fanned_out.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    assert "dynamodb:DescribeTable" in granted


def test_one_segment_adds_no_invoke_permission():
    stack = cdk.Stack(cdk.App(), "S")
    _detect(stack)
    template = Template.from_stack(stack)
    assert not [k for k in template.find_resources("AWS::IAM::Policy") if "SweepFanOut" in k]
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": cdk.assertions.Match.object_like({"SWEEP_MAX_SEGMENTS": "1"})}},
    )


@pytest.mark.parametrize("segments", [0, 1001, 2.5, True])
def test_fails_when_max_sweep_segments_is_out_of_range(segments):
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        _detect(stack, max_sweep_segments=segments)
    assert str(raised.value) == f"S/Detect: max_sweep_segments {segments!r} must be an integer from 1 to 1000"


def test_fails_when_max_sweep_segments_leaves_no_concurrency_for_the_shards():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        _detect(stack, max_sweep_segments=10, reserved_concurrency=10)
    assert str(raised.value) == (
        "S/Detect: max_sweep_segments 10 must be less than reserved_concurrency 10, so the stream's shards keep "
        "at least one concurrent run while every segment runs"
    )
