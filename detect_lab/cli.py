"""``iot-defender-lab``: the Detect lab's one command.

    iot-defender-lab simulate --things 500 --days 3 --seed 7 --attacks-per-kind 5 --out fleet.jsonl
    iot-defender-lab replay   (--things N --days D ... | --records fleet.jsonl | --history DIR) [--behaviors ...]
    iot-defender-lab tune     (same sources) --target-false-alarms 1.0 --out tuned/
    iot-defender-lab export-managed --profile P --thing T ... --start ... --end ... --out history/
    iot-defender-lab demo     --out demo-out

Exit status: 0 done; 1 an AWS call failed (export-managed); 2 bad usage: one line on stderr names the
argument, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from detect_lab import commands as lab_commands
from detect_lab.commands import LabUsageError

PROG = "iot-defender-lab"
EPILOG = "Exit status: 0 done; 1 an AWS call failed; 2 bad usage (one line on stderr says which argument and why)."


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (``prog: error: message (see prog --help)``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or bad usage (2), already printed
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return arguments.run(arguments)
    except LabUsageError as error:
        print(f"{PROG} {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    except lab_commands.AwsCallError as error:
        print(f"{PROG} {arguments.command}: AWS call failed: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Detect lab: simulate a fleet, replay it through the self-hosted Detect evaluator, tune "
        "thresholds, and report with charts. Runs locally; no AWS account needed (but for export-managed).",
        epilog=EPILOG,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _simulate(commands)
    _replay(commands)
    _tune(commands)
    _export_managed(commands)
    _demo(commands)
    return parser


def _command(commands, name: str, run, summary: str, description: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=description, epilog=EPILOG)
    parser.set_defaults(run=run)
    return parser


def _fleet_options(parser: argparse.ArgumentParser, *, things: int, days: float) -> None:
    group = parser.add_argument_group("simulated fleet")
    group.add_argument("--things", type=int, default=things, help=f"things in the fleet (default: {things})")
    group.add_argument("--days", type=float, default=days, help=f"simulated days (default: {days:g})")
    group.add_argument("--seed", type=int, default=1, help="the fleet's seed (default: 1)")
    group.add_argument(
        "--attacks-per-kind",
        type=int,
        default=lab_commands.ATTACKS_PER_KIND,
        help="attacks injected of each of the six kinds (default: %(default)s)",
    )
    group.add_argument("--shards", type=int, default=4, help="shards of the datapoint stream (default: 4)")


def _source_options(parser: argparse.ArgumentParser) -> None:
    _fleet_options(parser, things=50, days=1.0)
    source = parser.add_argument_group("or a saved source (instead of simulating)")
    choice = source.add_mutually_exclusive_group()
    choice.add_argument("--records", metavar="FILE", help="a fleet saved by `simulate --out` (labels read beside it)")
    choice.add_argument("--history", metavar="PATH", help="window history Parquet files (a file or a directory)")


def _behavior_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("behaviors")
    group.add_argument(
        "--behaviors",
        default="starter",
        metavar="SET",
        help="reference (app.py's behaviors as they ship), starter (reference plus one per attack kind, per "
        "device class), or a DETECT_PROFILES JSON file such as `tune --out` writes (default: starter)",
    )
    group.add_argument(
        "--behavior", action="append", default=[], metavar="NAME", help="only this behavior (repeat for more)"
    )


def _simulate(commands) -> None:
    parser = _command(
        commands,
        "simulate",
        lab_commands.simulate_command,
        "simulate a fleet and save its Kinesis records (JSON Lines) and attack labels",
        "Simulate a fleet of things in device classes (sensor, gateway, camera) with labelled attacks, and write "
        "the Kinesis records the evaluator's stream would carry, one per line, and the labels beside them "
        "(FILE.labels.jsonl).",
    )
    _fleet_options(parser, things=500, days=3.0)
    parser.add_argument("--out", required=True, metavar="FILE", help="records file to write (.jsonl)")


def _replay(commands) -> None:
    parser = _command(
        commands,
        "replay",
        lab_commands.replay_command,
        "replay a fleet or a window history through the evaluator and score its alarms",
        "Run the evaluator's own code (in memory, accelerated time) over a simulated fleet, a saved one, or "
        "window history, and print per behavior: alarms, devices in alarm and, with labels, detected and "
        "missed attacks, false alarms per 1,000 device-days and time to detect.",
    )
    _source_options(parser)
    _behavior_options(parser)
    parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    parser.add_argument(
        "--verifications",
        metavar="FILE",
        help="operators' verification states as labels: a JSON list of {violationId, verificationState}, such as "
        "`iot-defender violations events --json` prints (TRUE_POSITIVE, BENIGN_POSITIVE: detected; "
        "FALSE_POSITIVE: a false alarm)",
    )


def _tune(commands) -> None:
    parser = _command(
        commands,
        "tune",
        lab_commands.tune_command,
        "propose thresholds that meet a false-alarm target, with the trade-off",
        "From the windows of normal devices, propose each behavior's threshold and consecutiveDatapointsToAlarm "
        "that meet the false-alarm target, print the trade-off, and write Behavior.rule(...) code and the API "
        "JSON.",
    )
    _source_options(parser)
    _behavior_options(parser)
    parser.add_argument(
        "--target-false-alarms",
        type=float,
        default=1.0,
        metavar="RATE",
        help="false alarms per 1,000 device-days to stay under (default: 1.0)",
    )
    parser.add_argument("--out", metavar="DIR", help="write tuned_behaviors.py, .json and the profiles JSON here")
    parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")


def _export_managed(commands) -> None:
    parser = _command(
        commands,
        "export-managed",
        lab_commands.export_managed_command,
        "export managed Detect's metric values (ListMetricValues) as window history",
        "For an account that has managed Detect: read ListMetricValues for each thing and each behavior's "
        "metric of a security profile, and write them as window history Parquet (verdict 'unjudged'), to "
        "replay and tune with this lab before moving to self-hosted Detect. Uses your AWS credentials.",
    )
    parser.add_argument("--profile", required=True, help="the security profile whose behaviors' metrics to export")
    parser.add_argument("--thing", action="append", default=[], metavar="THING", help="a thing (repeat for more)")
    parser.add_argument("--things-file", metavar="FILE", help="thing names, one a line")
    parser.add_argument("--start", required=True, help="ISO 8601 time (UTC) or epoch seconds")
    parser.add_argument("--end", required=True, help="ISO 8601 time (UTC) or epoch seconds")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the Parquet files")
    parser.add_argument("--region", help="AWS region (default: your configuration's)")
    parser.add_argument("--aws-profile", help="named AWS profile (default: your configuration's)")


def _demo(commands) -> None:
    parser = _command(
        commands,
        "demo",
        lab_commands.demo_command,
        "simulate, replay, tune on one seed, evaluate on another, and write the report",
        "The whole lab in one run: simulate a fleet with attacks, replay the reference app's behaviors, tune on "
        "one seed, evaluate the tuned behaviors on another seed, write the report with charts to --out and "
        "print the summary table.",
    )
    _fleet_options(parser, things=500, days=3.0)
    parser.add_argument("--eval-seed", type=int, default=2, help="the evaluation fleet's seed (default: 2)")
    parser.add_argument("--target-false-alarms", type=float, default=1.0, metavar="RATE", help="(default: 1.0)")
    parser.add_argument("--out", default="demo-out", metavar="DIR", help="report directory (default: demo-out)")
    parser.add_argument("--progress", action="store_true", help="show progress bars on stderr")
    parser.add_argument(
        "--learned",
        action="store_true",
        help="also train learned (ML) behaviors on a 14-day fleet and score them beside the tuned ones "
        "(several more minutes)",
    )
    parser.add_argument(
        "--learned-things", type=int, default=300, metavar="N", help="the 14-day training fleet (default: 300)"
    )
