"""The bounds of normal that learned (ML) behaviors are judged against: one model read per behavior per
batch or sweep, turned into the engine's ``band`` (window start -> upper bound, or None).

A behavior whose model cannot judge (none yet, PENDING_BUILD, EXPIRED, not refreshed for 30 days, or an
unreadable item) gets no band: its windows close unjudged and it does not alarm, with a metric
(``LearnedModelsNotJudging``, ``CorruptLearnedModels``) every invocation, and a log line saying why once
per function instance and state (a behavior waiting 14 days for its model would otherwise log every batch).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.metrics import MetricUnit

from iot_defender_runtime.detect_evaluator.observability import logger, metrics
from iot_defender_runtime.detect_evaluator.ports import ModelStore
from iot_defender_runtime.evaluation.engine import Band
from iot_defender_runtime.evaluation.learned import why_not_judging
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import ProfileBehavior
from iot_defender_runtime.model.learned_model import CorruptModelError, LearnedModel, model_key

_logged: set[tuple[str, str, str]] = set()  # (profile, behavior, state) already logged by this instance


def forget_logged() -> None:
    """Log again why each model cannot judge (tests, and ``handler.clear_caches``)."""
    _logged.clear()


def learned_key(behavior: ProfileBehavior) -> str:
    return model_key(behavior.profile, behavior.definition.name)


def is_learned(behavior: ProfileBehavior) -> bool:
    return behavior.definition.kind is BehaviorKind.ML


def learned_bands(store: ModelStore, behaviors: Iterable[ProfileBehavior], now: float) -> dict[str, Band]:
    """The band of each learned behavior among ``behaviors`` whose model can judge at ``now``, by key."""
    learned = {learned_key(b): b for b in behaviors if is_learned(b)}
    if not learned:
        return {}
    stored = store.get_many(list(learned))
    bands: dict[str, Band] = {}
    for key, behavior in learned.items():
        model = stored.get(key)
        if isinstance(model, LearnedModel) and why_not_judging(model, now) is None:
            bands[key] = _band(model, behavior.definition.confidence or "HIGH", now)
            continue
        _report_not_judging(behavior, model, now)
    return bands


def _band(model: LearnedModel, confidence: str, now: float) -> Band:
    return lambda start: model.upper(confidence, start, now)


def _report_not_judging(behavior: ProfileBehavior, model: LearnedModel | CorruptModelError | None, now: float) -> None:
    name = behavior.definition.name
    state = (
        "corrupt" if isinstance(model, CorruptModelError) else "missing" if model is None else model.judging_status(now)
    )
    first = (behavior.profile, name, state) not in _logged
    _logged.add((behavior.profile, name, state))
    if isinstance(model, CorruptModelError):
        metrics.add_metric(name="CorruptLearnedModels", unit=MetricUnit.Count, value=1)
        if first:
            logger.error(
                "learned behavior not judged: corrupt model", behavior=name, profile=behavior.profile, reason=str(model)
            )
        return
    reason = (
        why_not_judging(model, now) if model is not None else f"no model of '{name}' yet: the daily trainer has not run"
    )
    metrics.add_metric(name="LearnedModelsNotJudging", unit=MetricUnit.Count, value=1)
    if first:
        logger.warning("learned behavior not judged", behavior=name, profile=behavior.profile, reason=reason)
