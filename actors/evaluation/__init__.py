"""The evaluation core: rules over series, as plain synchronous code taking time as input.

``RuleEvaluation`` is what a ``RuleEvaluator`` actor runs: sliding windows per series
with incremental aggregates, the per-series state machine (inactive → pending → firing
→ resolved, with ``for``, ``keep_firing_for`` and hysteresis), no-data timeouts,
deterministic deadlines, sandboxed annotation templates and Python conditions that
cannot crash it.  Nothing here reads a clock or does I/O.  docs/RULES.md explains the
semantics.
"""

from actors.evaluation._alert_events import ERROR_REPORT_INTERVAL, AlertEvent, AlertEventBuilder
from actors.evaluation._annotations import (
    MAX_ANNOTATION_LENGTH,
    AnnotationTemplates,
    check_templates,
)
from actors.evaluation._conditions import (
    CallableJudge,
    CompositeJudge,
    ConditionFailed,
    Judge,
    ThresholdCheck,
    ThresholdJudge,
    compile_judge,
)
from actors.evaluation._deadlines import DeadlineQueue, SilenceWatch
from actors.evaluation._entries import SampleEntries, SampleEntry, sample_entry, series_key
from actors.evaluation._evaluation import RuleEvaluation
from actors.evaluation._idle import DEFAULT_SERIES_IDLE_TTL, IdleSweep
from actors.evaluation._series import Series, SeriesKey, SeriesState, Transition, expire, observe
from actors.evaluation._stats import EvaluationStats, SeriesCounts
from actors.evaluation._windows import (
    ExtremumWindow,
    RateWindow,
    SampleWindow,
    SumWindow,
    Window,
    make_window,
)

__all__ = [
    "DEFAULT_SERIES_IDLE_TTL",
    "ERROR_REPORT_INTERVAL",
    "MAX_ANNOTATION_LENGTH",
    "AlertEvent",
    "AlertEventBuilder",
    "AnnotationTemplates",
    "CallableJudge",
    "CompositeJudge",
    "ConditionFailed",
    "DeadlineQueue",
    "EvaluationStats",
    "ExtremumWindow",
    "IdleSweep",
    "Judge",
    "RateWindow",
    "RuleEvaluation",
    "SampleEntries",
    "SampleEntry",
    "SampleWindow",
    "Series",
    "SeriesCounts",
    "SeriesKey",
    "SeriesState",
    "SilenceWatch",
    "SumWindow",
    "ThresholdCheck",
    "ThresholdJudge",
    "Transition",
    "Window",
    "check_templates",
    "compile_judge",
    "expire",
    "make_window",
    "observe",
    "sample_entry",
    "series_key",
]
