"""Markers of the synth tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs the CDK CLI (tens of seconds); deselect with -m 'not slow'")
