"""Daily trainer of learned behaviors (self-hosted ML Detect), run by an EventBridge schedule.

Each run trains every ML behavior of ``DETECT_PROFILES`` on the trailing 14 days of the window history
(an Athena query per behavior in ``HISTORY_WORKGROUP`` over ``HISTORY_DATABASE``.``HISTORY_TABLE``) and
writes the models to ``STATE_TABLE_NAME``, where the evaluator reads them. Per run it publishes the count
of models per status (``LearnedModels`` with a ``ModelStatus`` dimension), ``TrainingFailures`` and
``CorruptLearnedModels``, and logs why each model that cannot judge does not (collecting, given up,
not refreshed). It returns the summary of every model, as ``GetBehaviorModelTrainingSummaries`` reports them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from iot_defender_runtime.adapters.history_query import AthenaHistory
from iot_defender_runtime.adapters.model_store import LearnedModels
from iot_defender_runtime.behavior_trainer.config import config
from iot_defender_runtime.behavior_trainer.training import TrainingRun, train_all
from iot_defender_runtime.evaluation.learned import why_not_judging

SERVICE = "behavior-trainer"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="DeviceDefender/SelfHostedDetect", service=SERVICE)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return train_now(time.time(), lambda: context.get_remaining_time_in_millis() / 1000)


def train_now(now: float, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
    """One run; ``time_left``: seconds left before the function's timeout (queries are stopped and the
    remaining behaviors reported as failed before it, so the metrics are still published)."""
    current = config()
    history = AthenaHistory(current.workgroup, current.database, current.table, time_left=time_left)
    run = train_all(current.profiles, history, LearnedModels(current.state_table_name), now, time_left)
    report(run, now)
    return {
        "summaries": [_json_summary(model.summary(now)) for model in run.models],
        "failed": run.failed,
        "replacedCorrupt": run.replaced_corrupt,
    }


def report(run: TrainingRun, now: float) -> None:
    statuses = Counter(model.judging_status(now) for model in run.models)
    for status in ("PENDING_BUILD", "ACTIVE", "EXPIRED"):
        metrics.add_metric(name=f"LearnedModels{_title(status)}", unit=MetricUnit.Count, value=statuses[status])
    metrics.add_metric(name="TrainingFailures", unit=MetricUnit.Count, value=len(run.failed))
    metrics.add_metric(name="CorruptLearnedModels", unit=MetricUnit.Count, value=len(run.replaced_corrupt))
    for model in run.models:
        reason = why_not_judging(model, now)
        if reason is not None:
            logger.warning(
                "learned behavior not judging", profile=model.profile, behavior=model.behavior, reason=reason
            )
    for key, reason in run.failed.items():
        logger.error("learned behavior not trained", model=key, reason=reason)
    for key in run.replaced_corrupt:
        logger.error("corrupt model item rebuilt", model=key)


def _title(status: str) -> str:
    return "".join(part.title() for part in status.split("_"))


def _json_summary(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in summary.items()}
