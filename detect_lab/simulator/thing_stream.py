"""One simulated thing: its own random stream, its connection, its agent, its traffic, its attacks.

Every draw comes from ``random.Random("<seed>:thing:<name>")`` in the order of the thing's own
events, so a thing's records do not depend on the fleet's size nor on how far ahead it is asked to
run (``advance`` may be called with any sequence of times).

What a normal thing does:

- its Device Defender agent collects metrics every ``report_interval`` seconds (timer jitter +/- 1 s)
  and publishes them while connected; network stats are deltas since the previous collection (the
  agent SDK's collector), so a report lost while offline loses its interval, as on a real device;
- telemetry messages come on a schedule (periodic classes) or as a Poisson process (thinning against
  the week's peak), following the class's daily and weekly pattern, each thing with its own rate
  factor (0.6-1.5);
- commands reach it (``Publish-Out`` log entries) the same way; rarely (about once in two days) its
  firmware subscribes to a topic its policy denies (an authorization failure);
- its connection drops now and then (``reconnects_per_day``) for 5 s to 30 minutes; every reconnect
  is a new session, with the version number reset after an hour offline (lifecycle events guide).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from detect_lab.simulator import bodies
from detect_lab.simulator.attacks import AttackKind, AttackLabel
from detect_lab.simulator.spec import FleetSpec, SimulatedThing

REPORT, MESSAGE, COMMAND, DROP, RECONNECT, DENIED, STORM, PROBE, CHURN, ATTACK_ON, ATTACK_OFF = range(11)
BACKDOOR_PORTS = (23, 2323, 4444, 5555, 31337)
ATTACKER_PORTS = (443, 4444, 6667, 8443)
_DROP_REASONS = ("CONNECTION_LOST", "MQTT_KEEP_ALIVE_TIMEOUT", "CLIENT_INITIATED_DISCONNECT")
_MAX_DELAY = 15.0  # seconds from a rule's action to the stream: well under the evaluator's 60 s clock skew
Output = list[tuple[float, bytes]]  # (arrival, record data)


@dataclass
class _Attack:
    label: AttackLabel
    rate: float = 0.0  # events per second (storm, probing) or extra bytes per second (exfiltration)
    address: str = ""  # the attacker's address (cloned identity, new destination)
    port: int = 0  # the new listening port


@dataclass
class _Connection:
    connected: bool = True
    version: int = 1
    session: str = ""
    since: float = 0.0  # when the current state began
    source_port: int = 0
    clone: bool = False  # the current session is the clone's
    local_ports: list[int] = field(default_factory=list)


class ThingSimulator:
    def __init__(self, thing: SimulatedThing, spec: FleetSpec, labels: list[AttackLabel]) -> None:
        self.thing, self.cls = thing.name, thing.device_class
        self.rng = rng = random.Random(f"{spec.seed}:thing:{thing.name}")
        self.interval = spec.report_interval
        self.factor = min(1.5, max(0.6, rng.lognormvariate(0.0, 0.2)))
        self.bytes_factor = min(1.5, max(0.6, rng.lognormvariate(0.0, 0.2)))
        self.ip = f"100.{64 + rng.randrange(64)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self.topic = self.cls.topic.format(thing=thing.name)
        self.report = bodies.ReportTemplate(thing.name, short=rng.random() < 0.5)
        self.connection = _Connection(session=self._session(), since=spec.start, source_port=self._port())
        self.connection.local_ports = [self._port() for _ in self.cls.destinations]
        self.attacks: list[_Attack] = []
        self._exfiltrations: list[_Attack] = []
        self.out: Output = []
        self.logs: list[tuple[int, str]] = []  # (epoch ms, IoT log entry)
        self._last_arrival = 0.0
        self._last_collection = spec.start
        self._mqtt = [0, 0]  # bytes out, in since the last collection
        self._queue: list[tuple[float, int, int, object]] = []
        self._order = 0
        self._handlers = {
            REPORT: self._on_report,
            MESSAGE: self._on_message,
            COMMAND: self._on_command,
            DROP: self._on_drop,
            RECONNECT: self._on_reconnect,
            DENIED: self._on_denied,
            STORM: self._on_storm,
            PROBE: self._on_probe,
            CHURN: self._on_churn,
            ATTACK_ON: self._on_attack_on,
            ATTACK_OFF: self._on_attack_off,
        }
        self._refresh_template()
        self._schedule_normal(spec.start)
        for label in labels:
            self._push(label.start, ATTACK_ON, label)
            self._push(label.end, ATTACK_OFF, label)

    def _schedule_normal(self, start: float) -> None:
        rng, cls = self.rng, self.cls
        self._push(start + rng.uniform(0, self.interval), REPORT)
        self._push(start + rng.expovariate(self._peak(cls.messages_per_hour)), MESSAGE)
        self._push(start + rng.expovariate(self._peak(cls.commands_per_hour)), COMMAND)
        self._push(start + rng.expovariate(cls.reconnects_per_day / 86_400), DROP)
        self._push(start + rng.expovariate(0.5 / 86_400), DENIED)

    def advance(self, until: float) -> None:
        """Runs every event before ``until``; records go to ``out``, IoT log entries to ``logs``."""
        queue, handlers = self._queue, self._handlers
        while queue and queue[0][0] < until:
            t, _, kind, payload = heapq.heappop(queue)
            handlers[kind](t, payload)

    # -- scheduling and output ------------------------------------------------------------------

    def _push(self, t: float, kind: int, payload: object = None) -> None:
        self._order += 1
        heapq.heappush(self._queue, (t, self._order, kind, payload))

    def _peak(self, per_hour: float) -> float:
        """The thinning rate (per second): the thing's rate at the week's busiest hour."""
        return per_hour * self.cls.weekly_peak * self.factor / 3600

    def _accept(self, t: float) -> bool:
        return self.rng.random() * self.cls.weekly_peak < self.cls.activity(t)

    def _emit(self, t: float, data: bytes) -> None:
        """A record the rules put on the stream at ``t``; it arrives a little later, after the thing's
        previous one (the stream is partitioned by thing and a rule's puts land in order)."""
        arrival = t + 0.05 + min(self.rng.expovariate(2.0), _MAX_DELAY)
        if arrival <= self._last_arrival:
            arrival = self._last_arrival + 0.001
        self._last_arrival = arrival
        self.out.append((round(arrival, 3), data))

    def _session(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _port(self) -> int:
        return self.rng.randrange(32768, 61000)

    def _trace(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    # -- normal traffic --------------------------------------------------------------------------

    def _on_report(self, t: float, _: object) -> None:
        rng, cls = self.rng, self.cls
        elapsed, self._last_collection = t - self._last_collection, t
        activity = cls.activity(t) * elapsed * self.bytes_factor
        bytes_out = int(cls.bytes_out_per_s * activity * rng.uniform(0.85, 1.15)) + self._mqtt[0]
        bytes_in = int(cls.bytes_in_per_s * activity * rng.uniform(0.85, 1.15)) + self._mqtt[1]
        self._exfiltrations = [a for a in self._exfiltrations if a.label.end > t - elapsed]
        extra = sum(a.rate * _overlap(a.label, t - elapsed, t) for a in self._exfiltrations)
        extra = int(extra * rng.uniform(0.8, 1.2)) if extra else 0
        packets_out = bytes_out // cls.packet_bytes + rng.randrange(8) + extra // 1400
        packets_in = bytes_in // cls.packet_bytes + rng.randrange(8)
        self._mqtt = [0, 0]
        if self.connection.connected:
            received = t + rng.uniform(0.05, 0.4)
            stats = (bytes_in, bytes_out + extra, packets_in, packets_out)
            self._emit(received, self.report.render(int(t), int(received * 1000), stats))
        self._push(t + self.interval + rng.uniform(-1.0, 1.0), REPORT)

    def _on_message(self, t: float, _: object) -> None:
        cls = self.cls
        if cls.periodic:
            self._publish(t)
            period = 3600 / (cls.messages_per_hour * cls.activity(t) * self.factor)
            self._push(t + period * self.rng.uniform(0.9, 1.1), MESSAGE)
            return
        if self._accept(t):
            self._publish(t)
        self._push(t + self.rng.expovariate(self._peak(cls.messages_per_hour)), MESSAGE)

    def _publish(self, t: float) -> None:
        if not self.connection.connected:
            return
        size = self.rng.randint(*self.cls.message_bytes)
        self._mqtt[0] += size + len(self.topic) + 40  # MQTT, TLS and TCP overhead, roughly
        self._emit(t, bodies.message(self.thing, self.topic, size, int(t * 1000)))

    def _on_command(self, t: float, _: object) -> None:
        if self._accept(t) and self.connection.connected:
            self._mqtt[1] += 300
            entry = bodies.publish_out(
                self.thing, f"cmd/{self.thing}/request", int(t * 1000), self._trace(), self.ip, self._source_port
            )
            self.logs.append((int(t * 1000), entry))
        self._push(t + self.rng.expovariate(self._peak(self.cls.commands_per_hour)), COMMAND)

    def _on_denied(self, t: float, _: object) -> None:
        if self.connection.connected:
            self._deny(t, "Subscribe", f"cmd/{self.thing}/legacy/#", self.ip)
        self._push(t + self.rng.expovariate(0.5 / 86_400), DENIED)

    def _deny(self, t: float, event_type: str, topic: str, source_ip: str) -> None:
        millis = int(t * 1000)
        entry = bodies.authorization_failure(
            self.thing, event_type, topic, millis, self._trace(), source_ip, self._source_port
        )
        self.logs.append((millis, entry))

    @property
    def _source_port(self) -> int:
        return self.connection.source_port

    # -- connection ------------------------------------------------------------------------------

    def _on_drop(self, t: float, _: object) -> None:
        if self.connection.connected:
            self._disconnect(t, self.rng.choices(_DROP_REASONS, weights=(6, 3, 1))[0])
            offline = min(5.0 + self.rng.expovariate(1 / 90), 1800.0)
            self._push(t + offline, RECONNECT)
        self._push(t + self.rng.expovariate(self.cls.reconnects_per_day / 86_400), DROP)

    def _on_reconnect(self, t: float, _: object) -> None:
        if not self.connection.connected:
            self._connect(t, self.ip, clone=False)

    def _disconnect(self, t: float, reason: str) -> None:
        c, millis = self.connection, int(t * 1000)
        c.connected, c.since = False, t
        self._emit(t, bodies.lifecycle(self.thing, "disconnected", millis, c.version, c.session, reason))
        self._emit(t, bodies.datapoint(self.thing, "aws:num-disconnects", "1", millis))

    def _connect(self, t: float, source_ip: str, *, clone: bool) -> None:
        c, millis = self.connection, int(t * 1000)
        c.version = 0 if not c.connected and t - c.since >= 3600 else c.version + 1 + (self.rng.random() < 0.1)
        c.connected, c.since, c.clone = True, t, clone
        c.session, c.source_port = self._session(), self._port()
        if not clone:
            c.local_ports = [self._port() for _ in self.cls.destinations]
            self._refresh_template()
        self._emit(t, bodies.lifecycle(self.thing, "connected", millis, c.version, c.session, None))
        self._emit(t, bodies.datapoint(self.thing, "aws:num-connection-attempts", "1", millis))
        self._emit(t, bodies.datapoint(self.thing, "aws:source-ip-address", f'"{source_ip}"', millis))

    # -- attacks ---------------------------------------------------------------------------------

    def _active(self, kind: AttackKind) -> list[_Attack]:
        return [a for a in self.attacks if a.label.kind is kind]

    def _on_attack_on(self, t: float, label: object) -> None:
        assert isinstance(label, AttackLabel)
        rng, cls, attack = self.rng, self.cls, _Attack(label)
        attack.address = f"203.0.113.{rng.randrange(1, 255)}"
        self.attacks.append(attack)
        if label.kind is AttackKind.MESSAGE_STORM:
            attack.rate = cls.peak_messages_per_hour / 3600 * rng.uniform(5, 20)
            self._push(t + rng.expovariate(attack.rate), STORM, attack)
        elif label.kind is AttackKind.CREDENTIAL_PROBING:
            attack.rate = rng.uniform(3, 15) / 60
            self._push(t + rng.expovariate(attack.rate), PROBE, attack)
        elif label.kind is AttackKind.EXFILTRATION:
            attack.rate = cls.bytes_out_per_s * cls.weekly_peak * rng.uniform(10, 50)
            self._exfiltrations.append(attack)  # kept past its end: the next report's interval overlaps it
        elif label.kind is AttackKind.CLONED_IDENTITY:
            self._push(t + rng.uniform(1, 20), CHURN, attack)
        elif label.kind is AttackKind.NEW_LISTENING_PORT:
            attack.port = rng.choice([p for p in BACKDOOR_PORTS if p not in cls.tcp_ports])
        elif label.kind is AttackKind.NEW_DESTINATION_IP:
            attack.address += f":{rng.choice(ATTACKER_PORTS)}"
            attack.port = self._port()
        self._refresh_template()

    def _on_attack_off(self, t: float, label: object) -> None:
        self.attacks = [a for a in self.attacks if a.label is not label]
        if self.connection.clone and not self._active(AttackKind.CLONED_IDENTITY):
            self._take_over(t, self.ip, clone=False)  # the real device gets its connection back, for good
        self._refresh_template()

    def _refresh_template(self) -> None:
        tcp = list(self.cls.tcp_ports) + [a.port for a in self._active(AttackKind.NEW_LISTENING_PORT)]
        self.report.set_listening(sorted(tcp), self.cls.udp_ports)
        connections = list(zip(self.connection.local_ports, self.cls.destinations, strict=True))
        connections += [(a.port, a.address) for a in self._active(AttackKind.NEW_DESTINATION_IP)]
        self.report.set_connections(connections)

    def _on_storm(self, t: float, attack: object) -> None:
        assert isinstance(attack, _Attack)
        if attack.label.covers(t):
            self._publish(t)
            self._push(t + self.rng.expovariate(attack.rate), STORM, attack)

    def _on_probe(self, t: float, attack: object) -> None:
        assert isinstance(attack, _Attack)
        if attack.label.covers(t):
            other = f"{self.cls.name}-{self.rng.randrange(1_000_000):06d}"
            if self.rng.random() < 0.5:
                self._deny(t, "Publish-In", self.cls.topic.format(thing=other), attack.address)
            else:
                self._deny(t, "Subscribe", f"$aws/things/{other}/shadow/get/accepted", attack.address)
            self._push(t + self.rng.expovariate(attack.rate), PROBE, attack)

    def _on_churn(self, t: float, attack: object) -> None:
        """The clone and the device take the client id from each other (AWS IoT drops the older
        session with ``DUPLICATE_CLIENTID``)."""
        assert isinstance(attack, _Attack)
        if attack.label.covers(t):
            clone = not self.connection.clone
            self._take_over(t, attack.address if clone else self.ip, clone=clone)
            self._push(t + self.rng.uniform(20, 60), CHURN, attack)

    def _take_over(self, t: float, source_ip: str, *, clone: bool) -> None:
        if self.connection.connected:
            self._disconnect(t, "DUPLICATE_CLIENTID")
        self._connect(t + 0.001, source_ip, clone=clone)


def _overlap(label: AttackLabel, first: float, last: float) -> float:
    return max(0.0, min(last, label.end) - max(first, label.start))
