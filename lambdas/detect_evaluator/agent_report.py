"""Device Defender agent metrics reports (JSON, long or short field names) as datapoints.

Format: AWS IoT Device Defender developer guide, "Device metrics document specification". Each
report becomes one datapoint per device-side metric it carries, and one per custom metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _get(block: Any, long: str, short: str) -> Any:
    if not isinstance(block, Mapping):
        return None
    return block.get(long, block.get(short))


def is_report(body: Mapping[str, Any]) -> bool:
    return ("header" in body or "hed" in body) and ("metrics" in body or "met" in body or "custom_metrics" in body)


def report_datapoints(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(metric, value)`` pairs; a block the report leaves out gives no datapoint."""
    found: list[tuple[str, Any]] = []
    metrics = _get(body, "metrics", "met") or {}
    stats = _get(metrics, "network_stats", "ns")
    for long, short, metric in (
        ("bytes_in", "bi", "aws:all-bytes-in"),
        ("bytes_out", "bo", "aws:all-bytes-out"),
        ("packets_in", "pi", "aws:all-packets-in"),
        ("packets_out", "po", "aws:all-packets-out"),
    ):
        value = _get(stats, long, short)
        if value is not None:
            found.append((metric, value))
    for long, short, ports_metric, count_metric in (
        ("listening_tcp_ports", "tp", "aws:listening-tcp-ports", "aws:num-listening-tcp-ports"),
        ("listening_udp_ports", "up", "aws:listening-udp-ports", "aws:num-listening-udp-ports"),
    ):
        block = _get(metrics, long, short)
        if block is None:
            continue
        ports = [_get(entry, "port", "pt") for entry in _get(block, "ports", "pts") or []]
        found.append((ports_metric, [p for p in ports if p is not None]))
        total = _get(block, "total", "t")
        found.append((count_metric, total if total is not None else len(ports)))
    established = _get(_get(metrics, "tcp_connections", "tc"), "established_connections", "ec")
    if established is not None:
        connections = _get(established, "connections", "cs") or []
        total = _get(established, "total", "t")
        found.append(("aws:num-established-tcp-connections", total if total is not None else len(connections)))
        addresses = [_get(c, "remote_addr", "rad") for c in connections]
        found.append(("aws:destination-ip-addresses", [a for a in addresses if a]))
    for name, entries in (body.get("custom_metrics") or {}).items():
        for entry in entries if isinstance(entries, list) else [entries]:
            for key in ("number", "number_list", "string_list", "ip_list"):
                if isinstance(entry, Mapping) and key in entry:
                    found.append((name, entry[key]))
    return found
