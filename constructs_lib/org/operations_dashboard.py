"""OperationsDashboard: one CloudWatch dashboard for the operators of a Device Defender setup.

Every widget reads a metric something publishes: the functions' Powertools metrics (through the
constructs' own ``metric_*()`` methods, so namespace, name and ``service`` dimension are the ones the
runtime writes), the Lambda and SQS metrics AWS publishes for the functions and queues, and, for
managed Detect, the ``Violations`` metrics AWS IoT publishes per security profile and behavior
(namespace ``AWS/IoT``, dimensions ``SecurityProfileName`` and ``BehaviorName``:
https://docs.aws.amazon.com/iot/latest/developerguide/metrics_dimensions.html, "Device defender
detect metrics").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._metrics import service_metric
from constructs_lib._validation import check_duration, raise_if_any
from constructs_lib.detect.security_profile import SecurityProfile
from constructs_lib.detect.self_hosted_detect import METRICS_NAMESPACE, SERVICE, SelfHostedDetect
from constructs_lib.response.audit_remediator import AuditRemediator
from constructs_lib.response.quarantine_responder import QuarantineResponder

# Managed Detect's metrics (AWS IoT metrics and dimensions, "Device defender detect metrics").
IOT_NAMESPACE = "AWS/IoT"
MANAGED_VIOLATION_METRICS = ("Violations", "ViolationsCleared", "ViolationsInvalidated")
WIDTH = 24  # the dashboard grid is 24 columns wide
_DASHBOARD_NAME = r"^[A-Za-z0-9_-]{1,255}$"  # PutDashboard: "A-Z, a-z, 0-9, '-' and '_'", up to 255


class OperationsDashboard(Construct):
    """A CloudWatch dashboard: violations (by behavior under managed Detect; alarm transitions under
    self-hosted Detect), quarantines and releases, held actions and the breakers, dead-letter queue
    depths, and the self-hosted evaluator's iterator age and run time.

    Rows appear only for the parts given: the quarantine responder always, the audit remediator,
    self-hosted Detect and a managed security profile when passed.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        quarantine_responder: QuarantineResponder,
        audit_remediator: AuditRemediator | None = None,
        self_hosted_detect: SelfHostedDetect | None = None,
        security_profile: SecurityProfile | None = None,
        dead_letter_queues: Mapping[str, sqs.IQueue] | None = None,
        dashboard_name: str | None = None,
        period: Duration | None = None,
    ) -> None:
        """
        :param quarantine_responder: its quarantines, releases, held quarantines, breaker and dead-letter queue.
        :param audit_remediator: its remediated findings, held actions, breaker and dead-letter queue. Default: none.
        :param self_hosted_detect: its alarm transitions, dead-letter queue, iterator age and run time. Default: none.
        :param security_profile: a managed Detect profile: its violations per behavior. Default: none.
        :param dead_letter_queues: more queues whose depth operators watch, by label. Default: none.
        :param dashboard_name: 1 to 255 of ``[A-Za-z0-9_-]``. Default: a name CloudFormation generates.
        :param period: the period of every graph. Default: 5 minutes.
        """
        super().__init__(scope, id)
        period = period if period is not None else Duration.minutes(5)
        _validate(self, quarantine_responder, dashboard_name, period, dead_letter_queues or {})
        self.period = period
        self.dashboard = cloudwatch.Dashboard(
            self, "Resource", dashboard_name=dashboard_name, default_interval=Duration.hours(6)
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown="# IoT Device Defender operations\nViolations, quarantines, breakers and backlogs.",
                width=WIDTH,
                height=2,
            )
        )
        self._violations(self_hosted_detect, security_profile)
        self._responses(quarantine_responder, audit_remediator)
        self._backlogs(quarantine_responder, audit_remediator, self_hosted_detect, dead_letter_queues or {})
        if self_hosted_detect is not None:
            self._evaluator(self_hosted_detect)

    def _graph(self, title: str, metrics: Sequence[cloudwatch.IMetric], *, width: int = 12) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6, period=self.period)

    def _violations(self, detect: SelfHostedDetect | None, profile: SecurityProfile | None) -> None:
        """Managed Detect per behavior (AWS IoT's metrics); self-hosted Detect per behavior (the evaluator's
        ``Violations`` by profile, behavior and event type) and all its transitions."""
        if profile is not None:
            name = profile.resource.ref  # Ref of AWS::IoT::SecurityProfile is its name
            self.dashboard.add_widgets(
                self._graph(
                    "Violations by behavior (managed Detect)",
                    [_managed_metric("Violations", name, b.name) for b in profile.behaviors],
                ),
                self._graph(
                    "Violations cleared and invalidated (managed Detect)",
                    [_managed_metric(metric, name) for metric in MANAGED_VIOLATION_METRICS[1:]],
                ),
            )
        if detect is not None:
            self.dashboard.add_widgets(
                self._graph(
                    "Violations by behavior (self-hosted Detect)",
                    [
                        _self_hosted_violations(profile.name, behavior.name)
                        for profile in detect.profiles
                        for behavior in profile.behaviors
                    ],
                ),
                self._graph(
                    "Alarm transitions (self-hosted Detect)",
                    [detect.metric_transitions(label="Violations, clears and invalidations")],
                ),
            )

    def _responses(self, responder: QuarantineResponder, remediator: AuditRemediator | None) -> None:
        """What the functions did, what the breakers held, and whether a breaker is open now."""
        acted = [
            responder.metric_quarantines(label="Quarantines"),
            responder.metric_releases(label="Releases"),
            responder.metric_certificate_deactivations(label="Certificate deactivations"),
            responder.metric_dry_run_decisions(label="Dry-run decisions"),
        ]
        held = [
            responder.metric_held_quarantines(label="Held quarantines"),
            responder.metric_breaker_trips(label="Quarantine breaker trips"),
        ]
        breakers = [responder.breaker_alarm]
        if remediator is not None:
            acted.append(remediator.metric_findings_remediated(label="Audit findings remediated"))
            held += [
                remediator.metric_held_actions(label="Held audit actions"),
                remediator.metric_breaker_trips(label="Audit breaker trips"),
            ]
            breakers.append(remediator.breaker_alarm)
        self.dashboard.add_widgets(
            self._graph("Quarantines and releases", acted), self._graph("Held by the breakers", held)
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Breaker state (ALARM: open, actions held)", alarms=breakers, width=WIDTH, height=3
            )
        )

    def _backlogs(
        self,
        responder: QuarantineResponder,
        remediator: AuditRemediator | None,
        detect: SelfHostedDetect | None,
        more: Mapping[str, sqs.IQueue],
    ) -> None:
        """The deepest each dead-letter queue was in the period: anything above zero needs a look."""
        queues: dict[str, sqs.IQueue] = {"Quarantine responder": responder.dead_letter_queue}
        if remediator is not None:
            queues["Audit remediator"] = remediator.dead_letter_queue
        if detect is not None:
            queues["Self-hosted Detect"] = detect.dead_letter_queue
        queues.update(more)
        self.dashboard.add_widgets(
            self._graph(
                "Dead-letter queue depths",
                [
                    queue.metric_approximate_number_of_messages_visible(label=label, statistic="Maximum")
                    for label, queue in queues.items()
                ],
                width=WIDTH,
            )
        )

    def _evaluator(self, detect: SelfHostedDetect) -> None:
        """How far behind the stream the evaluator reads, and how long its runs (batches and the sweep) take."""
        timeout = detect.function.timeout
        run_time = cloudwatch.GraphWidget(
            title="Evaluator run time: stream batches and the 5-minute sweep",
            left=[
                detect.function.metric_duration(label="Maximum", statistic="Maximum"),
                detect.function.metric_duration(label="p99", statistic="p99"),
            ],
            left_annotations=(
                [cloudwatch.HorizontalAnnotation(value=timeout.to_milliseconds(), label="Timeout")] if timeout else None
            ),
            width=12,
            height=6,
            period=self.period,
        )
        sweep = self._graph(
            "Sweep duration per run (coordinator and each segment)",
            [service_metric(METRICS_NAMESPACE, SERVICE, "SweepDuration", {"statistic": "Maximum", "label": "Maximum"})],
            width=WIDTH,
        )
        self.dashboard.add_widgets(
            self._graph(
                "Evaluator iterator age (how far behind the stream)",
                [detect.function.metric("IteratorAge", label="Maximum", statistic="Maximum")],
            ),
            run_time,
        )
        self.dashboard.add_widgets(sweep)


def _self_hosted_violations(profile_name: str, behavior: str) -> cloudwatch.Metric:
    """The evaluator's ``in-alarm`` violations of one behavior; the Sum per period."""
    dimensions = {
        "service": SERVICE,
        "SecurityProfileName": profile_name,
        "BehaviorName": behavior,
        "EventType": "in-alarm",
    }
    return service_metric(
        METRICS_NAMESPACE, SERVICE, "Violations", {"dimensions_map": dimensions, "label": f"{profile_name}/{behavior}"}
    )


def _managed_metric(name: str, profile_name: str, behavior: str | None = None) -> cloudwatch.Metric:
    """A managed Detect metric of AWS IoT, for the profile or one of its behaviors; the Sum per period."""
    dimensions = {"SecurityProfileName": profile_name}
    if behavior is not None:
        dimensions["BehaviorName"] = behavior
    return cloudwatch.Metric(
        namespace=IOT_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic="Sum",
        label=behavior or name,
    )


def _validate(
    dashboard: OperationsDashboard,
    responder: QuarantineResponder,
    dashboard_name: str | None,
    period: Duration,
    dead_letter_queues: Mapping[str, sqs.IQueue],
) -> None:
    problems: list[str] = []
    if not isinstance(responder, QuarantineResponder):
        problems.append(f"quarantine_responder {responder!r} must be a QuarantineResponder")
    if dashboard_name is not None and not (
        isinstance(dashboard_name, str) and re.match(_DASHBOARD_NAME, dashboard_name)
    ):
        problems.append(f"dashboard_name {dashboard_name!r} must be 1 to 255 characters of [A-Za-z0-9_-]")
    if check_duration("period", period, problems) and period.to_seconds() % 60:
        problems.append(f"period {period.to_human_string()} must be a whole number of minutes")
    for label, queue in dead_letter_queues.items():
        if not hasattr(queue, "metric_approximate_number_of_messages_visible"):
            problems.append(f"dead_letter_queues['{label}'] {queue!r} must be an sqs.IQueue")
    raise_if_any(dashboard, problems)


__all__ = ["IOT_NAMESPACE", "MANAGED_VIOLATION_METRICS", "OperationsDashboard"]
