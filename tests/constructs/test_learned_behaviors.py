"""SelfHostedDetect with learned (ML) behaviors: the daily trainer function with its EventBridge schedule,
least-privilege IAM (the history's query grant, the state table's model items only), its alarm; nag and
cfn-lint clean; ML behaviors without the history fail at synth with the behavior named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_lib import AlertTopic, ConstructValidationError, SelfHostedDetect, StarterBehaviors, apply_nag_packs
from constructs_lib.detect.behavior import Behavior
from constructs_lib.synth_report import cfn_lint_findings
from tests.synth.templates import of_type

CONTEXT = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("learned")), context=CONTEXT)
    stack = cdk.Stack(app, "Learned")
    SelfHostedDetect(
        stack,
        "Detect",
        behaviors=[
            StarterBehaviors.message_storm(),
            Behavior.ml("LearnedMessages", metric="aws:num-messages-sent"),
            Behavior.ml("LearnedBytesOut", metric="aws:all-bytes-out", confidence="LOW"),
        ],
        alert_topic=AlertTopic(stack, "Alerts"),
        history=True,
    )
    apply_nag_packs(app)
    assembly = app.synth()  # raises on any unacknowledged AwsSolutions or Serverless finding
    assert cfn_lint_findings(Path(assembly.directory) / "Learned.template.json") == []
    return assembly.get_stack_by_name("Learned").template


def trainer(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(key, function)] = [
        (k, f) for k, f in of_type(template, "AWS::Lambda::Function").items() if "BehaviorTrainer" in k
    ]
    return key, function["Properties"]


def test_the_trainer_runs_daily_from_an_eventbridge_schedule(template):
    key, _ = trainer(template)
    [rule] = [
        r["Properties"]
        for r in of_type(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [key, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert rule["ScheduleExpression"] == "cron(20 0 * * ? *)"
    [target] = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2} and "DeadLetterConfig" in target


def test_the_trainer_reads_the_history_and_the_profiles(template):
    _, function = trainer(template)
    variables = function["Environment"]["Variables"]
    assert set(variables) >= {
        "STATE_TABLE_NAME",
        "DETECT_PROFILES",
        "HISTORY_WORKGROUP",
        "HISTORY_DATABASE",
        "HISTORY_TABLE",
    }
    assert "LearnedMessages" in str(variables["DETECT_PROFILES"])
    assert function["Handler"].endswith("behavior_trainer.handler.lambda_handler")
    assert function["ReservedConcurrentExecutions"] == 1 and function["Timeout"] == 900


def statements_of(template: dict[str, Any], function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_trainer_may_touch_only_the_model_items_and_query_only_the_history(template):
    _, function = trainer(template)
    statements = statements_of(template, function)
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in actions)
    wildcard = [sorted(s["Action"]) for s in statements if s["Resource"] == "*"]
    assert wildcard == [["xray:PutTelemetryRecords", "xray:PutTraceSegments"]]  # no resource-level permissions
    [models] = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert sorted(models["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    assert models["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["learned#*"]}}
    athena = [s for s in statements if "athena:StartQueryExecution" in s["Action"]]
    assert len(athena) == 1 and "workgroup/" in str(athena[0]["Resource"])
    assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "sns:Publish", "firehose:PutRecordBatch"} & actions


def test_training_failures_alarm_notifies(template):
    [alarm] = [
        a["Properties"] for k, a in of_type(template, "AWS::CloudWatch::Alarm").items() if "TrainingFailures" in k
    ]
    assert alarm["MetricName"] == "TrainingFailures" and alarm["AlarmActions"]


def test_no_trainer_without_learned_behaviors():
    stack = cdk.Stack(cdk.App(), "Plain")
    detect = SelfHostedDetect(
        stack, "Detect", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A"), history=True
    )
    assert detect.trainer is None


def test_fails_when_ml_behaviors_are_given_without_the_history():
    stack = cdk.Stack(cdk.App(), "NoHistory")
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(
            stack,
            "Detect",
            behaviors=[Behavior.ml("LearnedMessages", metric="aws:num-messages-sent")],
            alert_topic=AlertTopic(stack, "A"),
        )
    assert raised.value.problems == (
        "behavior 'LearnedMessages' is an ML behavior: its model is trained on the window history, so pass "
        "history=True (or WindowHistoryOptions(...)), or use managed Detect",
    )


@pytest.mark.parametrize(("days", "ok"), [(7, False), (14, False), (15, True), (30, True)])
def test_ml_behaviors_need_a_history_that_keeps_their_14_days(days: int, ok: bool):
    from aws_cdk import Duration

    from constructs_lib import WindowHistoryOptions

    stack = cdk.Stack(cdk.App(), f"Keep{days}")

    def build() -> None:
        SelfHostedDetect(
            stack,
            "Detect",
            behaviors=[Behavior.ml("LearnedMessages", metric="aws:num-messages-sent")],
            alert_topic=AlertTopic(stack, "A"),
            history=WindowHistoryOptions(retention=Duration.days(days)),
        )

    if ok:
        build()
        return
    with pytest.raises(ConstructValidationError) as raised:
        build()
    assert raised.value.problems == (
        f"history retention {days} days is too short for ML behaviors (LearnedMessages): their models are trained "
        "on the trailing 14 days, so keep at least 15 days",
    )


def test_device_defender_self_hosted_takes_ml_behaviors_with_history_and_trainer():
    from constructs_lib import DetectMode, DeviceDefender

    stack = cdk.Stack(cdk.App(), "Defender")
    defender = DeviceDefender(
        stack,
        "Defender",
        fleet_groups=["sensors"],
        notification_email="secops@example.com",
        detect_mode=DetectMode.SELF_HOSTED,
        behaviors=[Behavior.ml("LearnedMessages", metric="aws:num-messages-sent")],
    )
    detect = defender.self_hosted_detect
    assert detect is not None and detect.history is not None and detect.trainer is not None
