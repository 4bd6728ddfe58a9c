"""RuleRecord: run-time rule changes kept in the store, so a restart does not lose them.

The rule set records a run-time ``PutRule``/``DeleteRule`` here after validating it and
before applying it: a change is answered only once durable.  Documents live in the
``rules`` collection, keyed by rule id:

- ``{"rule": {...}}``: a rule put at run time (its wire JSON);
- ``{"deleted": true}``: a tombstone, for a deleted rule that comes from the
  configuration (without it the rule would come back at the next start).

Deleting a rule created at run time removes its document instead, and so does a
revert (``revert``): the configuration's version of that id counts again.  At start the
configured rules are overlaid with the stored changes (``configured``): a stored rule
replaces the configured rule of the same id, a tombstone removes it; the stored rules
of other ids are applied after the configuration (``runtime_rules``).

The record outlives a rule set's restart (the tree builds it once): it knows which ids
come from the configuration.  ``CallableRule`` (code, not JSON) is never recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog
from pydantic import ValidationError

from actors._rule_plan import check_rules
from actors.store import StateWrite, Store, StoreError
from messages import RULE_ADAPTER, AnyRule, CompositeRule, RuleInvalid, ThresholdRule

__all__ = ["RULES_COLLECTION", "RuleNotStored", "RuleRecord", "StoredRules"]

RULES_COLLECTION = "rules"
"""The store's document collection of run-time rule changes."""

WireRule = ThresholdRule | CompositeRule

_log = structlog.get_logger("tocsin.rules")


class RuleNotStored(Exception):
    """Raised when a run-time rule change could not be stored; nothing changed.

    ``__cause__`` is the store's error (``StoreUnavailable``: disk full, read-only...).
    The gateway answers it ``unavailable``: the same change may succeed later.
    """


@dataclass(frozen=True, slots=True)
class StoredRules:
    """The stored run-time changes: rules put, and ids deleted (tombstones)."""

    rules: dict[str, WireRule] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()


class RuleRecord:
    """Store run-time rule changes in ``store``'s ``rules`` collection (see the module)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.config_ids: set[str] = set()
        """Ids of the rules the configuration holds (learnt from ``configured``)."""
        self.config_rules: dict[str, AnyRule] = {}
        """The configuration's rules by id, as last given to ``configured`` (for ``revert``)."""
        self.skipped: set[str] = set()
        """Ids of stored documents ``load`` skipped (invalid); ``revert`` drops them."""
        self.stored = StoredRules()
        """What ``load`` found at start (kept as the changes are made)."""

    async def load(self) -> StoredRules:
        """Read the stored changes; a document that no longer validates is skipped, logged."""
        snapshot = await self.store.load()
        rules: dict[str, WireRule] = {}
        deleted: set[str] = set()
        for key, document in snapshot.documents.get(RULES_COLLECTION, {}).items():
            if document.get("deleted") is True:
                deleted.add(key)
                continue
            try:
                rule = RULE_ADAPTER.validate_python(document.get("rule"))
                if rule.id != key:
                    raise ValueError(f"the document of {key!r} holds rule {rule.id!r}")
                check_rules((rule,))
            except (ValidationError, RuleInvalid, ValueError) as error:
                _log.error("stored rule skipped: it does not validate", rule=key, error=str(error))
                self.skipped.add(key)
                continue
            rules[key] = rule
        self.stored = StoredRules(rules, frozenset(deleted))
        return self.stored

    def configured(self, rules: Iterable[AnyRule]) -> tuple[AnyRule, ...]:
        """Note ``rules`` as the configuration's; return them with the stored changes over them."""
        result: list[AnyRule] = []
        for rule in rules:
            self.config_ids.add(rule.id)
            self.config_rules[rule.id] = rule
            if rule.id in self.stored.deleted:
                continue
            result.append(self.stored.rules.get(rule.id, rule))
        return tuple(result)

    def runtime_rules(self) -> tuple[WireRule, ...]:
        """The stored rules whose id the configuration does not hold, in id order."""
        stored = sorted(self.stored.rules.items())
        return tuple(rule for rule_id, rule in stored if rule_id not in self.config_ids)

    def overridden(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Config rule ids (replaced by a stored rule, deleted by a tombstone), sorted."""
        replaced = sorted(self.config_ids & self.stored.rules.keys())
        deleted = sorted(self.config_ids & self.stored.deleted)
        return tuple(replaced), tuple(deleted)

    async def put(self, rule: WireRule) -> None:
        """Store ``rule``; raise ``RuleNotStored`` if the store refuses."""
        await self._write(rule.id, {"rule": rule.model_dump(mode="json")})
        self.stored = StoredRules(
            {**self.stored.rules, rule.id: rule}, self.stored.deleted - {rule.id}
        )

    async def delete(self, rule_id: str) -> None:
        """Record the deletion of ``rule_id``; raise ``RuleNotStored`` if the store refuses."""
        from_config = rule_id in self.config_ids
        await self._write(rule_id, {"deleted": True} if from_config else None)
        rules = {k: v for k, v in self.stored.rules.items() if k != rule_id}
        deleted = self.stored.deleted | {rule_id} if from_config else self.stored.deleted
        self.stored = StoredRules(rules, deleted)

    def has_change(self, rule_id: str) -> bool:
        """Whether a change of ``rule_id`` is stored (a rule, a tombstone, a skipped document)."""
        stored = self.stored
        return rule_id in stored.rules or rule_id in stored.deleted or rule_id in self.skipped

    async def revert(self, rule_id: str) -> AnyRule | None:
        """Remove the stored change of ``rule_id``; return the configuration's rule of that
        id, or ``None`` if the configuration has none.  ``RuleNotStored`` if the store
        refuses (nothing changed); the caller checks ``has_change`` first."""
        await self._write(rule_id, None)
        rules = {k: v for k, v in self.stored.rules.items() if k != rule_id}
        self.stored = StoredRules(rules, self.stored.deleted - {rule_id})
        self.skipped.discard(rule_id)
        return self.config_rules.get(rule_id)

    async def _write(self, rule_id: str, value: dict[str, object] | None) -> None:
        try:
            await self.store.append([], [StateWrite(RULES_COLLECTION, rule_id, value)])
        except (StoreError, TypeError, ValueError) as error:
            message = f"the change of rule {rule_id!r} was not stored: {error}"
            raise RuleNotStored(message) from error
