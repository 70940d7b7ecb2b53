"""The free-text scrubber (SPEC §6): every way an ID number is written in a 双公示 export is
found and masked, and nothing that merely has many digits is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from credgraph.schema.privacy import mask_id_number, scrub
from credgraph.schema.rows import display_value
from tests.ids import make_id

PLAIN = make_id(region="371402", born="19800101", seq="011")
WITH_X = make_id(region="371402", born="19900307", seq="003")  # ends in X
assert WITH_X.endswith("X")
MISTYPED = PLAIN[:-1] + ("0" if PLAIN[-1] != "0" else "1")
FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def masked(number: str) -> str:
    return mask_id_number(number)


@pytest.mark.parametrize(("written", "number"), [
    (PLAIN, PLAIN),
    (WITH_X, WITH_X),
    (WITH_X.lower(), WITH_X),
    (PLAIN.translate(FULL), PLAIN),
    (WITH_X.translate(FULL), WITH_X),
    (WITH_X[:-1] + "ｘ", WITH_X),
    (f"{PLAIN[:6]} {PLAIN[6:14]} {PLAIN[14:]}", PLAIN),
    (f"{WITH_X[:6]}-{WITH_X[6:14]}-{WITH_X[14:].lower()}", WITH_X),
    (" ".join(PLAIN[i:i + 4] for i in range(0, 18, 4)), PLAIN),
    (f"{PLAIN[:6]}\u3000{PLAIN[6:]}", PLAIN),
    (f"{PLAIN[:6]}\u2002{PLAIN[6:14]}\u2009{PLAIN[14:]}", PLAIN),  # en and thin spaces
    (f"{PLAIN[:6]}\u200b{PLAIN[6:14]}\ufeff{PLAIN[14:]}", PLAIN),  # zero-width, pasted from web
    (f"{WITH_X[:6]}\u2014{WITH_X[6:14]}\uff0d{WITH_X[14:]}", WITH_X),  # dashes
    (f"{PLAIN[:6]}\n{PLAIN[6:]}", PLAIN),  # a line break inside the number
    (f"{PLAIN[:6]}\r\n{PLAIN[6:]}", PLAIN),  # … a Windows one, inside a CSV cell
    (f"{WITH_X[:6]}——{WITH_X[6:14]} - {WITH_X[14:]}", WITH_X),  # 破折号, spaced hyphen
    (f"{PLAIN[:6]}\u00ad{PLAIN[6:14]}\u2212{PLAIN[14:]}", PLAIN),  # soft hyphen, minus sign
    (MISTYPED, MISTYPED),  # a wrong check digit is still personal data
    (PLAIN[:10] + "O" + PLAIN[11:], PLAIN),  # a letter O typed for the month's 0
    (PLAIN[:12] + "o" + PLAIN[13:], PLAIN),  # … a lower-case o for the day's 0
    (PLAIN[:15] + "l" + PLAIN[16:], PLAIN),  # … an l for the sequence's 1
    (PLAIN[:4] + "O" + PLAIN[5:10] + "O" + PLAIN[11:], PLAIN),  # … in the region code too
])
def test_every_written_form_is_masked(written: str, number: str) -> None:
    text = f"当事人张三（身份证号码：{written}）于2024年3月5日销售过期食品"
    assert scrub(text) == f"当事人张三（身份证号码：{masked(number)}）于2024年3月5日销售过期食品"


def test_masked_form_keeps_region_and_last_four() -> None:
    assert scrub(WITH_X.lower()) == WITH_X[:6] + "********" + WITH_X[-4:]
    assert scrub(scrub(PLAIN)) == scrub(PLAIN)  # the masked form is not found again


def test_several_numbers_and_letters_around_them() -> None:
    text = f"ID{PLAIN}、{WITH_X.lower()}号 {PLAIN}abc"
    assert scrub(text) == f"ID{masked(PLAIN)}、{masked(WITH_X)}号 {masked(PLAIN)}abc"


@pytest.mark.parametrize(("written", "shown"), [
    # a check character X ends the number: what follows it is another token, digits too
    (f"{WITH_X}13812345678", f"{masked(WITH_X)}13812345678"),  # ID number and phone typed together
    (f"{WITH_X.lower()}0534-2221111", f"{masked(WITH_X)}0534-2221111"),
    (f"{WITH_X.translate(FULL)}１３８", f"{masked(WITH_X)}１３８"),
    (f"{WITH_X}{PLAIN}", f"{masked(WITH_X)}{masked(PLAIN)}"),  # a list pasted without separators
    (WITH_X * 3, masked(WITH_X) * 3),
])
def test_a_number_ending_in_x_is_masked_before_digits(written: str, shown: str) -> None:
    assert scrub(f"当事人身份证{written}销售过期食品") == f"当事人身份证{shown}销售过期食品"


@pytest.mark.parametrize(("written", "shown"), [
    (f"{PLAIN}{MISTYPED}", f"{masked(PLAIN)}{masked(MISTYPED)}"),
    (f"{PLAIN}{MISTYPED}{PLAIN}".translate(FULL), masked(PLAIN) + masked(MISTYPED) + masked(PLAIN)),
])
def test_all_digit_numbers_pasted_together_are_masked(written: str, shown: str) -> None:
    """Two all-digit numbers with no separator were one 36-digit run, left alone as a longer
    number, and stored raw in Neo4j and the append-only audit log (found by a held-out privacy
    review): a run of 36, 54 … digits whose every 18 read as an ID number is those numbers."""
    assert scrub(f"名单{written}") == f"名单{shown}"


OLD = "371402800101011"  # first generation (一代身份证): region, 800101, sequence


@pytest.mark.parametrize("written", [
    OLD, OLD.translate(FULL), f"{OLD[:6]} {OLD[6:12]} {OLD[12:]}", f"{OLD[:6]}-{OLD[6:]}",
])
def test_first_generation_numbers_are_masked(written: str) -> None:
    text = f"当事人李四（身份证号：{written}）无证经营"
    assert scrub(text) == f"当事人李四（身份证号：{OLD[:6]}*****{OLD[-4:]}）无证经营"


@pytest.mark.parametrize("text", [
    "91371402MA3C00001A",  # a USCC
    "371402801301011",  # 15 digits, but month 13: no birth date in them
    "371402800101011X",  # 16 characters
    "0371402800101011",  # part of a longer number
    "6222021234567890",  # a 16-digit bank card
    "1" + PLAIN,  # 19 digits: part of a longer number
    PLAIN + "5",
    PLAIN[:17],  # 17 digits
    "6222021234567890123",  # a bank card
    "123456789012345678",  # 18 digits without a birth date in them
    "100000000000000000",
    "0534-1111111 13800000000",  # phone numbers
    "罚款金额20000元，2024-03-05",
    "9137140219800I011O",  # a letter in a code that is no ID number: a USCC-like run
    "No" + PLAIN[:10] + "O",  # too short
    PLAIN + "123456789012345678",  # 36 digits, the second 18 no ID number: one long number
])
def test_other_numbers_are_left_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(("value", "shown"), [
    (PLAIN, PLAIN[:6] + "********" + PLAIN[-4:]),
    (PLAIN[:17], PLAIN[:6] + "*******" + PLAIN[13:17]),  # a digit short: still a person's
    (PLAIN + "7", PLAIN[:6] + "*********" + PLAIN[-3:] + "7"),
    ("371402800101011", "371402*****1011"),  # first generation, 15 digits
    ("91371402MA3C00001A", "91371402MA3C00001A"),
    ("6222021234567890123", "6222021234567890123"),
    ("德城罚字〔2026〕2号", "德城罚字〔2026〕2号"),
    (f"身份证{WITH_X}", f"身份证{masked(WITH_X)}"),  # short free text is scrubbed too
    (PLAIN[:10] + "O" + PLAIN[11:], masked(PLAIN)),  # a letter for a digit: a person's all the same
    (PLAIN[:15] + "L" + PLAIN[16:], masked(PLAIN)),  # an l for a 1, upper-cased by the reader
    # long text is masked before it is cut: a number across the cut keeps no digit it would hide
    ("违法事实" * 48 + PLAIN, "违法事实" * 48 + PLAIN[:6] + "**…"),
    # an identifier a spreadsheet kept as a number; an amount written so is shown as written
    # (1e-400 read 1E400 in a rejects file: its minus dropped, upper-cased as an identifier)
    ("3.71402199001011E+17", "3.71402*********E+17"),
    ("1e-400", "1e-400"), ("1e13", "1e13"), ("2.5E3", "2.5E3"),
])
def test_rejected_values_show_no_id_number(value: str, shown: str) -> None:
    assert display_value(value) == shown


def test_a_rejects_file_named_after_a_person_is_shown_masked(tmp_path: Path) -> None:
    """A load's JSON summary (`rejectsFile`) and the quality report's `lastLoad` named the
    rejects file as given — `rej_371402198001010119.csv`, a file named after its person —
    while every input file's name was masked there (found in review)."""
    from credgraph.loaders.bundle import LoadSummary
    from credgraph.queries.quality import last_load

    rejects = tmp_path / f"rejects_{PLAIN}.csv"
    rejects.write_text("file,line,column,value,reason\n", encoding="utf-8")
    shown = str(tmp_path / f"rejects_{masked(PLAIN)}.csv")
    assert LoadSummary().as_json(rejects)["rejectsFile"] == shown
    load = last_load(rejects)
    assert load["rejects"] == shown
    assert load["writtenAt"] is not None  # the file itself is still read where it is
