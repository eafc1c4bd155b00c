"""bench/quarantine_storm.py at a small size, same faults, fixed seed: the issue-16 aims hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_faulty_storm_quarantines_each_thing_once_notifies_each_and_counts_each_once():
    # 300 in-alarm violations over 30 things, each delivered twice, two concurrent invocations,
    # 20 % of IoT calls throttled after retries, 5 % of SNS publishes failing
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quarantine_storm.py"), "--things", "30", "--violations", "300"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures == {
        "things": 30,
        "quarantined_once": 30,
        "lost": 0,
        "doubled": 0,
        "missing_notifications": 0,
        "breaker_slots_per_quarantine": 1.0,
    }, out.stdout
    assert "IoT calls throttled" in out.stdout and " 0 of " not in out.stdout  # the faults were there
