"""The operators' command, ``iot-defender`` (``iot_defender_runtime.operator.cli``), on moto: where the
deployment is (stack outputs, flags, environment), what is in quarantine and why, releases, the action
log, both breakers, and self-hosted Detect's violations; text by default, ``--json`` for machines,
exit status 0 done, 1 an AWS call failed, 2 bad usage or refused. DescribeStacks is answered by a
botocore ``Stubber`` (checked against the API model): moto's CloudFormation needs extras this project
does not install."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from iot_defender_runtime.adapters import aws_clients
from iot_defender_runtime.adapters.quarantine_records import QuarantineRecord, QuarantineRecords
from iot_defender_runtime.operator.cli import main
from iot_defender_runtime.remediation import breaker as breaker_module
from iot_defender_runtime.remediation.breaker import AUDIT_BREAKER_ID, QuarantineBreaker
from tests.conftest import REPO
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, TABLE
from tests.lambdas.test_quarantine_handler import invoke, sqs_record
from tests.lambdas.test_remediation import in_alarm

STACK = "DefenderProd"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what handlers logged before
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *argv: str) -> tuple[int, Any, str]:
    status, out, err = run(capsys, *argv, "--json")
    return status, json.loads(out) if out else None, err


@pytest.fixture
def stacks(world) -> Stubber:
    """DescribeStacks, answered by a Stubber on the CloudFormation client every adapter uses."""
    stubber = Stubber(aws_clients.client("cloudformation"))
    stubber.activate()
    return stubber


def stack_with_outputs(stacks: Stubber, outputs: dict[str, str], name: str = STACK) -> None:
    """The next DescribeStacks of ``name`` answers these outputs."""
    stack = {
        "StackName": name,
        "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }
    stacks.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": name})


def deployed_outputs(monkeypatch) -> dict[str, str]:
    """The stack outputs of the moto world; the environment variables the older commands read are unset."""
    import os

    outputs = {
        "StateTableName": TABLE,
        "QuarantineGroupName": QUARANTINE_GROUP,
        "NotifyTopicArn": os.environ["NOTIFY_TOPIC_ARN"],
    }
    for name in ("STATE_TABLE_NAME", "QUARANTINE_GROUP_NAME", "NOTIFY_TOPIC_ARN"):
        monkeypatch.delenv(name)
    return outputs


def quarantine_by_violation(world, thing: str, violation_id: str) -> None:
    world.add_thing(thing)
    assert invoke(sqs_record(json.dumps(in_alarm(thing, violation_id)), "m-" + thing)) == {"batchItemFailures": []}
    world.notifications()


def quarantine_by_audit(world, thing: str) -> None:
    """As the audit remediator records a quarantine for a finding (finding id, audit task, check name)."""
    world.add_thing(thing, groups=(FLEET_GROUP, QUARANTINE_GROUP))
    QuarantineRecords(TABLE).save_if_absent(
        QuarantineRecord(
            thing, QUARANTINE_GROUP, (FLEET_GROUP,), "f-1", "task-7", "DEVICE_CERTIFICATE_SHARED_CHECK",
            datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["quarantined"],
        ["release"],
        ["actions"],
        ["breaker"],
        ["breaker", "status"],
        ["breaker", "reset"],
        ["violations"],
        ["violations", "active"],
        ["violations", "events"],
        ["violations", "verify"],
    ],
)
def test_every_subcommand_has_help(capsys, argv):
    status, out, _ = run(capsys, *argv, "--help")
    assert status == 0
    assert out.startswith("usage: iot-defender") and "--stack NAME" in out and "--json" in out


def test_the_console_script_is_declared_and_the_module_runs():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["iot-defender"] == "iot_defender_runtime.operator.cli:main"
    done = subprocess.run(
        [sys.executable, "-m", "iot_defender_runtime.operator", "breaker", "status", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "quarantines|audit-actions" in done.stdout


def test_quarantined_lists_each_thing_with_its_cause_from_the_stack_outputs(world, stacks, capsys, monkeypatch):
    # Given a thing quarantined for a violation, one for an audit finding and one put in the group by hand
    quarantine_by_violation(world, "meter-7", "v-1")
    quarantine_by_audit(world, "cam-2")
    world.add_thing("manual", groups=(QUARANTINE_GROUP,))
    outputs = deployed_outputs(monkeypatch)
    # When an operator lists them through the stack's outputs
    stack_with_outputs(stacks, outputs)
    status, out, err = run(capsys, "quarantined", "--stack", STACK)
    # Then each is shown with why and since when
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"3 thing(s) in quarantine (group {QUARANTINE_GROUP}):"
    assert "cam-2  since 2026-11-20T10:00:00Z  audit finding f-1 (check DEVICE_CERTIFICATE_SHARED_CHECK" in lines[1]
    assert "manual  [in the quarantine group without a record: release cannot restore it" in lines[2]
    assert (
        "meter-7  since 20" in lines[3] and "violation v-1 (profile LargeMessageSize, behavior messageSize)" in lines[3]
    )
    # And --json gives the same as data
    stack_with_outputs(stacks, outputs)
    status, data, _ = run_json(capsys, "--stack", STACK, "quarantined")
    meter = next(thing for thing in data["things"] if thing["thingName"] == "meter-7")
    assert meter["cause"] == {
        "kind": "violation",
        "violationId": "v-1",
        "securityProfileName": "LargeMessageSize",
        "behaviorName": "messageSize",
    }
    assert (meter["inGroup"], meter["groupsBefore"]) == (True, [FLEET_GROUP])
    assert [t["cause"] and t["cause"]["kind"] for t in data["things"]] == ["audit-finding", None, "violation"]


def test_quarantined_without_the_group_lists_the_records_only(world, capsys, monkeypatch):
    quarantine_by_violation(world, "meter-7", "v-1")
    monkeypatch.delenv("QUARANTINE_GROUP_NAME")
    status, out, _ = run(capsys, "quarantined", "--table", TABLE)
    assert status == 0
    assert out.splitlines()[0] == "1 thing(s) in quarantine (records only):"


def test_release_restores_the_thing_logs_it_and_refuses_a_second_time(world, stacks, capsys, monkeypatch):
    quarantine_by_violation(world, "meter-7", "v-1")
    outputs = deployed_outputs(monkeypatch)
    stack_with_outputs(stacks, outputs)
    status, out, err = run(capsys, "release", "meter-7", "--reason", "firmware 2.4.1", "--stack", STACK)
    assert (status, err) == (0, "")
    assert out == f"released meter-7: removed from thing group {QUARANTINE_GROUP}\n"
    assert world.groups_of("meter-7") == [FLEET_GROUP]
    [notification] = world.notifications()
    assert notification["release"] == {
        "by": "operator",
        "reason": "firmware 2.4.1",
        "changes": [f"removed from thing group {QUARANTINE_GROUP}"],
    }
    # A second release: nothing known to restore, refused with status 2
    stack_with_outputs(stacks, outputs)
    status, out, err = run(capsys, "--stack", STACK, "release", "meter-7")
    assert (status, out) == (2, "")
    assert "no quarantine record for thing 'meter-7': refusing to release" in err


def test_release_names_what_is_missing_and_where_it_comes_from(world, stacks, capsys, monkeypatch):
    outputs = deployed_outputs(monkeypatch)
    stack_with_outputs(stacks, {"StateTableName": outputs["StateTableName"]})
    status, _, err = run(capsys, "release", "meter-7", "--stack", STACK)
    assert status == 2
    assert "release needs QuarantineGroupName, NotifyTopicArn" in err
    assert f"stack '{STACK}' has no output QuarantineGroupName" in err and "--quarantine-group" in err
    status, _, err = run(capsys, "release", "meter-7")
    assert status == 2 and "give --stack NAME or --table, or set STATE_TABLE_NAME" in err


def test_actions_shows_a_things_log_oldest_first(world, capsys):
    quarantine_by_violation(world, "meter-7", "v-1")
    assert run(capsys, "release", "meter-7", "--reason", "fixed")[0] == 0
    status, out, _ = run(capsys, "actions", "meter-7")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "2 action(s) about meter-7:"
    assert "by rule quarantine-in-alarm  cause: violation v-1 (in-alarm)" in lines[1]
    assert lines[2].strip().startswith(f"added to thing group {QUARANTINE_GROUP}")
    assert "by operator  cause: operator" in lines[3] and "reason: fixed" in lines[4]
    status, data, _ = run_json(capsys, "actions", "meter-7")
    assert [(a["by"], a.get("violationId")) for a in data["actions"]] == [
        ("rule quarantine-in-alarm", "v-1"),
        ("operator", None),
    ]
    assert run(capsys, "actions", "meter-70")[1] == "no action logged about meter-70 (entries are kept 400 days)\n"


def test_breaker_status_shows_count_limit_and_reset_time_of_both(world, capsys):
    # Given the quarantine breaker tripped at its limit of 2, the audit breaker never used
    clock = [1_800_000_000.0]
    breaker = QuarantineBreaker(TABLE, 2, clock=lambda: clock[0])
    for _ in range(3):
        breaker.acquire()
        clock[0] += 60
    status, data, _ = run_json(capsys, "breaker", "status")
    assert status == 0
    quarantines, audit = data["breakers"]
    assert {k: quarantines[k] for k in ("name", "countInWindow", "limit", "tripped", "trippedAt", "resetsAt")} == {
        "name": "quarantines",
        "countInWindow": 2,
        "limit": 2,
        "tripped": True,
        "trippedAt": "2027-01-15T08:02:00Z",
        "resetsAt": "2027-01-15T09:02:00Z",
    }
    assert (audit["name"], audit["countInWindow"], audit["limit"], audit["tripped"]) == (
        "audit-actions",
        0,
        None,
        False,
    )
    status, out, _ = run(capsys, "breaker", "status")
    assert out.splitlines() == [
        "quarantines: 2 in the last hour, limit 2; TRIPPED at 2027-01-15T08:02:00Z: holds every action until "
        "2027-01-15T09:02:00Z (or: iot-defender breaker reset quarantines)",
        "audit-actions: 0 in the last hour, limit not recorded yet (nothing admitted since deployment or a reset; "
        "MAX_ACTIONS_PER_HOUR); not tripped",
    ]


def test_breaker_reset_empties_the_named_breaker_and_keeps_its_limit(world, capsys):
    audit = QuarantineBreaker(TABLE, 5, breaker_id=AUDIT_BREAKER_ID)
    audit.acquire()
    status, out, _ = run(capsys, "breaker", "reset", "audit-actions")
    assert status == 0 and out.startswith("audit-actions breaker reset (it had 1 in the last hour, not tripped)")
    status, data, _ = run_json(capsys, "breaker", "status", "audit")
    [after] = data["breakers"]
    assert (after["countInWindow"], after["limit"], after["nextSlotAt"]) == (0, 5, None)
    assert run(capsys, "breaker", "reset")[0:3:2] == (
        2,
        "iot-defender: say which breaker to reset: quarantines or audit-actions\n",
    )
    assert "no breaker 'quarantine-actions'" in run(capsys, "breaker", "status", "quarantine-actions")[2]


@pytest.mark.parametrize("breaker", [[], ["quarantine"], ["quarantines"], ["audit-actions"]])
def test_the_documented_python_m_breaker_forms_work(world, capsys, breaker):
    assert breaker_module.main(["breaker", "status", *breaker]) == 0
    assert "in the last hour: 0; limit: not recorded yet" in capsys.readouterr().out
    assert breaker_module.main(["breaker", "reset", *breaker]) == 0
    assert breaker_module.main(["breaker", "status", "both"]) == 2
    assert breaker_module.main(["breaker", "stop"]) == 2


def test_aws_failures_exit_1_and_unknown_stacks_2(world, stacks, capsys):
    status, _, err = run(capsys, "quarantined", "--table", "no-such-table")
    assert status == 1 and err.startswith("iot-defender: AWS call failed: ")
    stacks.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id Nope does not exist", expected_params={"StackName": "Nope"}
    )
    assert run(capsys, "breaker", "status", "--stack", "Nope")[0::2] == (
        2,
        "iot-defender: no stack 'Nope' in this account and region\n",
    )
    status, _, err = run(capsys, "actions", "t1", "--profile", "no-such-profile-here")
    assert status == 2 and "no-such-profile-here" in err


def test_flags_win_over_stack_outputs_which_win_over_the_environment(world, stacks, capsys, monkeypatch):
    monkeypatch.setenv("STATE_TABLE_NAME", "from-environment")
    stack_with_outputs(stacks, {"StateTableName": "from-stack"})
    assert run(capsys, "actions", "t1", "--stack", STACK, "--table", TABLE)[0::2] == (0, "")  # the flag's table exists
    stack_with_outputs(stacks, {"StateTableName": "from-stack"})
    status, _, err = run(capsys, "actions", "t1", "--stack", STACK)
    assert status == 1 and "ResourceNotFoundException" in err  # the stack's table: none in moto
    assert run(capsys, "actions", "t1")[0] == 1  # the environment's table: none either
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    assert run(capsys, "actions", "t1")[0::2] == (0, "")
