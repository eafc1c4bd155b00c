"""OperationsDashboard: each widget and the metrics it reads, and that each of this library's metrics
is one the runtime publishes (its namespace and a literal metric name in the function's package)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib import DetectMode, DeviceDefender, StarterBehaviors
from constructs_lib._validation import ConstructValidationError
from constructs_lib.org import OperationsDashboard

RUNTIME = Path(__file__).resolve().parents[2] / "lambdas" / "iot_defender_runtime"
# The packages whose code publishes each namespace's metrics (remediation/: the intake both responders share).
PUBLISHERS = {
    "DeviceDefender/Quarantine": ("quarantine", "remediation"),
    "DeviceDefender/AuditRemediation": ("audit_remediation", "remediation"),
    "DeviceDefender/SelfHostedDetect": ("detect_evaluator",),
}


def _body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body as JSON, each reference shown as <LogicalId> or <LogicalId.Attribute>."""
    [dashboard] = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]

    def text(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"<{part['Ref']}>"
        return "<{}.{}>".format(*part["Fn::GetAtt"])

    return json.loads("".join(text(part) for part in parts))


def _widgets(template: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """Title -> the metric arrays of its widget (namespace, name, dimension pairs..., options)."""
    found = {}
    for widget in _body(template)["widgets"]:
        properties = widget["properties"]
        if widget["type"] == "metric":
            found[properties["title"]] = properties["metrics"]
        elif widget["type"] == "alarm":
            found[properties["title"]] = [[alarm] for alarm in properties["alarms"]]
    return found


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    """Self-hosted Detect with an emailed notification topic, and managed Detect; one synth."""
    app = cdk.App()
    for mode in (DetectMode.SELF_HOSTED, DetectMode.MANAGED):
        stack = cdk.Stack(app, f"Dashboard-{mode.value}")
        DeviceDefender(
            stack,
            "DeviceDefender",
            fleet_groups=["sensors"],
            behaviors=[StarterBehaviors.message_storm(max_messages=600), StarterBehaviors.connection_churn()],
            detect_mode=mode,
            notification_email="ops@example.com",
            dashboard=True,
        )
    assembly = app.synth()
    return {
        mode.value: assembly.get_stack_by_name(f"Dashboard-{mode.value}").template
        for mode in DetectMode
        if mode is not DetectMode.NONE
    }


def _names(metrics: list[list[Any]]) -> list[tuple[str, str]]:
    return [(m[0], m[1]) for m in metrics]


def test_quarantines_releases_held_and_breaker_widgets_read_the_responders_metrics(templates):
    # Given DeviceDefender(dashboard=True), When synthesized, Then the response widgets read these metrics
    widgets = _widgets(templates["self-hosted"])
    assert _names(widgets["Quarantines and releases"]) == [
        ("DeviceDefender/Quarantine", "Quarantines"),
        ("DeviceDefender/Quarantine", "Releases"),
        ("DeviceDefender/Quarantine", "CertificateDeactivations"),
        ("DeviceDefender/Quarantine", "DryRunDecisions"),
        ("DeviceDefender/AuditRemediation", "FindingsRemediated"),
    ]
    assert _names(widgets["Held by the breakers"]) == [
        ("DeviceDefender/Quarantine", "HeldQuarantines"),
        ("DeviceDefender/Quarantine", "BreakerTrips"),
        ("DeviceDefender/AuditRemediation", "HeldActions"),
        ("DeviceDefender/AuditRemediation", "BreakerTrips"),
    ]
    for metric in widgets["Quarantines and releases"] + widgets["Held by the breakers"]:
        assert metric[2:4] == [
            "service",
            {"DeviceDefender/Quarantine": "quarantine-responder"}.get(metric[0], "audit-remediator"),
        ]
    breakers = widgets["Breaker state (ALARM: open, actions held)"]
    assert [re.sub(r"[0-9A-F]{8}\.Arn>$", "", b[0]) for b in breakers] == [
        "<DeviceDefenderResponderBreakerTrippedAlarm",
        "<DeviceDefenderAuditRemediatorBreakerTrippedAlarm",
    ]


def test_dead_letter_queue_widget_reads_every_queue_depth_at_its_maximum(templates):
    widgets = _widgets(templates["self-hosted"])
    depths = widgets["Dead-letter queue depths"]
    assert {(m[0], m[1], m[2]) for m in depths} == {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")}
    assert [m[-1]["label"] for m in depths] == [
        "Quarantine responder",
        "Audit remediator",
        "Self-hosted Detect",
        "Undelivered notifications",
    ]
    assert {m[-1]["stat"] for m in depths} == {"Maximum"}
    assert [re.sub(r"[0-9A-F]{8}\.QueueName>$", "", m[3]) for m in depths] == [
        "<DeviceDefenderResponderDeadLetterQueue",
        "<DeviceDefenderAuditRemediatorDeadLetterQueue",
        "<DeviceDefenderSelfHostedDetectDeadLetterQueue",
        "<DeviceDefenderUndeliveredNotifications",
    ]


def test_self_hosted_widgets_read_transitions_iterator_age_and_run_time_of_the_evaluator(templates):
    widgets = _widgets(templates["self-hosted"])
    assert _names(widgets["Alarm transitions (self-hosted Detect)"]) == [
        ("DeviceDefender/SelfHostedDetect", "Transitions")
    ]
    [age] = widgets["Evaluator iterator age (how far behind the stream)"]
    assert age[:3] == ["AWS/Lambda", "IteratorAge", "FunctionName"]
    assert age[3].startswith("<DeviceDefenderSelfHostedDetectEvaluator") and age[-1]["stat"] == "Maximum"
    run_time = widgets["Evaluator run time: stream batches and the 5-minute sweep"]
    assert [(m[1], m[-1]["stat"]) for m in run_time] == [("Duration", "Maximum"), ("Duration", "p99")]
    assert "Violations by behavior (managed Detect)" not in widgets


def test_managed_widgets_read_aws_iot_violations_per_behavior_of_the_profile(templates):
    widgets = _widgets(templates["managed"])
    by_behavior = widgets["Violations by behavior (managed Detect)"]
    for metric, behavior in zip(by_behavior, ["MessageStorm", "ConnectionChurn"], strict=True):
        dimensions = dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True))
        assert metric[:2] == ["AWS/IoT", "Violations"]
        assert dimensions["BehaviorName"] == behavior
        assert dimensions["SecurityProfileName"].startswith("<DeviceDefenderSecurityProfile")
    assert _names(widgets["Violations cleared and invalidated (managed Detect)"]) == [
        ("AWS/IoT", "ViolationsCleared"),
        ("AWS/IoT", "ViolationsInvalidated"),
    ]
    assert "Alarm transitions (self-hosted Detect)" not in widgets
    assert "Evaluator iterator age (how far behind the stream)" not in widgets


def test_every_library_metric_on_the_dashboard_is_published_by_the_runtime(templates):
    # Given the runtime's sources, When each of this library's metrics on a dashboard is looked up,
    # Then its package creates Metrics(namespace=...) with that namespace and names the metric literally
    for template in templates.values():
        for metrics in _widgets(template).values():
            for namespace, name in (tuple(m[:2]) for m in metrics if len(m) > 1 and m[0] in PUBLISHERS):
                own, *shared = (_sources(package) for package in PUBLISHERS[namespace])
                assert f'Metrics(namespace="{namespace}"' in own or f'NAMESPACE = "{namespace}"' in own, namespace
                assert f'"{name}"' in own + "".join(shared), f"{namespace} {name} is published by nothing"


def _sources(package: str) -> str:
    return "".join(path.read_text() for path in sorted((RUNTIME / package).glob("*.py")))


def test_no_dashboard_by_default():
    app = cdk.App()
    stack = cdk.Stack(app, "NoDashboard")
    DeviceDefender(stack, "DeviceDefender", fleet_groups=["sensors"], notification_email="ops@example.com")
    types = {r["Type"] for r in app.synth().get_stack_by_name("NoDashboard").template["Resources"].values()}
    assert "AWS::CloudWatch::Dashboard" not in types


@pytest.fixture(scope="module")
def responder_stack():
    app = cdk.App()
    stack = cdk.Stack(app, "Bad")
    defender = DeviceDefender(stack, "DeviceDefender", fleet_groups=["sensors"], notification_email="ops@example.com")
    return stack, defender.responder


_ids = itertools.count()


def test_fails_when_dashboard_is_not_a_bool():
    app = cdk.App()
    stack = cdk.Stack(app, "BadFlag")
    with pytest.raises(ConstructValidationError, match=r"dashboard 'yes' must be True or False"):
        DeviceDefender(stack, "DeviceDefender", fleet_groups=["s"], notification_email="a@example.com", dashboard="yes")  # type: ignore[arg-type]


def test_fails_when_period_is_not_whole_minutes(responder_stack):
    stack, responder = responder_stack
    with pytest.raises(ConstructValidationError, match=r"period 1 minute 30 seconds must be a whole number of minutes"):
        OperationsDashboard(stack, f"D{next(_ids)}", quarantine_responder=responder, period=cdk.Duration.seconds(90))


def test_fails_when_a_dead_letter_queue_is_not_a_queue(responder_stack):
    stack, responder = responder_stack
    with pytest.raises(ConstructValidationError, match=r"dead_letter_queues\['mine'\] 'q' must be an sqs.IQueue"):
        OperationsDashboard(stack, f"D{next(_ids)}", quarantine_responder=responder, dead_letter_queues={"mine": "q"})  # type: ignore[dict-item]


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=0, max_size=300).filter(lambda s: re.fullmatch(r"[A-Za-z0-9_-]{1,255}", s) is None))
def test_fails_when_dashboard_name_is_not_allowed(responder_stack, name):
    stack, responder = responder_stack
    with pytest.raises(ConstructValidationError) as raised:
        OperationsDashboard(stack, f"D{next(_ids)}", quarantine_responder=responder, dashboard_name=name)
    assert raised.value.problems == (f"dashboard_name {name!r} must be 1 to 255 characters of [A-Za-z0-9_-]",)


def test_an_allowed_dashboard_name_is_the_dashboards_name(responder_stack):
    stack, responder = responder_stack
    board = OperationsDashboard(stack, f"D{next(_ids)}", quarantine_responder=responder, dashboard_name="iot-ops_1")
    assert stack.resolve(board.dashboard.node.default_child.dashboard_name) == "iot-ops_1"  # type: ignore[union-attr]


def test_self_hosted_violations_by_behavior_and_the_sweep_duration(templates):
    # Given self-hosted Detect with two behaviors, When synthesized, Then one in-alarm line per behavior,
    # with the dimensions the evaluator publishes Violations with, and the sweep's run time
    widgets = _widgets(templates["self-hosted"])
    lines = widgets["Violations by behavior (self-hosted Detect)"]
    assert [(m[0], m[1]) for m in lines] == [("DeviceDefender/SelfHostedDetect", "Violations")] * 2
    for metric in lines:
        dimensions = dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True))
        assert dimensions["EventType"] == "in-alarm" and dimensions["service"] == "detect-evaluator"
        assert dimensions["SecurityProfileName"] == "self-hosted"
    assert sorted(dict(zip(m[2:-1:2], m[3:-1:2], strict=True))["BehaviorName"] for m in lines) == sorted(
        b.name for b in (StarterBehaviors.message_storm(max_messages=600), StarterBehaviors.connection_churn())
    )
    [sweep] = widgets["Sweep duration per run (coordinator and each segment)"]
    assert sweep[:2] == ["DeviceDefender/SelfHostedDetect", "SweepDuration"] and sweep[-1]["stat"] == "Maximum"
