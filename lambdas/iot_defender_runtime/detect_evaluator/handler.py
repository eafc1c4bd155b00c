"""Self-hosted Detect evaluator: Kinesis batches of datapoints in, Device Defender violation JSON
out on the alert topic, per-thing alarm state in the state table.

This module is the entry point only: ``batch`` judges a Kinesis batch, ``sweep`` runs the schedule,
``records`` reads the record formats, ``invocation`` publishes violations, ``membership`` follows
targets, ``config`` reads the environment. A record that is not a datapoint is reported in
``batchItemFailures``.

A profile with ``targets`` evaluates only the things it watches: the evaluator looks up each
reporting thing's groups (``ListThingGroupsForThing``, and each group's ancestors) and remembers
them for ``MEMBERSHIP_CACHE_SECONDS`` (default 300), so a thing moved between groups is followed
within that time.

Violations are published before the state that produced them is written: a failure in between
publishes the same violation again on retry (the same ``violationId``; the quarantine responder
is idempotent on it) rather than losing it.

A scheduled ``{"sweep": true}`` event (every 5 minutes) does what needs no datapoint: it judges
windows that ended for things that went quiet, invalidates alarms of things that stopped reporting,
and computes the fleet percentiles that statistical behaviors are judged against. For a large state
table it coordinates instead: it invokes this function once per parallel scan segment
(``{"sweep": true, "segment": i, "segments": n, ...}``, see ``sweep_segments``). Behaviors with
``suppressAlerts`` keep their state but publish nothing, as in managed Detect.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from iot_defender_runtime.detect_evaluator import learned_bands, membership
from iot_defender_runtime.detect_evaluator.batch import evaluate_batch
from iot_defender_runtime.detect_evaluator.config import config
from iot_defender_runtime.detect_evaluator.observability import logger, metrics, tracer
from iot_defender_runtime.detect_evaluator.sweep import sweep, sweep_event
from iot_defender_runtime.detect_evaluator.sweep_segments import layout as sweep_layout

__all__ = ["clear_caches", "evaluate_batch", "lambda_handler", "sweep"]  # tests and the lab drive these


def clear_caches() -> None:
    """Forget the configuration, clients and memberships read so far (tests, and a changed environment)."""
    config.cache_clear()
    sweep_layout.cache_clear()
    membership.registry.cache_clear()
    membership.forget()
    learned_bands.forget_logged()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("sweep") is True:
        started = time.monotonic()
        try:
            return sweep_event(event, time.time(), context.invoked_function_arn)
        finally:
            # Each sweep run (the coordinator, each segment): the operations dashboard's sweep duration.
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.add_metric(name="SweepDuration", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return evaluate_batch(event.get("Records") or [], time.time())
