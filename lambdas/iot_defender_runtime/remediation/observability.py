"""Powertools Tracer for the remediation functions, built only when tracing is on.

``Tracer()`` imports the X-Ray SDK (``aws_xray_sdk.core``, about 250 ms here) even when tracing is
disabled, so when it is off the handlers get ``NoTracer``, whose decorators return the function
unchanged. Tracing is off as Powertools decides it: ``POWERTOOLS_TRACE_DISABLED`` true, or outside
Lambda (no ``LAMBDA_TASK_ROOT``), or under SAM local or Chalice local. The functions the constructs
deploy have active tracing and no ``POWERTOOLS_TRACE_DISABLED``, so they get the real Tracer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_TRUTHY = {"1", "y", "yes", "t", "true", "on"}


class NoTracer:
    """The two Tracer decorators the handlers use, doing nothing."""

    def capture_method(self, method: F) -> F:
        return method

    def capture_lambda_handler(self, handler: F) -> F:
        return handler


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether Powertools would trace here (``Tracer._is_tracer_disabled``, without importing it)."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    if not environ.get("LAMBDA_TASK_ROOT"):
        return False
    return not (environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE"))


def tracer_for(service: str) -> Any:
    """A Powertools ``Tracer`` when tracing is on, else ``NoTracer``."""
    if not tracing_enabled():
        return NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)
