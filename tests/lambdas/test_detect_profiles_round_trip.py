"""``DETECT_PROFILES`` has one owner, ``lambdas/iot_defender_runtime/model/detect_profiles.py``: what its writer writes
(plain or with ``behaviorsGzip``), its reader reads back as the same profiles: each behavior's
definition and metric, the topic filters of its dimension, and the profile's targets."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind, DimensionFilter
from iot_defender_runtime.model.detect_profiles import (
    EVERYTHING,
    MAX_PROFILES_JSON_CHARACTERS,
    DetectProfiles,
    ProfileBehavior,
    ProfileDocument,
    ProfileTargets,
    TargetsDocument,
    write_profiles,
)
from iot_defender_runtime.model.metric_catalog import METRICS, CustomMetricType, MetricSpec, custom_metric_spec
from iot_defender_runtime.model.remediation_policy import PolicyError
from iot_defender_runtime.model.topic_filter import TopicScope


@dataclass(frozen=True)
class Judged:
    """A behavior as the writer takes it (the constructs' ``Behavior`` has the same two attributes)."""

    definition: BehaviorDefinition
    spec: MetricSpec


_NAMES = st.from_regex(r"[a-zA-Z0-9:_-]{1,24}", fullmatch=True)
_DURATIONS = st.sampled_from([300, 600, 900, 1800, 3600])
_DATAPOINTS = st.integers(1, 10)
_CIDRS = st.ip_addresses(v=4).map(lambda address: f"{address}/32")


def _rule(metric: str, operator: str, kind: str, values: st.SearchStrategy, duration: bool) -> st.SearchStrategy:
    return st.builds(
        lambda value, seconds, alarm, clear, suppress: (
            metric,
            {
                "kind": BehaviorKind.RULE,
                "comparison_operator": operator,
                "value": {kind: value},
                "duration_seconds": seconds if duration else None,
                "consecutive_datapoints_to_alarm": alarm,
                "consecutive_datapoints_to_clear": clear,
                "suppress_alerts": suppress,
            },
        ),
        values,
        _DURATIONS,
        _DATAPOINTS,
        _DATAPOINTS,
        st.booleans(),
    )


_CUSTOM = {
    "battery_percent": CustomMetricType.NUMBER,
    "readings": CustomMetricType.NUMBER_LIST,
    "firmware": CustomMetricType.STRING_LIST,
    "peers": CustomMetricType.IP_ADDRESS_LIST,
}
_FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=32)
# (metric, BehaviorDefinition fields but the name): every kind of value the evaluator judges
_BEHAVIORS = st.one_of(
    _rule("aws:num-messages-sent", "less-than-equals", "count", st.integers(0, 2**40), duration=True),
    _rule("aws:source-ip-address", "in-cidr-set", "cidrs", st.lists(_CIDRS, min_size=1, max_size=4), duration=False),
    _rule(
        "aws:listening-tcp-ports",
        "in-port-set",
        "ports",
        st.lists(st.integers(0, 65535), min_size=1, max_size=8),
        duration=False,
    ),
    _rule("battery_percent", "greater-than", "number", _FLOATS, duration=False),
    _rule("readings", "in-set", "numbers", st.lists(st.integers(-100, 100), min_size=1, max_size=4), duration=False),
    _rule("firmware", "not-in-set", "strings", st.lists(_NAMES, min_size=1, max_size=4), duration=False),
    _rule("peers", "in-cidr-set", "cidrs", st.lists(_CIDRS, min_size=1, max_size=4), duration=False),
    st.builds(
        lambda statistic, seconds: (
            "aws:num-messages-sent",
            {
                "kind": BehaviorKind.STATISTICAL,
                "comparison_operator": "less-than-equals",
                "statistic": statistic,
                "duration_seconds": seconds,
            },
        ),
        st.sampled_from(["p50", "p90", "p99", "p99.9"]),
        _DURATIONS,
    ),
)


def _spec(metric: str) -> MetricSpec:
    return METRICS[metric] if metric in METRICS else custom_metric_spec(metric, _CUSTOM[metric])


_TOPIC_FILTERS = st.lists(
    st.lists(st.sampled_from(["dt", "+", "telemetry", "cmd", "$aws"]), min_size=1, max_size=3).map("/".join)
    | st.just("#"),
    min_size=1,
    max_size=5,
).map(tuple)
_DIMENSIONED = st.sampled_from(["aws:num-messages-sent", "aws:num-messages-received", "aws:num-authorization-failures"])


@st.composite
def _profile(draw: st.DrawFn, name: str) -> ProfileDocument:
    drawn = draw(st.lists(_BEHAVIORS, min_size=1, max_size=6))
    behaviors = [
        Judged(BehaviorDefinition(name=f"B{index}", metric=metric, **fields), _spec(metric))
        for index, (metric, fields) in enumerate(drawn)
    ]
    dimensions = draw(st.dictionaries(_NAMES, _TOPIC_FILTERS, max_size=2))
    for index, dimension in enumerate(dimensions):  # a windowed count behavior on each dimension
        metric = draw(_DIMENSIONED)
        scope = DimensionFilter(dimension, draw(st.sampled_from(["IN", "NOT_IN"])))
        definition = BehaviorDefinition(
            f"D{index}",
            metric,
            BehaviorKind.RULE,
            "less-than-equals",
            {"count": 5},
            duration_seconds=300,
            dimension=scope,
        )
        behaviors.append(Judged(definition, METRICS[metric]))
    groups = tuple(draw(st.lists(_NAMES, max_size=3, unique=True)))
    registered, unregistered = draw(st.booleans()), draw(st.booleans())
    watched = groups or registered or unregistered  # a targets that names nothing is refused by the reader
    targets = TargetsDocument(groups, registered, unregistered) if watched and draw(st.booleans()) else None
    return ProfileDocument(name, behaviors, targets, dimensions)


@st.composite
def _profiles(draw: st.DrawFn) -> list[ProfileDocument]:
    names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    return [draw(_profile(name)) for name in names]


def _read_back(profiles: list[ProfileDocument]) -> DetectProfiles:
    """What the reader must give for ``profiles``: every behavior, in order, with its profile's targets."""

    def targets(document: TargetsDocument | None) -> ProfileTargets:
        if document is None:
            return EVERYTHING
        return ProfileTargets(
            frozenset(document.thing_groups), document.registered_things, document.unregistered_things
        )

    def filters(profile: ProfileDocument, behavior: Judged) -> tuple[str, ...]:
        dimension = behavior.definition.dimension
        return tuple(profile.dimensions[dimension.name]) if dimension is not None else ()

    return DetectProfiles(
        tuple(
            ProfileBehavior(
                profile.name, behavior.definition, behavior.spec, targets(profile.targets), filters(profile, behavior)
            )
            for profile in profiles
            for behavior in profile.behaviors
        )
    )


@given(_profiles(), st.booleans())
def test_what_the_writer_renders_the_reader_reads_back_plain_or_compressed(profiles, compress):
    text = json.dumps({"profiles": [profile.render(compress=compress) for profile in profiles]})
    assert ("behaviorsGzip" in text) is compress
    read = DetectProfiles.from_json(text)
    assert read == _read_back(profiles)
    for behavior in read.behaviors:  # each behavior with a dimension scopes its datapoints by their topic
        dimension = behavior.definition.dimension
        expected = TopicScope(behavior.dimension_filters, dimension.operator) if dimension is not None else None
        assert behavior.topic_filter == expected


@given(_profiles())
def test_what_write_profiles_writes_the_reader_reads_back(profiles):
    try:
        text = write_profiles(profiles)
    except PolicyError:
        return  # too large even compressed: nothing is written
    assert len(text) <= MAX_PROFILES_JSON_CHARACTERS
    assert DetectProfiles.from_json(text) == _read_back(profiles)


def _storms(count: int) -> list[Judged]:
    return [
        Judged(
            BehaviorDefinition(
                f"Storm{i}",
                "aws:num-messages-sent",
                BehaviorKind.RULE,
                comparison_operator="less-than-equals",
                value={"count": 100 + i},
                duration_seconds=300,
            ),
            METRICS["aws:num-messages-sent"],
        )
        for i in range(count)
    ]


def test_plain_json_while_it_fits_then_compressed_behaviors_that_read_back_the_same():
    small = [ProfileDocument("fleet", _storms(2), TargetsDocument(("sensors",)))]
    assert "behaviorsGzip" not in write_profiles(small)
    large = [ProfileDocument("fleet", _storms(40), TargetsDocument(("sensors",)))]
    text = write_profiles(large)
    assert "behaviorsGzip" in text and len(text) <= MAX_PROFILES_JSON_CHARACTERS
    assert DetectProfiles.from_json(text) == _read_back(large)


def test_refuses_profiles_that_do_not_fit_even_compressed():
    profiles = [ProfileDocument(f"p{p}", _storms(400)) for p in range(3)]
    with pytest.raises(PolicyError) as raised:
        write_profiles(profiles)
    [problem] = raised.value.problems
    assert problem.endswith(
        f"characters as compressed JSON; at most {MAX_PROFILES_JSON_CHARACTERS} fit in the evaluator's environment: "
        "split them over two SelfHostedDetect constructs"
    )


def test_token_strings_pass_through_and_behaviors_holding_one_stay_out_of_gzip():
    # Given a thing group named by a CDK token, behaviors too long for plain JSON, and a profile whose
    # behavior the caller's ``unresolved`` says holds a token
    group = "${Token[TOKEN.123]}"
    held = Judged(replace(_storms(1)[0].definition, name="FromParameter"), METRICS["aws:num-messages-sent"])
    profiles = [
        ProfileDocument("fleet", _storms(40), TargetsDocument((group,))),
        ProfileDocument("parameters", [held]),
    ]
    # When written with that predicate
    text = write_profiles(profiles, unresolved=lambda behaviors: "FromParameter" in behaviors)
    # Then the token string is kept whole (the template resolves it), the long behaviors are compressed,
    # and the behaviors with a token stay plain JSON, since a token inside gzip could not be resolved
    fleet, parameters = json.loads(text)["profiles"]
    assert fleet["targets"]["thingGroups"] == [group] and "behaviorsGzip" in fleet
    assert parameters["behaviors"] == [held.definition.to_api()]


def _dimensioned(dimension: str = "telemetry", operator: str = "IN") -> Judged:
    definition = BehaviorDefinition(
        "Topics",
        "aws:num-messages-sent",
        BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": 9},
        duration_seconds=300,
        dimension=DimensionFilter(dimension, operator),
    )
    return Judged(definition, METRICS["aws:num-messages-sent"])


def test_a_behavior_with_a_dimension_counts_only_the_topics_of_its_dimension():
    text = write_profiles([ProfileDocument("fleet", [_dimensioned(operator="NOT_IN")], None, {"telemetry": ["dt/#"]})])
    assert json.loads(text)["profiles"][0]["dimensions"] == {
        "telemetry": {"type": "TOPIC_FILTER", "stringValues": ["dt/#"]}
    }
    [behavior] = DetectProfiles.from_json(text).behaviors
    scope = behavior.topic_filter
    assert scope is not None
    assert (scope("dt/meter-7/telemetry"), scope("cmd/meter-7"), scope(None)) == (False, True, False)
    assert [
        b.topic_filter for b in DetectProfiles.from_json(write_profiles([ProfileDocument("f", _storms(1))])).behaviors
    ] == [None]


def test_a_behavior_naming_a_dimension_the_profile_does_not_define_is_refused():
    text = write_profiles([ProfileDocument("fleet", [_dimensioned("commands")], None, {"telemetry": ["dt/#"]})])
    with pytest.raises(PolicyError) as raised:
        DetectProfiles.from_json(text)
    assert raised.value.problems == (
        "profiles[0].behaviors[0] ('Topics') uses the dimension 'commands', which profiles[0].dimensions does not "
        "define",
    )


@pytest.mark.parametrize(
    ("dimensions", "problem"),
    [
        ([], "profiles[0].dimensions must be an object of name to dimension"),
        (
            {"telemetry": {"type": "CLIENT_ID", "stringValues": ["a"]}},
            'profiles[0].dimensions.telemetry must be {"type": "TOPIC_FILTER", "stringValues": [...]}',
        ),
        (
            {"telemetry": {"type": "TOPIC_FILTER", "stringValues": ["dt/#/x"]}},
            "profiles[0].dimensions.telemetry: dimension 'telemetry': topic filter 'dt/#/x': '#' must be the whole "
            "last level",
        ),
    ],
)
def test_malformed_dimensions_are_refused(dimensions, problem):
    text = json.dumps(
        {"profiles": [{"name": "fleet", "behaviors": [_storms(1)[0].definition.to_api()], "dimensions": dimensions}]}
    )
    with pytest.raises(PolicyError) as raised:
        DetectProfiles.from_json(text)
    assert raised.value.problems == (problem,)
