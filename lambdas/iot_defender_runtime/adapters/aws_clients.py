"""boto3 clients with adaptive retries (throttling is retried with backoff and jitter)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=15)


@cache
def client(service: str) -> Any:
    """One client per service per process, reused across warm invocations."""
    return boto3.client(service, config=_RETRIES)
