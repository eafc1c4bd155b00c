"""MQTT topic filters, as a Device Defender ``TOPIC_FILTER`` dimension uses them.

A behavior's ``metricDimension`` names a dimension and an operator: "using a TOPIC_FILTER dimension,
you can narrow down the scope of the metric to only MQTT topics where the name matches the pattern
specified in the dimension" (AWS IoT API reference, ``Behavior.metricDimension``,
https://docs.aws.amazon.com/iot/latest/apireference/API_Behavior.html); the operator is ``IN`` or
``NOT_IN`` (``AWS::IoT::SecurityProfile`` ``MetricDimension``,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-iot-securityprofile-metricdimension.html).
A dimension holds 1 to 5 filters (``CreateDimension`` ``stringValues``). Here ``IN`` keeps a
datapoint whose topic matches any of the dimension's filters, ``NOT_IN`` one whose topic matches
none of them. A datapoint without a topic (an authorization failure of a ``Connect``, say) is in no
topic's scope: a behavior with a dimension, ``IN`` or ``NOT_IN``, never counts it.

Matching is MQTT's (AWS IoT developer guide, "Topic filters",
https://docs.aws.amazon.com/iot/latest/developerguide/topics.html#topicfilters: ``#`` "All strings at
and below its level in the topic hierarchy. Must be the last character in the topic filter. Must be
the only character in its level"; ``+`` "Any string in the level that contains the character. Must
be the only character in its level"; "Topic names and topic filters are case sensitive"), with the
two rules of MQTT 3.1.1 that guide leaves implicit (section 4.7,
http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718106): ``#`` also
matches its parent level (``sport/#`` matches ``sport``), and a filter that starts with a wildcard
does not match a topic name that starts with ``$`` (AWS IoT's reserved topics).

Plain Python: the constructs check filters at synth and the evaluator matches topics with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_TOPIC_FILTERS = 5
MAX_TOPIC_FILTER_LENGTH = 256
DIMENSION_OPERATORS = ("IN", "NOT_IN")


def topic_filter_problem(topic_filter: object) -> str | None:
    """Why ``topic_filter`` is not an MQTT topic filter (of 1 to 256 characters), or None."""
    if not isinstance(topic_filter, str) or not 0 < len(topic_filter) <= MAX_TOPIC_FILTER_LENGTH:
        return f"topic filter {topic_filter!r} must be a string of 1 to {MAX_TOPIC_FILTER_LENGTH} characters"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return f"topic filter {topic_filter!r}: '#' must be the whole last level"
        if "+" in level and level != "+":
            return f"topic filter {topic_filter!r}: '+' must be a whole level"
    return None


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether the topic name ``topic`` matches the MQTT topic filter ``topic_filter``.

    Levels are split on ``/`` and may be empty; ``+`` matches exactly one level, ``#`` (last) its
    parent level and every level below; a filter starting with ``+`` or ``#`` never matches a topic
    starting with ``$``. A malformed filter matches nothing.
    """
    if topic_filter_problem(topic_filter) is not None:
        return False
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    wanted, levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True  # at and below: levels[index:] may be empty (the parent level itself)
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(wanted) == len(levels)


@dataclass(frozen=True)
class TopicScope:
    """A behavior's dimension as a predicate on a datapoint's topic: ``scope(topic)`` is whether the
    behavior counts the datapoint. ``IN``: the topic matches one of ``filters``; ``NOT_IN``: it
    matches none. A datapoint without a topic (``None``) is in no scope."""

    filters: tuple[str, ...]
    operator: str = "IN"

    def __call__(self, topic: str | None) -> bool:
        if topic is None:
            return False
        matched = any(topic_matches(topic_filter, topic) for topic_filter in self.filters)
        return matched if self.operator == "IN" else not matched


def dimension_problems(name: str, filters: Sequence[object]) -> list[str]:
    """Every way ``filters`` cannot be the ``stringValues`` of the TOPIC_FILTER dimension ``name``."""
    found: list[str] = []
    if not filters or len(filters) > MAX_TOPIC_FILTERS:
        found.append(f"dimension '{name}' must have 1 to {MAX_TOPIC_FILTERS} topic filters, has {len(filters)}")
    for topic_filter in filters:
        problem = topic_filter_problem(topic_filter)
        if problem:
            found.append(f"dimension '{name}': {problem}")
    return found
