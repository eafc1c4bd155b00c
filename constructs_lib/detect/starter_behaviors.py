"""Starter behaviors for common device classes: a sound first profile, each with what it catches
and how it can misfire. Tune the numbers to what your fleet shows in Detect before you act on them."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration

from constructs_lib._validation import check_duration
from constructs_lib.detect.behavior import Behavior, BehaviorValidationError
from iot_defender_runtime.model.metric_catalog import ComparisonOperator

AT_MOST = ComparisonOperator.LESS_THAN_EQUALS


class StarterBehaviors:
    @staticmethod
    def message_storm(*, max_messages: int = 1000, per: Duration | None = None) -> Behavior:
        """Normal: at most ``max_messages`` sent per 5 minutes (default), two periods in a row to alarm.

        Catches: a device turned into a flooder or spam relay, runaway firmware loops.
        False positives: legitimate bursts (backlog flushed after a reconnect, verbose diagnostics
        after an update); set the limit to 3 to 5 times the busiest device's normal peak.
        """
        return Behavior.rule(
            "MessageStorm",
            metric="aws:num-messages-sent",
            operator=AT_MOST,
            value=max_messages,
            duration=_per("MessageStorm", per, Duration.minutes(5)),
            datapoints_to_alarm=2,
            datapoints_to_clear=2,
        )

    @staticmethod
    def credential_misuse(*, max_failures: int = 5, per: Duration | None = None) -> Behavior:
        """Normal: at most ``max_failures`` authorization failures per 5 minutes (default).

        Catches: a stolen certificate probing topics beyond its policy, client impersonation.
        False positives: firmware still using topics that a policy change removed; look at the
        failing topics in AWS IoT logs before quarantining a whole model line.
        """
        return Behavior.rule(
            "CredentialMisuse",
            metric="aws:num-authorization-failures",
            operator=AT_MOST,
            value=max_failures,
            duration=_per("CredentialMisuse", per, Duration.minutes(5)),
        )

    @staticmethod
    def connection_churn(*, max_attempts: int = 20, per: Duration | None = None) -> Behavior:
        """Normal: at most ``max_attempts`` connection attempts per 15 minutes (default), two periods to alarm.

        Catches: cloned devices sharing a certificate or client id and knocking each other off,
        crash loops, credential brute force from one identity.
        False positives: poor cellular or Wi-Fi coverage; pair it with the audit's
        DEVICE_CERTIFICATE_SHARED and CONFLICTING_CLIENT_IDS checks before acting.
        """
        return Behavior.rule(
            "ConnectionChurn",
            metric="aws:num-connection-attempts",
            operator=AT_MOST,
            value=max_attempts,
            duration=_per("ConnectionChurn", per, Duration.minutes(15)),
            datapoints_to_alarm=2,
            datapoints_to_clear=2,
        )

    @staticmethod
    def unexpected_listening_ports(*, allowed_tcp_ports: Sequence[int]) -> Behavior:
        """Normal: the device listens only on ``allowed_tcp_ports`` (device-side: needs the Device
        Defender agent reporting metrics).

        Catches: a backdoor or debug service (telnet, ssh, adb) opened on a field device.
        False positives: debug builds and OS updates that start new services; keep lab devices in
        an exempt group.
        """
        return Behavior.rule(
            "UnexpectedListeningPorts",
            metric="aws:listening-tcp-ports",
            operator=ComparisonOperator.IN_PORT_SET,
            value=list(allowed_tcp_ports),
        )


def _per(name: str, per: Duration | None, default: Duration) -> Duration:
    """``per`` as given, or ``default``; anything but a Duration fails naming the behavior and ``per``."""
    if per is None:
        return default
    found: list[str] = []
    if not check_duration("per", per, found, example=f"Duration.minutes({int(default.to_minutes())})"):
        raise BehaviorValidationError([f"behavior '{name}': {problem}" for problem in found])
    return per
