"""``models status``: each learned behavior's model as ``GetBehaviorModelTrainingSummaries`` reports it
(``modelStatus``, ``datapointsCollectionPercentage``, ``lastModelRefreshDate``,
https://docs.aws.amazon.com/iot/latest/apireference/API_GetBehaviorModelTrainingSummaries.html), with
the reason a model does not judge; a corrupt model item is listed with what is wrong with it."""

from __future__ import annotations

import argparse
import time
from typing import Any

from iot_defender_runtime.adapters.model_store import LearnedModels
from iot_defender_runtime.evaluation.learned import why_not_judging
from iot_defender_runtime.model.learned_model import CorruptModelError, LearnedModel
from iot_defender_runtime.operator.results import Result, iso
from iot_defender_runtime.operator.where import Where

clock = time.time  # the tests set it


def status(arguments: argparse.Namespace, where: Where) -> Result:
    """Every model of the state table, or those of ``--security-profile``."""
    [table] = where.need("table", purpose="models status")
    now = clock()
    wanted = arguments.security_profile
    models, corrupt = [], []
    for found in LearnedModels(table).scan():
        if isinstance(found, CorruptModelError):
            corrupt.append(str(found))
        elif wanted is None or found.profile == wanted:
            models.append(found)
    models.sort(key=lambda m: (m.profile, m.behavior))
    summaries = [_data(model, now) for model in models]
    lines = [_text(model, now) for model in models] + [f"corrupt: {reason}" for reason in corrupt]
    return Result({"summaries": summaries, "corrupt": corrupt}, "\n".join(lines) or "no learned behaviors' models")


def _data(model: LearnedModel, now: float) -> dict[str, Any]:
    summary = model.summary(now)
    summary["reason"] = why_not_judging(model, now)
    return summary


def _text(model: LearnedModel, now: float) -> str:
    summary = model.summary(now)
    refreshed = iso(summary.get("lastModelRefreshDate")) or "never"
    line = (
        f"{model.profile}/{model.behavior}: {summary['modelStatus']}, "
        f"{summary['datapointsCollectionPercentage']} % collected, last refresh {refreshed}"
    )
    reason = why_not_judging(model, now)
    return f"{line} ({reason})" if reason else line
