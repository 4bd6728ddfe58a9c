"""Commands to the rule set beyond ``messages``' PutRule/DeleteRule/ListRules, and errors.

``PutRule`` carries one wire rule; these carry many, including the embedded API's
``CallableRule``, or name a TOML file.  Every change is validated as a whole before the
running set is touched, and answered with ``RuleChanges``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from messages import CallableRule, CompositeRule, Message, ThresholdRule

__all__ = [
    "ApplyRules",
    "LoadRuleFile",
    "NoStoredRuleChange",
    "RuleApplyFailed",
    "RuleChanges",
    "RuleFileError",
    "RuleNotFound",
]

_AnyRuleField = Annotated[ThresholdRule | CompositeRule | CallableRule, Field(discriminator="type")]


class ApplyRules(Message):
    """Create or replace ``rules``; with ``prune``, also delete every rule not among them.

    All or nothing at validation: ids must be unique and every annotation template must
    compile, or the ask fails with ``RuleInvalid`` and nothing changes.  A rule equal
    to the running one is left alone (its series and alerts carry on); a changed rule
    is replaced (its firing alerts resolve, its series start afresh).  The reply is a
    ``RuleChanges``.  ``configured``: these are the configuration's rules, overlaid
    with the stored run-time changes (see ``RuleRecord``).  ``ApplyRules`` itself is
    never stored: a run-time change that must last is a ``PutRule``.
    """

    type: Literal["apply_rules"] = "apply_rules"
    rules: tuple[_AnyRuleField, ...]
    prune: bool = False
    configured: bool = False


class LoadRuleFile(Message):
    """Read a TOML rules file (``[[rules]]`` tables) and apply it as ``ApplyRules``.

    The ask fails with ``RuleFileError`` if the file cannot be read or is invalid, and
    then nothing changes.  With ``prune`` the file becomes the whole rule set;
    ``configured`` as for ``ApplyRules``.
    """

    type: Literal["load_rule_file"] = "load_rule_file"
    path: Path
    prune: bool = False
    configured: bool = False


class RuleChanges(Message):
    """What a change did, by rule id (each tuple sorted)."""

    type: Literal["rule_changes"] = "rule_changes"
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


class RuleFileError(Exception):
    """Raised when a rules file cannot be read or does not validate; nothing changed.

    ``path`` is the file and ``reason`` what is wrong with it (for an invalid rule:
    which rule, which field, why).  ``__cause__`` is the ``OSError`` or ``RuleInvalid``.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"rules file {str(path)!r}: {reason}")
        self.path = path
        self.reason = reason


class RuleNotFound(LookupError):
    """Raised when a command names a rule id that is not in the rule set."""

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no rule with id {rule_id!r}")
        self.rule_id = rule_id


class NoStoredRuleChange(RuleNotFound):
    """Raised by ``RevertRule`` when no run-time change of ``rule_id`` is stored: there
    is nothing to revert (the rule may run, as the configuration has it)."""

    def __init__(self, rule_id: str) -> None:
        LookupError.__init__(self, f"no stored run-time change of rule {rule_id!r} to revert")
        self.rule_id = rule_id


class RuleApplyFailed(Exception):
    """Raised when a validated change could not be carried out completely.

    An evaluator failed to stop or start (``__cause__`` says why).  The changes made
    before the failure stand; ``ListRules`` tells what runs now.
    """
