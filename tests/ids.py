"""Valid identifiers made for tests (check characters computed, never hand-typed)."""

from __future__ import annotations

from stdnum.cn import ric, uscc


def make_uscc(prefix: str = "91", region: str = "371402", org: str = "MA3C00001") -> str:
    body = prefix + region + org
    return body + uscc.calc_check_digit(body)


def make_id(region: str = "371402", born: str = "19800101", seq: str = "123") -> str:
    body = region + born + seq
    return body + ric.calc_check_digit(body + "0")
