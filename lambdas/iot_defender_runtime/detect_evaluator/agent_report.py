"""Device Defender agent metrics reports (JSON, long or short field names) as datapoints.

Format: AWS IoT Device Defender developer guide, "Device metrics document specification"
(https://docs.aws.amazon.com/iot-device-defender/latest/devguide/detect-device-side-metrics.html#DetectMetricsMessagesSpec),
and its custom metrics (https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-custom-metrics.html).
Every field is read by its long or its short name (``header``/``hed``, ``report_id``/``rid``,
``custom_metrics``/``cmet``, ...); a block that gives both is refused. The rules, each refusing the
whole report with a ``ValueError`` that says where and what:

- ``header`` is required: ``report_id`` an integer 0 to 2**64-1 (the guide: "monotonically
  increasing, epoch timestamp recommended"), ``version`` a ``Major.Minor`` string;
- ``metrics`` or ``custom_metrics``, or both (a report may carry custom metrics only);
- counts (``bytes_in`` ... ``packets_out``, every ``total``) are integers 0 to 2**64-1 (the guide's
  "Delta metric, >= 0"); ports and ``local_port`` integers 0-65535; interface names strings (or null,
  as the agent SDK writes an interface it cannot name);
- ``remote_addr`` is ``ip:port`` with an IPv4 or IPv6 address (``[2001:db8::1]:443``, as the agent
  SDK writes IPv6 peers; the address alone is taken too), reduced to the address;
- a custom metric's name is 1-128 of ``[a-zA-Z0-9:_-]`` and does not begin with ``aws:`` (the API's
  ``CreateCustomMetric``); its value is a list of one object with one of ``number`` (a finite number),
  ``number_list`` (finite numbers), ``string_list`` (strings) or ``ip_list`` (IP addresses);
- fields the guide does not define are ignored, so that a newer agent's report is still read; a
  field given as ``null`` is taken as left out.

Each report gives one datapoint per metric it carries: the four network counters; per listening
block its ports (when listed) and their number (``total``, else how many are listed); the number
of established connections (``total``, else how many are listed) and their remote addresses (when
listed); one per custom metric. The guide gives no limit on how many ports or connections a report
lists (the agent SDK samples 50); the record's size bounds them (``records.MAX_JSON_BYTES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from iot_defender_runtime.evaluation.criteria import address_text
from iot_defender_runtime.evaluation.values import count, finite, port, text

_CUSTOM_METRIC_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_VERSION = re.compile(r"[0-9]{1,9}\.[0-9]{1,9}")
_NETWORK_STATS = (
    ("bytes_in", "bi", "aws:all-bytes-in"),
    ("bytes_out", "bo", "aws:all-bytes-out"),
    ("packets_in", "pi", "aws:all-packets-in"),
    ("packets_out", "po", "aws:all-packets-out"),
)
_LISTENING = (
    ("listening_tcp_ports", "tp", "aws:listening-tcp-ports", "aws:num-listening-tcp-ports"),
    ("listening_udp_ports", "up", "aws:listening-udp-ports", "aws:num-listening-udp-ports"),
)
Pairs = list[tuple[str, Any]]


def is_report(body: Mapping[str, Any]) -> bool:
    """A record with a report header is a report (and is then held to the whole specification)."""
    return "header" in body or "hed" in body


def report_datapoints(body: Mapping[str, Any]) -> Pairs:
    """``(metric, value)`` pairs, each value checked and normalized; ``ValueError`` for a bad report."""
    _check_header(_field(body, "header", "hed", "report", required=True))
    metrics = _field(body, "metrics", "met", "report")
    custom = _field(body, "custom_metrics", "cmet", "report")
    if metrics is None and custom is None:
        raise ValueError("report: a report carries metrics, custom_metrics or both")
    found: Pairs = []
    if metrics is not None:
        found += _device_metrics(_object(metrics, "metrics"))
    if custom is not None:
        found += _custom_metrics(_object(custom, "custom_metrics"))
    return found


def _field(block: Mapping[str, Any], long: str, short: str, where: str, *, required: bool = False) -> Any:
    """The field by its long or short name; both at once, or neither when required, is an error."""
    if long in block and short in block:
        raise ValueError(f"{where}: both '{long}' and its short name '{short}' are given")
    value = block.get(long, block.get(short))
    if value is None and required:
        raise ValueError(f"{where}: '{long}' ('{short}') is required")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: an object is required, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: a list is required, got {type(value).__name__}")
    return value


def _checked(check: Callable[[Any], Any], value: Any, where: str) -> Any:
    try:
        return check(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def _optional_text(value: Any, where: str) -> None:
    if value is not None:
        _checked(text, value, where)


def _check_header(header: Any) -> None:
    header = _object(header, "header")
    _checked(count, _field(header, "report_id", "rid", "header", required=True), "header.report_id")
    version = _field(header, "version", "v", "header", required=True)
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError("header.version: a 'Major.Minor' string is required")


def _device_metrics(metrics: Mapping[str, Any]) -> Pairs:
    found: Pairs = []
    stats = _field(metrics, "network_stats", "ns", "metrics")
    if stats is not None:
        stats = _object(stats, "network_stats")
        for long, short, metric in _NETWORK_STATS:
            value = _field(stats, long, short, "network_stats")
            if value is not None:
                found.append((metric, _checked(count, value, f"network_stats.{long}")))
    for long, short, ports_metric, count_metric in _LISTENING:
        block = _field(metrics, long, short, "metrics")
        if block is not None:
            found += _listening(_object(block, long), long, ports_metric, count_metric)
    connections = _field(metrics, "tcp_connections", "tc", "metrics")
    if connections is not None:
        established = _field(
            _object(connections, "tcp_connections"), "established_connections", "ec", "tcp_connections"
        )
        if established is not None:
            found += _established(_object(established, "established_connections"))
    return found


def _listening(block: Mapping[str, Any], where: str, ports_metric: str, count_metric: str) -> Pairs:
    found: Pairs = []
    entries = _field(block, "ports", "pts", where)
    listed: list[int] = []
    if entries is not None:
        for index, entry in enumerate(_list(entries, f"{where}.ports")):
            entry = _object(entry, f"{where}.ports[{index}]")
            _optional_text(_field(entry, "interface", "if", where), f"{where}.ports[{index}].interface")
            value = _field(entry, "port", "pt", where)
            if value is not None:
                listed.append(_checked(port, value, f"{where}.ports[{index}].port"))
        found.append((ports_metric, listed))
    total = _field(block, "total", "t", where)
    if total is not None:
        found.append((count_metric, _checked(count, total, f"{where}.total")))
    elif entries is not None:
        found.append((count_metric, len(listed)))
    return found


def _established(block: Mapping[str, Any]) -> Pairs:
    where = "established_connections"
    found: Pairs = []
    connections = _field(block, "connections", "cs", where)
    addresses: list[str] = []
    if connections is not None:
        for index, entry in enumerate(_list(connections, f"{where}.connections")):
            at = f"{where}.connections[{index}]"
            entry = _object(entry, at)
            remote = _field(entry, "remote_addr", "rad", at, required=True)
            addresses.append(_checked(address_text, remote, f"{at}.remote_addr"))
            local_port = _field(entry, "local_port", "lp", at)
            if local_port is not None:
                _checked(port, local_port, f"{at}.local_port")
            _optional_text(_field(entry, "local_interface", "li", at), f"{at}.local_interface")
    total = _field(block, "total", "t", where)
    if total is not None:
        found.append(("aws:num-established-tcp-connections", _checked(count, total, f"{where}.total")))
    elif connections is not None:
        found.append(("aws:num-established-tcp-connections", len(addresses)))
    if connections is not None:
        found.append(("aws:destination-ip-addresses", addresses))
    return found


def _number_list(value: Any) -> list[float]:
    return [finite(item) for item in _list(value, "number_list")]


def _string_list(value: Any) -> list[str]:
    return [text(item) for item in _list(value, "string_list")]


def _ip_list(value: Any) -> list[str]:
    return [address_text(item) for item in _list(value, "ip_list")]


_CUSTOM_VALUES: dict[str, Callable[[Any], Any]] = {
    "number": finite,
    "number_list": _number_list,
    "string_list": _string_list,
    "ip_list": _ip_list,
}


def _custom_metrics(custom: Mapping[str, Any]) -> Pairs:
    found: Pairs = []
    for name, entries in custom.items():
        if not _CUSTOM_METRIC_NAME.fullmatch(name) or name.startswith("aws:"):
            shown = repr(name) if len(name) <= 128 else f"of {len(name)} characters"
            raise ValueError(f"custom_metrics: name {shown} is not 1-128 of [a-zA-Z0-9:_-] not beginning with aws:")
        where = f"custom_metrics.{name}"
        entries = _list(entries, where)
        if len(entries) != 1:
            raise ValueError(f"{where}: a list of one value object is required, got {len(entries)}")
        entry = _object(entries[0], f"{where}[0]")
        kinds = [key for key in _CUSTOM_VALUES if key in entry]
        if len(kinds) != 1:
            raise ValueError(f"{where}[0]: exactly one of number, number_list, string_list, ip_list is required")
        found.append((name, _checked(_CUSTOM_VALUES[kinds[0]], entry[kinds[0]], f"{where}.{kinds[0]}")))
    return found
