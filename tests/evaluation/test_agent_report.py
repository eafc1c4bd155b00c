"""Device Defender agent reports, long and short field names, as datapoints."""

from __future__ import annotations

from lambdas.detect_evaluator.agent_report import is_report, report_datapoints

LONG = {
    "header": {"report_id": 1530304554, "version": "1.0"},
    "metrics": {
        "listening_tcp_ports": {"ports": [{"interface": "eth0", "port": 24800}, {"port": 22}], "total": 2},
        "network_stats": {"bytes_in": 29152, "bytes_out": 26160, "packets_in": 220, "packets_out": 263},
        "tcp_connections": {
            "established_connections": {"connections": [{"remote_addr": "192.168.0.1:8000"}], "total": 1}
        },
    },
    "custom_metrics": {"battery_percent": [{"number": 37}], "wifi_ssids": [{"string_list": ["home"]}]},
}
SHORT = {"hed": {"rid": 1, "v": "1.0"}, "met": {"up": {"pts": [{"pt": 5353}], "t": 1}, "ns": {"bi": 10}}}


def test_long_names_give_one_datapoint_per_metric():
    assert is_report(LONG)
    assert dict(report_datapoints(LONG)) == {
        "aws:all-bytes-in": 29152,
        "aws:all-bytes-out": 26160,
        "aws:all-packets-in": 220,
        "aws:all-packets-out": 263,
        "aws:listening-tcp-ports": [24800, 22],
        "aws:num-listening-tcp-ports": 2,
        "aws:num-established-tcp-connections": 1,
        "aws:destination-ip-addresses": ["192.168.0.1"],
        "battery_percent": 37.0,
        "wifi_ssids": ["home"],
    }


def test_short_names_and_missing_blocks():
    assert is_report(SHORT)
    assert dict(report_datapoints(SHORT)) == {
        "aws:listening-udp-ports": [5353],
        "aws:num-listening-udp-ports": 1,
        "aws:all-bytes-in": 10,
    }


def test_a_datapoint_record_is_not_a_report():
    assert not is_report({"thingName": "t", "metric": "aws:num-messages-sent", "value": 1})
