"""Device Defender agent reports as datapoints: the guide's own examples and the official agent's
reports (long and short names, custom metrics, IPv6 peers) give exactly their datapoints, and every
rule of the device metrics document specification refuses a report with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iot_defender_runtime.detect_evaluator.agent_report import is_report, report_datapoints

FIXTURES = Path(__file__).parents[1] / "fixtures" / "agent_reports"

GUIDE = {
    "aws:listening-tcp-ports": [24800, 22, 53],
    "aws:num-listening-tcp-ports": 3,
    "aws:listening-udp-ports": [5353, 67],
    "aws:num-listening-udp-ports": 2,
    "aws:num-established-tcp-connections": 2,
    "aws:destination-ip-addresses": ["192.168.0.1", "192.168.0.1"],
}
AGENT_CONNECTIONS = {
    "aws:num-established-tcp-connections": 3,
    "aws:destination-ip-addresses": ["203.0.113.9", "2001:db8::1", "::1"],
    "aws:listening-tcp-ports": [22, 8883],
    "aws:num-listening-tcp-ports": 2,
    "aws:listening-udp-ports": [5353],
    "aws:num-listening-udp-ports": 1,
    "cpu_usage": 12.5,
}
EXPECTED = {
    "guide_long.json": {
        **GUIDE,
        "aws:all-bytes-in": 29358693495,
        "aws:all-bytes-out": 26485035,
        "aws:all-packets-in": 10013573555,
        "aws:all-packets-out": 11382615,
    },
    "guide_short.json": {
        **GUIDE,
        "aws:all-bytes-in": 29359307173,
        "aws:all-bytes-out": 26490711,
        "aws:all-packets-in": 10014614051,
        "aws:all-packets-out": 11387620,
    },
    "agent_sdk_long.json": {
        **AGENT_CONNECTIONS,
        "aws:all-bytes-in": 100000,
        "aws:all-bytes-out": 50000,
        "aws:all-packets-in": 1000,
        "aws:all-packets-out": 500,
    },
    "agent_sdk_short.json": AGENT_CONNECTIONS,
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_each_real_report_gives_exactly_its_datapoints(fixture: str):
    report = json.loads((FIXTURES / fixture).read_text())
    pairs = report_datapoints(report)
    assert is_report(report)
    assert len(pairs) == len({metric for metric, _ in pairs})  # one datapoint per metric
    assert dict(pairs) == EXPECTED[fixture]


def test_a_report_of_a_header_and_custom_metrics_only_is_taken_in_both_forms():
    custom = {
        "battery": [{"number": 37}],
        "cpu_loads": [{"number_list": [0.5, 1]}],
        "ssids": [{"string_list": ["home", "café"]}],
        "peers": [{"ip_list": ["172.0.0.10", "2001:db8::7"]}],
    }
    expected = {
        "battery": 37.0,
        "cpu_loads": [0.5, 1.0],
        "ssids": ["home", "café"],
        "peers": ["172.0.0.10", "2001:db8::7"],
    }
    assert dict(report_datapoints({"header": {"report_id": 1, "version": "1.0"}, "custom_metrics": custom})) == expected
    assert dict(report_datapoints({"hed": {"rid": 1, "v": "1.0"}, "cmet": custom})) == expected


def test_a_block_the_report_leaves_out_gives_no_datapoint_and_unknown_fields_are_ignored():
    report = {"hed": {"rid": 2, "v": "1.1"}, "met": {"ns": {"bo": 10}, "future_block": {"x": 1}}, "extra": True}
    assert report_datapoints(report) == [("aws:all-bytes-out", 10)]


def test_a_datapoint_record_is_not_a_report():
    assert not is_report({"thingName": "t", "metric": "aws:num-messages-sent", "value": 1})


def _report(**metrics: Any) -> dict[str, Any]:
    return {"header": {"report_id": 1, "version": "1.0"}, "metrics": metrics}


def _custom(entries: Any, name: str = "battery") -> dict[str, Any]:
    return {"hed": {"rid": 1, "v": "1.0"}, "cmet": {name: entries}}


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({"header": {"report_id": 1, "version": "1.0"}}, "carries metrics, custom_metrics or both"),
        ({"hed": {"rid": 1}, "met": {}}, r"header: 'version' \('v'\) is required"),
        ({"hed": {"v": "1.0"}, "met": {}}, r"'report_id' \('rid'\) is required"),
        ({"hed": {"rid": "1", "v": "1.0"}, "met": {}}, "header.report_id: a count is an integer"),
        ({"hed": {"rid": 1, "v": "one"}, "met": {}}, "'Major.Minor' string"),
        ({"hed": [], "met": {}}, "header: an object is required, got list"),
        ({"header": {"report_id": 1, "version": "1.0"}, "hed": {}, "met": {}}, "both 'header' and its short name"),
        (_report(network_stats={"bytes_out": "lots"}), "network_stats.bytes_out: a count .* got 'lots'"),
        (_report(network_stats={"bytes_in": -5}), "network_stats.bytes_in: .* got -5"),
        (_report(network_stats={"packets_in": 1.5}), "network_stats.packets_in"),
        (_report(network_stats={"packets_out": float("inf")}), "network_stats.packets_out"),
        (_report(listening_tcp_ports={"ports": [{"port": "22"}]}), r"listening_tcp_ports.ports\[0\].port: .* '22'"),
        (_report(listening_udp_ports={"pts": [{"pt": 70000}]}), "got 70000"),
        (_report(listening_tcp_ports={"ports": [{"port": True}]}), "got bool"),
        (_report(listening_tcp_ports={"ports": [{"port": 22, "interface": 7}]}), "interface: a string is required"),
        (_report(listening_tcp_ports={"ports": {"port": 22}}), "listening_tcp_ports.ports: a list is required"),
        (_report(listening_tcp_ports={"total": -1}), "listening_tcp_ports.total"),
        (_report(tcp_connections={"established_connections": {"connections": [{}]}}), "'remote_addr'"),
        (_report(tcp_connections={"ec": {"cs": [{"rad": "example.com:443"}]}}), "remote_addr: 'example.com"),
        (_report(tcp_connections={"ec": {"cs": [{"rad": "[2001:db8::1]:65536"}]}}), "port 65536"),
        (_report(tcp_connections={"ec": {"cs": [{"rad": "10.0.0.1:1", "lp": -1}]}}), "local_port"),
        (_report(tcp_connections={"ec": {"t": "2"}}), "established_connections.total"),
        (_custom([{"number": [1]}]), "custom_metrics.battery.number: a number is required, got list"),
        (_custom([{"number": "full"}]), "got 'full'"),
        (_custom([{"number": 1e400}]), "not a finite number"),
        (_custom([{"number_list": [1, "2"]}]), "custom_metrics.battery.number_list"),
        (_custom([{"number_list": 1}]), "number_list: a list is required"),
        (_custom([{"string_list": [1]}]), "string_list: a string is required"),
        (_custom([{"ip_list": ["300.1.1.1"]}]), "ip_list"),
        (_custom([{"number": 1}, {"number": 2}]), "a list of one value object is required, got 2"),
        (_custom([{"number": 1, "number_list": [1]}]), "exactly one of number"),
        (_custom([{}]), "exactly one of number"),
        (_custom({"number": 1}), "custom_metrics.battery: a list is required"),
        (_custom([{"number": 1}], name="aws:battery"), "not beginning with aws:"),
        (_custom([{"number": 1}], name="bat tery"), "name 'bat tery'"),
        (_custom([{"number": 1}], name="b" * 129), "name of 129 characters"),
        ({"hed": {"rid": 1, "v": "1.0"}, "cmet": []}, "custom_metrics: an object is required"),
    ],
)
def test_fails_when_the_report_breaks_the_specification_and_says_where(report: dict[str, Any], reason: str):
    with pytest.raises(ValueError, match=reason):
        report_datapoints(report)
