"""统一社会信用代码 (GB 32100-2015) and 居民身份证号码 (GB 11643-1999).

Check characters come from python-stdnum; structure checks are ours, because the standards
allow what stdnum's validators refuse (USCC departments marked by a letter, ID numbers whose
region code has since been abolished or is missing from any table).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from stdnum.cn import ric, uscc

from credgraph.graph.model import SubjectKind
from credgraph.schema.regions import is_known_region

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# USCC positions 1–2: registering department and organisation type.
_KIND_BY_PREFIX: dict[str, SubjectKind] = {
    "11": SubjectKind.AGENCY,
    "12": SubjectKind.INSTITUTION,
    "51": SubjectKind.SOCIAL_ORG,
    "52": SubjectKind.SOCIAL_ORG,
    "53": SubjectKind.SOCIAL_ORG,
    "91": SubjectKind.ENTERPRISE,
    "92": SubjectKind.INDIVIDUAL_BUSINESS,
    "93": SubjectKind.COOPERATIVE,
}


# USCC positions 1–2 as GB 32100-2015 assigns them: registering department (机构编制 1, 外交 2,
# 司法行政 3, 文化 4, 民政 5, 旅游 6, 宗教 7, 工会 8, 工商 9, 军队 A, 农业 N, 其他 Y) and the
# organisation types it registers.
REGISTERED_PREFIXES = frozenset({
    "11", "12", "13", "19", "21", "29", "31", "32", "33", "34", "35", "39", "41", "49",
    "51", "52", "53", "59", "61", "62", "69", "71", "72", "79", "81", "89", "91", "92", "93",
    "A1", "A9", "N1", "N2", "N3", "N9", "Y1",
})


class IdentifierError(ValueError):
    """A malformed identifier; `reason` is one of length, character, check_digit, date,
    number, person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# An identifier a spreadsheet kept as a number, shown in scientific notation (3.71402199001011E+17):
# a double holds 15-17 digits, so its last ones are gone.
_NUMBER_NOTATION = re.compile(r"[0-9](?:\.[0-9]+)?E\+?([0-9]+)")
_NEGATIVE_EXPONENT = re.compile("[Ee\uff25\uff45]\\s*[-\u2212\uff0d]")
# an 18-character identifier kept as a double is written with this exponent or more (E+17;
# 15 digits and up, as a first-generation number, E+14)
IDENTIFIER_EXPONENT = 14


def in_number_notation(value: str) -> bool:
    """Whether a cell is an identifier turned into a number in scientific notation (digits
    lost): 3.71402199001011E+17 — a positive exponent of an identifier's size, not an amount
    written so (1e-400 read 1E400 once `normalise` dropped its minus, and was shown so)."""
    found = _NUMBER_NOTATION.fullmatch(normalise(value))
    return (found is not None and not _NEGATIVE_EXPONENT.search(value)
            and int(found.group(1)) >= IDENTIFIER_EXPONENT)


def _written_as_text(code: str) -> None:
    """Refuse an identifier a spreadsheet turned into a number, saying what the clerk can do."""
    if _NUMBER_NOTATION.fullmatch(code):
        raise IdentifierError(
            "number", "it was stored as a number (a spreadsheet's number cell, a JSON number), "
            "which keeps 15 to 17 digits, and its last digits are lost: export the column as "
            "text (a string in JSON)")


# Invisible format characters that copying from a web page or a form leaves around a code:
# zero-width spaces and joiners, a stray U+FEFF, soft hyphens, direction marks. Not whitespace
# to `str.split`, so dropped on their own.
FORMAT_CHARS = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def normalise(value: str) -> str:
    """Strip, fold full-width characters to half-width, upper-case (x → X), drop spaces and
    invisible format characters (a zero-width space), and unwrap `="…"` or `'…`, which exports
    write to keep a spreadsheet from making a long number of the identifier."""
    if value.isascii() and value.isalnum():  # as most are written: nothing to fold or drop
        return value.upper()
    folded = value if value.isascii() else unicodedata.normalize("NFKC", value)
    text = FORMAT_CHARS.sub("", "".join(folded.split())).replace("-", "").upper()
    if text.startswith('="') and text.endswith('"') and len(text) > 3:
        return text[2:-1]
    return text[1:] if text.startswith("'") else text


@dataclass(frozen=True)
class Uscc:
    code: str

    @property
    def kind(self) -> SubjectKind:
        return _KIND_BY_PREFIX.get(self.code[:2], SubjectKind.OTHER_ORG)

    @property
    def region(self) -> str:
        return self.code[2:8]


USCC_LENGTH = 18  # GB 32100-2015


@lru_cache(maxsize=1 << 18)
def parse_uscc(value: str) -> Uscc:
    """Cached: a company's code recurs in its registration, relations and records (a failed
    parse raises and is not cached)."""
    code = normalise(value)
    _written_as_text(code)
    if len(code) != USCC_LENGTH:
        raise IdentifierError(
            "length", f"USCC must have {USCC_LENGTH} characters, this one has {len(code)}"
        )
    for position, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            raise IdentifierError(
                "character",
                f"USCC character {position} ({char!r}) is not allowed "
                "(only 0-9 and A-H J-N P Q R T U W X Y)",
            )
    if not code[2:8].isdigit():
        raise IdentifierError("character", "USCC positions 3-8 must be a 6-digit region code")
    expected = uscc.calc_check_digit(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            "check_digit", f"USCC check character is {code[17]!r}, expected {expected!r}"
        )
    return Uscc(code)


def parse_org_code(value: str) -> Uscc:
    """A USCC where only an organisation's code belongs (a registration's 统一社会信用代码, a
    superior agency). A value that reads as an ID number (`is_person_number`: about one in 31
    valid ID numbers passes the USCC check too) is refused — `subject(id:)` reads it as a
    person's, and stored as a code it would keep a person's number raw."""
    if is_person_number(value):
        raise IdentifierError("person", "an ID number, not a USCC: a person's number belongs in "
                                        "natural_persons")
    return parse_uscc(value)


def is_uscc(value: str) -> bool:
    try:
        parse_uscc(value)
    except IdentifierError:
        return False
    return True


@dataclass(frozen=True)
class IdNumber:
    """A valid ID number. Never log or store `number`: see `credgraph.schema.privacy`."""

    number: str

    @property
    def region(self) -> str:
        return self.number[:6]

    @property
    def birth_date(self) -> dt.date:
        return _birth_date(self.number)

    @property
    def gender(self) -> str:
        return "M" if int(self.number[16]) % 2 else "F"

    def __repr__(self) -> str:
        return f"IdNumber({self.number[:6]}********{self.number[-4:]})"


def _birth_date(number: str) -> dt.date:
    """Positions 7-14 as a date; ValueError when they are not one."""
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def parse_id_number(value: str, today: dt.date | None = None) -> IdNumber:
    """Validate an 18-character ID number; messages never repeat the number itself."""
    number = normalise(value)
    _written_as_text(number)
    if len(number) != 18:
        raise IdentifierError(
            "length", f"ID number must have 18 characters, this one has {len(number)}"
        )
    for position, char in enumerate(number[:17], start=1):
        if not char.isdigit():
            raise IdentifierError("character", f"ID number character {position} is not a digit")
    if not (number[17].isdigit() or number[17] == "X"):
        raise IdentifierError("character", "ID number check character must be 0-9 or X")
    try:
        born = _birth_date(number)
    except ValueError:
        raise IdentifierError(
            "date", "ID number positions 7-14 are not a valid birth date"
        ) from None
    if born > (today or dt.date.today()) or born.year < 1900:
        raise IdentifierError("date", f"ID number birth year {born.year} is impossible")
    expected = ric.calc_check_digit(number)
    if number[17] != expected:
        raise IdentifierError("check_digit", "ID number check digit does not match (MOD 11-2)")
    return IdNumber(number)


def is_id_number(value: str) -> bool:
    try:
        parse_id_number(value)
    except IdentifierError:
        return False
    return True


def is_person_number(value: str) -> bool:
    """Whether an identifier is to be read as an ID number rather than a USCC.

    Both can be 18 digits. An ID number has a plausible birth date at positions 7-14; a USCC
    whose digits happen to form one (its region's last two digits and its organisation code)
    is still a USCC when it is valid as one, not valid as an ID number, and begins with a
    department and type GB 32100 assigns. A mistyped ID number passes the USCC check about one
    time in 31; one from a province whose code no department and type spell (37 山东, 14, 15,
    22, 23, 36, 42–46, 50, 54, 63–65, 82) stays personal data, never a company's key. So does
    one whose first six digits are a known region and whose positions 3-8, its region read as
    a USCC, are not: a mistyped 江苏 (32), 河北 (13), 北京 (11) … number — 32 is a department
    and type (公证处), but 320583… as a USCC would lie in a region 058319 that does not exist.
    """
    text = normalise(value)
    if not looks_like_id_number(text):
        return False
    try:
        born = _birth_date(text)
    except ValueError:
        return False
    if not 1900 <= born.year <= dt.date.today().year:
        return False
    return (is_id_number(text) or not is_uscc(text) or text[:2] not in REGISTERED_PREFIXES
            or (is_known_region(text[:6]) and not is_known_region(text[2:8])))


def looks_like_id_number(value: str) -> bool:
    """An 18-character digit string (possibly ending in X): treat as personal data."""
    text = normalise(value)
    return len(text) == 18 and text[:17].isdigit()
