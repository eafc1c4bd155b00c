"""Bad fleet specs: each fails alone, with one message that names the argument, the value and what is allowed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect_lab.simulator import DEFAULT_START, AttackKind, AttackLabel, AttackPlan, FleetSpec, SpecError

GOOD = {"things": 3, "days": 0.5}
BAD = {
    "things": st.one_of(
        st.integers(max_value=0), st.integers(min_value=1_000_001), st.booleans(), st.floats(), st.text()
    ),
    "days": st.one_of(st.floats(max_value=0), st.floats(min_value=366.01), st.just(float("nan")), st.booleans()),
    "seed": st.one_of(st.floats(), st.text(), st.booleans(), st.none()),
    "start": st.one_of(st.floats(max_value=946_684_799), st.just(float("inf")), st.text(), st.booleans()),
    "shards": st.one_of(st.integers(max_value=0), st.integers(min_value=501), st.floats(), st.booleans()),
    "report_interval": st.one_of(st.integers(max_value=299), st.integers(min_value=3601), st.floats()),
    "region": st.one_of(st.text().filter(lambda s: not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", s)), st.integers()),
    "stream_name": st.one_of(st.just(""), st.text(min_size=129), st.just("a b"), st.integers()),
    "attacks": st.one_of(
        st.none(), st.integers(), st.just(AttackPlan(per_kind=-1)), st.just(AttackPlan(per_kind=True))
    ),
}


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("argument", sorted(BAD))
def test_fails_when_one_argument_is_bad_with_one_message_naming_it(argument, data):
    value = data.draw(BAD[argument])
    with pytest.raises(SpecError) as raised:
        FleetSpec(**{**GOOD, argument: value})
    message = str(raised.value)
    assert message.startswith(argument) and "; " not in message
    assert " must " in message


def test_fails_when_there_are_no_things():
    with pytest.raises(SpecError, match=r"^things 0 must be an integer from 1 to 1,000,000$"):
        FleetSpec(things=0, days=1.0)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (
            AttackLabel.of(AttackKind.EXFILTRATION, "nobody-000001", DEFAULT_START, DEFAULT_START + 900, "a"),
            "attack 'a': thing 'nobody-000001' is not in the fleet",
        ),
        (
            AttackLabel.of(AttackKind.EXFILTRATION, "sensor-000000", DEFAULT_START - 1, DEFAULT_START + 900, "b"),
            "attack 'b': start",
        ),
        (
            AttackLabel.of(AttackKind.EXFILTRATION, "sensor-000000", DEFAULT_START + 900, DEFAULT_START + 900, "c"),
            "attack 'c': start",
        ),
        (
            AttackLabel.of(AttackKind.EXFILTRATION, "sensor-000000", DEFAULT_START, DEFAULT_START + 2 * 86_400, "d"),
            "attack 'd': start",
        ),
    ],
)
def test_fails_when_an_explicit_attack_is_outside_the_fleet_or_the_run(label, expected):
    with pytest.raises(SpecError) as raised:
        FleetSpec(things=1, days=1.0, seed=0, attacks=AttackPlan.of(label))
    assert str(raised.value).startswith(expected)


def test_the_default_run_starts_on_a_monday_at_midnight_utc():
    assert DEFAULT_START == 1_793_577_600  # 2026-11-02T00:00:00Z, a Monday
