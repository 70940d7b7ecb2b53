"""Cypher fragments shared by the analyses, spliced only with declared names and typed ints."""

from __future__ import annotations


def live(rel: str, at: str = "$asOf") -> str:
    """A relation live at a date (SPEC §4): started on or before it, not ended by then. A
    relation whose `end` is past is kept as history but carries nothing at a later date."""
    return (f"({rel}.start IS NULL OR {rel}.start <= {at})"
            f" AND ({rel}.end IS NULL OR {rel}.end > {at})")


def in_force(record: str, at: str = "$asOf") -> str:
    """A record that still counts at a date: not repaired (信用修复) nor revoked (撤销) by then.
    A repair or revocation takes effect from its day (`repairedOn`, `revokedOn`): an earlier
    date still sees the record as it was; a status without a date counts as always."""
    return (f"NOT ({record}.status IN ['REPAIRED', 'REVOKED'] AND "
            f"coalesce({record}.repairedOn, {record}.revokedOn, {at}) <= {at})")
