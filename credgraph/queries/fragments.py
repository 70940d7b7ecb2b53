"""Cypher fragments shared by the analyses, spliced only with declared names and typed ints."""

from __future__ import annotations


def live(rel: str, at: str = "$asOf") -> str:
    """A relation live at a date (SPEC §4): started on or before it, not ended by then. A
    relation whose `end` is past is kept as history but carries nothing at a later date."""
    return (f"({rel}.start IS NULL OR {rel}.start <= {at})"
            f" AND ({rel}.end IS NULL OR {rel}.end > {at})")
