"""TOPIC_FILTER dimensions: MQTT topic filter matching and a behavior's IN / NOT_IN scope."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_defender_runtime.model.topic_filter import TopicScope, dimension_problems, topic_filter_problem, topic_matches

# Levels of topic names: empty levels are allowed, as are '$' and the characters of other levels
_LEVEL = st.text(alphabet="ab$ -_.", max_size=3)
_TOPICS = st.lists(_LEVEL, min_size=1, max_size=5).map("/".join).filter(bool)


def _reference(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 section 4.7 written as a regular expression, independently of the implementation."""
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    levels = topic_filter.split("/")
    pattern = ""
    for index, level in enumerate(levels):
        separator = "/" if index else ""
        if level == "#":
            pattern += f"(?:{separator}.*)?" if index else ".*"
        else:
            pattern += separator + ("[^/]*" if level == "+" else re.escape(level))
    return re.fullmatch(pattern, topic) is not None


@st.composite
def _filter_for(draw: st.DrawFn, topic: str) -> str:
    """A filter built from ``topic``: some levels replaced by '+', maybe a '#' tail."""
    levels = topic.split("/")
    chosen = [("+" if draw(st.booleans()) else level) for level in levels]
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(chosen)))
        chosen = [*chosen[:cut], "#"]
    return "/".join(chosen)


@given(_TOPICS, st.data())
def test_matching_is_mqtt_matching(topic, data):
    topic_filter = data.draw(st.one_of(_filter_for(topic), _filter_for(data.draw(_TOPICS))))
    assert topic_matches(topic_filter, topic) is _reference(topic_filter, topic)


@given(_TOPICS, st.data())
def test_a_filter_built_from_a_topic_matches_it_unless_a_leading_wildcard_meets_a_dollar_topic(topic, data):
    topic_filter = data.draw(_filter_for(topic))
    assert topic_matches(topic_filter, topic) is not (topic.startswith("$") and topic_filter[0] in "+#")


@given(_TOPICS, _TOPICS)
def test_a_filter_without_wildcards_matches_only_the_same_topic(topic, other):
    assert topic_matches(topic, other) is (topic == other)


@given(_TOPICS, st.lists(_TOPICS, min_size=1, max_size=5), st.one_of(st.none(), _TOPICS))
def test_not_in_is_the_complement_of_in_and_no_topic_is_in_no_scope(topic, filters, other):
    filters = tuple(filters)
    assert TopicScope(filters, "NOT_IN")(topic) is not TopicScope(filters, "IN")(topic)
    assert TopicScope(filters, "IN")(topic) is any(topic_matches(f, topic) for f in filters)
    assert TopicScope(filters, "IN")(None) is False and TopicScope(filters, "NOT_IN")(None) is False


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        # The AWS IoT developer guide's examples ("Topic filters")
        ("sensor/#", "sensor/", True),
        ("sensor/#", "sensor/temperature", True),
        ("sensor/#", "sensor/temperature/room1", True),
        ("sensor/#", "Sensor", False),
        ("sensor/+/room1", "sensor/temperature/room1", True),
        ("sensor/+/room1", "sensor/humidity/room1", True),
        ("sensor/+/room1", "sensor/temperature/room2", False),
        ("sensor/+/room1", "sensor/humidity/room2", False),
        # MQTT 3.1.1, 4.7.1: '#' includes the parent level; '+' matches one level, an empty one too
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/#", "sport", True),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        # MQTT 3.1.1, 4.7.2: a leading wildcard does not match a '$' topic; a literal '$' level does
        ("#", "$aws/things/t/shadow/update", False),
        ("+/things/#", "$aws/things/t/shadow/update", False),
        ("$aws/things/+/shadow/#", "$aws/things/t/shadow/update", True),
        ("dt/#", "dt/$x", True),
        # Case-sensitive; malformed filters match nothing
        ("DT/+", "dt/a", False),
        ("dt/a#", "dt/a#", False),
        ("dt/#/a", "dt/x/a", False),
        ("dt/a+", "dt/a+", False),
    ],
)
def test_matching_examples(topic_filter, topic, matches):
    assert topic_matches(topic_filter, topic) is matches


def test_malformed_filters_and_dimensions_are_named():
    assert topic_filter_problem("dt/+/telemetry") is None and topic_filter_problem("#") is None
    assert topic_filter_problem("dt/#/x") == "topic filter 'dt/#/x': '#' must be the whole last level"
    assert topic_filter_problem("dt/a+") == "topic filter 'dt/a+': '+' must be a whole level"
    assert topic_filter_problem("") == "topic filter '' must be a string of 1 to 256 characters"
    assert dimension_problems("t", ["a", "b", "c", "d", "e", "f"]) == [
        "dimension 't' must have 1 to 5 topic filters, has 6"
    ]
    assert dimension_problems("t", ["a/#/b"]) == [
        "dimension 't': topic filter 'a/#/b': '#' must be the whole last level"
    ]
