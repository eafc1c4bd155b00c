"""Device classes of the simulated fleet: how much each kind of device talks, and when.

A class gives a peak rate for each activity (telemetry messages, commands received, background
network traffic measured by the Device Defender agent) and multipliers for the time of day (24
hourly factors, fleet time is UTC) and for weekends. A thing's rate at time ``t`` is
``peak * hourly[hour] * (weekend if Saturday/Sunday else 1) * the thing's own factor``.

Addresses are from documentation ranges (RFC 5737 ``192.0.2.0/24`` for the fleet's services,
``203.0.113.0/24`` for attackers) and the shared address space of RFC 6598 (``100.64.0.0/10``) for
devices behind carrier NAT, so no simulated record names a real host.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
_EPOCH_THURSDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class DeviceClass:
    """One kind of device.

    :param name: the class name; thing names start with it.
    :param share: relative share of the fleet.
    :param messages_per_hour: telemetry messages per hour at the busiest hour of a weekday.
    :param hourly: 24 factors (0-1] of the peak, by UTC hour.
    :param weekend: factor on Saturdays and Sundays (1: no weekly pattern).
    :param message_bytes: payload size range of a telemetry message.
    :param topic: the telemetry topic, ``{thing}`` replaced by the thing name.
    :param bytes_out_per_s: background bytes a device sends per second at peak (besides MQTT), as the
        agent's ``network_stats`` count them.
    :param bytes_in_per_s: the same, received.
    :param packet_bytes: average packet size, to derive packet counts.
    :param tcp_ports: listening TCP ports of a normal device.
    :param udp_ports: listening UDP ports of a normal device.
    :param destinations: ``ip:port`` of the established TCP connections of a normal device.
    :param reconnects_per_day: connection drops a day (each followed by a reconnect).
    :param commands_per_hour: messages delivered to the device per hour at peak (AWS IoT ``Publish-Out``).
    :param periodic: telemetry on a schedule (its period follows the hourly factors, +/- 10 % jitter)
        rather than as events (a Poisson process).
    """

    name: str
    share: float
    messages_per_hour: float
    hourly: tuple[float, ...]
    weekend: float
    message_bytes: tuple[int, int]
    topic: str
    bytes_out_per_s: float
    bytes_in_per_s: float
    packet_bytes: int
    tcp_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]
    destinations: tuple[str, ...]
    reconnects_per_day: float
    commands_per_hour: float
    periodic: bool = False

    @property
    def weekly_peak(self) -> float:
        """The largest activity factor of the week (the weekend's may exceed a weekday's)."""
        return max(self.hourly) * max(1.0, self.weekend)

    @property
    def peak_messages_per_hour(self) -> float:
        return self.messages_per_hour * self.weekly_peak

    def activity(self, t: float) -> float:
        """The activity factor at epoch second ``t``."""
        day, second = divmod(int(t), SECONDS_PER_DAY)
        factor = self.hourly[second // 3600]
        return factor * self.weekend if is_weekend(day) else factor


def is_weekend(day: int) -> bool:
    """Whether epoch day ``day`` (days since 1970-01-01) is a Saturday or a Sunday."""
    return (day + _EPOCH_THURSDAY) % 7 >= 5


def _hours(*spans: tuple[int, int, float], default: float) -> tuple[float, ...]:
    """24 hourly factors: ``default``, with ``(from_hour, to_hour, factor)`` spans over it."""
    factors = [default] * 24
    for first, last, factor in spans:
        for hour in range(first, last):
            factors[hour] = factor
    return tuple(factors)


IOT_ENDPOINT = "192.0.2.10:8883"
SENSOR = DeviceClass(
    name="sensor",
    share=0.6,
    messages_per_hour=12.0,  # adaptive sampling: every 5 minutes by day, every 10 at night
    hourly=_hours((6, 20, 1.0), default=0.5),
    weekend=1.0,  # environment sensors do not know weekends
    message_bytes=(90, 180),
    topic="dt/sensors/{thing}/telemetry",
    bytes_out_per_s=40.0,
    bytes_in_per_s=30.0,
    packet_bytes=120,
    tcp_ports=(22,),
    udp_ports=(123,),
    destinations=(IOT_ENDPOINT,),
    reconnects_per_day=2.0,  # cellular
    commands_per_hour=0.5,
    periodic=True,
)
GATEWAY = DeviceClass(
    name="gateway",
    share=0.25,
    messages_per_hour=20.0,  # batches of its field devices' readings, during working hours
    hourly=_hours((7, 19, 1.0), (19, 22, 0.5), default=0.2),
    weekend=0.3,
    message_bytes=(600, 2400),
    topic="dt/gateways/{thing}/telemetry",
    bytes_out_per_s=800.0,
    bytes_in_per_s=400.0,
    packet_bytes=600,
    tcp_ports=(22, 443, 1883, 8080),
    udp_ports=(53, 67, 5353),
    destinations=(IOT_ENDPOINT, "192.0.2.40:443", "192.0.2.41:443"),
    reconnects_per_day=1.0,
    commands_per_hour=6.0,
)
CAMERA = DeviceClass(
    name="camera",
    share=0.15,
    messages_per_hour=16.0,  # motion events: mornings and evenings, more at weekends when people are home
    hourly=_hours((6, 9, 0.7), (9, 17, 0.4), (17, 23, 1.0), default=0.1),
    weekend=1.4,
    message_bytes=(300, 900),
    topic="dt/cameras/{thing}/events",
    bytes_out_per_s=60_000.0,  # clip uploads to the video service
    bytes_in_per_s=2_000.0,
    packet_bytes=1_200,
    tcp_ports=(80, 443, 554),
    udp_ports=(3702, 5353),
    destinations=(IOT_ENDPOINT, "192.0.2.80:443"),
    reconnects_per_day=3.0,  # Wi-Fi
    commands_per_hour=2.0,
)
DEVICE_CLASSES: tuple[DeviceClass, ...] = (SENSOR, GATEWAY, CAMERA)
"""The classes every simulated fleet is drawn from, by ``share``."""
