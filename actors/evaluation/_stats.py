"""What an evaluation reports: its full counters, and the cheap series counts."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EvaluationStats", "SeriesCounts"]


@dataclass(frozen=True, slots=True)
class EvaluationStats:
    """Counters of one evaluation, for operators and tests.

    ``samples`` counts the samples evaluated; the drop counters those refused (see the
    module docstring); ``condition_errors`` and ``template_errors`` every failure,
    reported or not; ``errors_suppressed`` those not reported again within
    ``ERROR_REPORT_INTERVAL``; ``series_forgotten`` the idle series forgotten;
    ``over_series_limit`` the samples refused because their new series would have
    passed ``max_series``.
    """

    samples: int
    out_of_order: int
    duplicates: int
    too_far_ahead: int
    series: int
    pending: int
    firing: int
    no_data_firing: int
    condition_errors: int
    template_errors: int
    errors_suppressed: int
    series_forgotten: int
    over_series_limit: int


@dataclass(frozen=True, slots=True)
class SeriesCounts:
    """How many series an evaluation holds (``series``), has forgotten (``forgotten``)
    and how many samples it refused at its series cap (``refused``).

    Unlike ``EvaluationStats`` (which counts states, O(series)), these cost O(1): what
    ``/metrics`` asks every evaluator at every scrape.
    """

    series: int
    forgotten: int
    refused: int
