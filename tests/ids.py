"""Valid identifiers made for tests (check characters computed, never hand-typed)."""

from __future__ import annotations

import re

from stdnum.cn import ric, uscc

from credgraph.schema.privacy import scrub

_EIGHTEEN = re.compile(r"(?<!\d)\d{17}(?:[Xx]|\d(?!\d))")  # an X ends the number


def make_uscc(prefix: str = "91", region: str = "371402", org: str = "MA3C00001") -> str:
    body = prefix + region + org
    return body + uscc.calc_check_digit(body)


def make_id(region: str = "371402", born: str = "19800101", seq: str = "123") -> str:
    body = region + born + seq
    return body + ric.calc_check_digit(body + "0")


def raw_id_numbers(text: str) -> list[str]:
    """Resident ID numbers (身份证号) in `text`: 18 characters with a region code and a birth
    date where an ID number has them, the check character right or not (a mistyped number is
    still a person's) — the scrubber's rule. A digit run inside a hex digest or a key is
    rarely one; a bare 18-digit pattern took one for an ID number."""
    return [found for found in _EIGHTEEN.findall(text) if scrub(found) != found]
