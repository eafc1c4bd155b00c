"""The metric catalog holds every metric the developer guide lists, with the documented rules."""

from __future__ import annotations

from iot_defender_runtime.model.metric_catalog import (
    AWS_METRICS,
    METRICS,
    CustomMetricType,
    DurationRule,
    MetricSource,
    ValueKind,
    custom_metric_spec,
)

CLOUD_SIDE = {
    "aws:message-byte-size",
    "aws:num-messages-sent",
    "aws:num-messages-received",
    "aws:num-authorization-failures",
    "aws:source-ip-address",
    "aws:num-connection-attempts",
    "aws:num-disconnects",
    "aws:disconnect-duration",
}
DEVICE_SIDE = {
    "aws:all-bytes-out",
    "aws:all-bytes-in",
    "aws:all-packets-out",
    "aws:all-packets-in",
    "aws:num-listening-tcp-ports",
    "aws:num-listening-udp-ports",
    "aws:num-established-tcp-connections",
    "aws:destination-ip-addresses",
    "aws:listening-tcp-ports",
    "aws:listening-udp-ports",
}
# "ML Detect" page: supported metrics.
ML = {
    "aws:num-authorization-failures",
    "aws:num-connection-attempts",
    "aws:num-disconnects",
    "aws:message-byte-size",
    "aws:num-messages-sent",
    "aws:num-messages-received",
    "aws:all-bytes-out",
    "aws:all-bytes-in",
    "aws:num-listening-tcp-ports",
    "aws:num-listening-udp-ports",
    "aws:all-packets-out",
    "aws:all-packets-in",
    "aws:num-established-tcp-connections",
}


def test_every_documented_metric_is_in_the_catalog_once():
    assert len(AWS_METRICS) == len(METRICS)
    assert {m.name for m in AWS_METRICS if m.source is MetricSource.CLOUD} == CLOUD_SIDE
    assert {m.name for m in AWS_METRICS if m.source is MetricSource.DEVICE} == DEVICE_SIDE


def test_ml_support_matches_the_ml_detect_page():
    assert {m.name for m in AWS_METRICS if m.ml} == ML


def test_value_kinds_of_set_metrics():
    kinds = {m.name: m.value_kind for m in AWS_METRICS if m.value_kind is not ValueKind.COUNT}
    assert kinds == {
        "aws:source-ip-address": ValueKind.CIDRS,
        "aws:destination-ip-addresses": ValueKind.CIDRS,
        "aws:listening-tcp-ports": ValueKind.PORTS,
        "aws:listening-udp-ports": ValueKind.PORTS,
    }
    assert not any(METRICS[name].statistical for name in kinds)


def test_periodic_metrics_need_a_duration_and_per_message_ones_refuse_it():
    assert METRICS["aws:num-messages-sent"].duration is DurationRule.REQUIRED
    assert METRICS["aws:message-byte-size"].duration is DurationRule.NONE
    assert METRICS["aws:num-established-tcp-connections"].duration is DurationRule.OPTIONAL


def test_custom_metrics_never_take_dimensions_and_only_numbers_take_percentiles_and_ml():
    specs = {t: custom_metric_spec("m", t) for t in CustomMetricType}
    assert not any(spec.dimensions for spec in specs.values())
    assert [t for t, spec in specs.items() if spec.statistical] == [CustomMetricType.NUMBER]
    assert [t for t, spec in specs.items() if spec.ml] == [CustomMetricType.NUMBER]
    assert specs[CustomMetricType.IP_ADDRESS_LIST].value_kind is ValueKind.CIDRS
