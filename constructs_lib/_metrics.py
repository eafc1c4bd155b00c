"""Metrics the functions of this pack publish with Powertools Metrics, as typed ``metric_*()``
methods take them: every ``cloudwatch.MetricOptions`` field as a keyword, as aws-cdk's own
``metric_*()`` methods do (``queue.metric_number_of_messages_sent(period=..., statistic=...)``)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from typing_extensions import TypedDict

from constructs_lib._validation import check_duration

DEFAULT_PERIOD = Duration.minutes(5)


class MetricOptions(TypedDict, total=False):
    """The fields of ``aws_cloudwatch.MetricOptions``, as keywords."""

    account: str
    color: str
    dimensions_map: Mapping[str, str]
    id: str
    label: str
    period: Duration
    region: str
    stack_account: str
    stack_region: str
    statistic: str
    unit: cloudwatch.Unit
    visible: bool


def service_metric(namespace: str, service: str, name: str, options: MetricOptions) -> cloudwatch.Metric:
    """A function's metric (dimension ``service``). Default: the Sum over 5 minutes; ``options`` override."""
    problems: list[str] = []
    period = options.get("period")
    if period is not None and not check_duration("period", period, problems):
        raise TypeError(f"metric {name}: {problems[0]}")
    metric = cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"service": service},
        statistic="Sum",
        period=DEFAULT_PERIOD,
    )
    # ``with_`` keeps what a None option leaves out, and returns the metric itself when nothing changes.
    return metric.with_(**options) if options else metric
