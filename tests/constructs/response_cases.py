"""Checks the tests of both response constructs (``QuarantineResponder``, ``AuditRemediator``) make
alike: their ``metric_*()`` methods, the metric names their functions publish, and the deprecation
warnings of their renamed keywords."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

REPO = Path(__file__).resolve().parents[2]
BATCH_INTAKE = REPO / "lambdas/iot_defender_runtime/remediation/batch_intake.py"  # publishes for both functions


def assert_metric_method(
    construct: object, method: str, name: str, *, namespace: str, service: str, tuned_period: cdk.Duration
) -> cloudwatch.Metric:
    """``construct.<method>()`` is the function's metric ``name``, and takes every ``MetricOptions`` keyword."""
    # Given no options, Then the Sum over 5 minutes of the function's metric (dimension service)
    metric = getattr(construct, method)()
    assert (metric.namespace, metric.metric_name, metric.dimensions) == (namespace, name, {"service": service})
    assert (metric.statistic, metric.period.to_minutes()) == ("Sum", 5)
    # Given any MetricOptions keywords, Then they override the defaults and keep the metric
    tuned = getattr(construct, method)(period=tuned_period, statistic="Maximum", label="tuned")
    assert (tuned.namespace, tuned.metric_name, tuned.dimensions) == (metric.namespace, name, metric.dimensions)
    assert (tuned.statistic, tuned.period.to_minutes(), tuned.label) == (
        "Maximum",
        tuned_period.to_minutes(),
        "tuned",
    )
    return metric


def published_metric_names(*sources: Path) -> set[str]:
    """The names the sources publish with Powertools Metrics (``add_metric(name="...")``)."""
    return {name for path in sources for name in re.findall(r'add_metric\(name="(\w+)"', path.read_text())}


def assert_warned(caught: list[warnings.WarningMessage], messages: list[str], *, at: str) -> None:
    """Exactly these deprecation messages (in any order), each pointing at the caller's file ``at``
    (not at the library)."""
    assert sorted(str(w.message) for w in caught) == messages
    assert {w.filename for w in caught} == {at}
