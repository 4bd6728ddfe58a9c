"""Tocsin's domain actors: metric router, rule evaluators, alert manager, notifiers.

Samples flow ``MetricRouter`` → ``RuleEvaluator`` (one per rule) → the alert sink
(``AlertLedger`` until the alert manager replaces it); ``RuleSet`` changes the rules at
run time; ``RulesSupervisor`` assembles the router, the rule set and the evaluators;
``HostCollector`` feeds the host's own metrics in.  The evaluation core they run is
``actors.evaluation``.  See docs/RULES.md.
"""

from actors._evaluator import (
    DescribeRule,
    EvaluatorFactory,
    EvaluatorStatsQuery,
    Retire,
    RuleEvaluator,
    SeriesCountsQuery,
)
from actors._firing_alerts import FiringAlerts, FiringAlertsQuery
from actors._gc_policy import GC_THRESHOLDS, GcPolicy, apply_gc_policy
from actors._host_collector import (
    HostCollector,
    HostCollectorStats,
    HostCollectorStatsQuery,
    read_host_samples,
)
from actors._ledger import AlertLedger, AlertRecord, LedgerStats, LedgerStatsQuery
from actors._router import (
    EvaluatorRoute,
    MetricRouter,
    RoutedSamples,
    RouterStats,
    RouterStatsQuery,
    RoutesWanted,
    RouteUpdate,
)
from actors._rule_commands import (
    ApplyRules,
    LoadRuleFile,
    NoStoredRuleChange,
    RuleApplyFailed,
    RuleChanges,
    RuleFileError,
    RuleNotFound,
)
from actors._rule_plan import RulePlan, check_rules, plan_changes
from actors._rule_record import RULES_COLLECTION, RuleNotStored, RuleRecord, StoredRules
from actors._rule_set import EVALUATOR_PREFIX, RuleSet
from actors._rules_supervisor import ROUTER, RULE_SET, RulesSupervisor

__all__ = [
    "EVALUATOR_PREFIX",
    "GC_THRESHOLDS",
    "ROUTER",
    "RULES_COLLECTION",
    "RULE_SET",
    "AlertLedger",
    "AlertRecord",
    "ApplyRules",
    "DescribeRule",
    "EvaluatorFactory",
    "EvaluatorRoute",
    "EvaluatorStatsQuery",
    "FiringAlerts",
    "FiringAlertsQuery",
    "GcPolicy",
    "HostCollector",
    "HostCollectorStats",
    "HostCollectorStatsQuery",
    "LedgerStats",
    "LedgerStatsQuery",
    "LoadRuleFile",
    "MetricRouter",
    "NoStoredRuleChange",
    "Retire",
    "RouteUpdate",
    "RoutedSamples",
    "RouterStats",
    "RouterStatsQuery",
    "RoutesWanted",
    "RuleApplyFailed",
    "RuleChanges",
    "RuleEvaluator",
    "RuleFileError",
    "RuleNotFound",
    "RuleNotStored",
    "RulePlan",
    "RuleRecord",
    "RuleSet",
    "RulesSupervisor",
    "SeriesCountsQuery",
    "StoredRules",
    "apply_gc_policy",
    "check_rules",
    "plan_changes",
    "read_host_samples",
]
