"""Where the deployment is: the state table, the quarantine group and the notification topic, from
flags, else the outputs of ``--stack`` (DescribeStacks), else the environment variables the functions
themselves read."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

from iot_defender_runtime.adapters.operator_reads import stack_outputs
from iot_defender_runtime.operator.results import UsageError


@dataclass(frozen=True)
class Source:
    flag: str
    variable: str
    output: str  # the CloudFormation output of DeviceDefender(outputs=True)


SOURCES = {
    "table": Source("--table", "STATE_TABLE_NAME", "StateTableName"),
    "quarantine_group": Source("--quarantine-group", "QUARANTINE_GROUP_NAME", "QuarantineGroupName"),
    "notify_topic": Source("--notify-topic", "NOTIFY_TOPIC_ARN", "NotifyTopicArn"),
}


@dataclass(frozen=True)
class Where:
    values: Mapping[str, str]
    stack: str | None = None

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def need(self, *names: str, purpose: str) -> list[str]:
        """The values, in order; a ``UsageError`` naming each missing one and where it can come from."""
        missing = [name for name in names if not self.values.get(name)]
        if missing:
            ways = "; ".join(self._how_to_give(name) for name in missing)
            raise UsageError(f"{purpose} needs {', '.join(SOURCES[n].output for n in missing)}: {ways}")
        return [self.values[name] for name in names]

    def _how_to_give(self, name: str) -> str:
        source = SOURCES[name]
        if self.stack:
            return (
                f"stack '{self.stack}' has no output {source.output} (DeviceDefender(outputs=True) adds it), "
                f"so give {source.flag} or set {source.variable}"
            )
        return f"give --stack NAME or {source.flag}, or set {source.variable}"


def resolve(arguments: argparse.Namespace, environ: Mapping[str, str]) -> Where:
    """Flags win over the stack's outputs, which win over the environment."""
    stack = getattr(arguments, "stack", None)
    outputs = stack_outputs(stack) if stack else {}
    values = {}
    for name, source in SOURCES.items():
        value = getattr(arguments, name, None) or outputs.get(source.output) or environ.get(source.variable, "").strip()
        if value:
            values[name] = value
    return Where(values, stack)
