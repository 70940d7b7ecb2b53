"""Reports and alert lines are written whole or not at all (a full disk, a failed printer)."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import pytest

from credgraph.outputs import write_lines, write_text
from credgraph.queries.report import ReportError, print_pdf


def _full(lines: list[str]):  # type: ignore[no-untyped-def]
    yield from lines
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_file_written_whole_replaces_the_previous_one(tmp_path: Path) -> None:
    target = tmp_path / "quality.json"
    target.write_text("old", encoding="utf-8")
    write_text(target, "新的报告")
    assert target.read_text(encoding="utf-8") == "新的报告"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_lines(target, ["a\n", "b\n"])
    assert target.read_text(encoding="utf-8") == "a\nb\n"
    assert [p.name for p in tmp_path.iterdir()] == ["quality.json"]


def test_a_full_disk_keeps_the_previous_file_and_leaves_no_part_behind(tmp_path: Path) -> None:
    target = tmp_path / "alerts.jsonl"
    target.write_text("yesterday\n", encoding="utf-8")
    with pytest.raises(OSError, match="No space left"):
        write_lines(target, _full(["today\n"] * 1000))
    assert target.read_text(encoding="utf-8") == "yesterday\n"
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.jsonl"]


def test_a_printer_that_fails_keeps_the_previous_pdf(tmp_path: Path) -> None:
    """`report --pdf` deleted the previous PDF before chromium ran, so a failed print left
    nothing, and one that wrote an empty file left a 0-byte PDF beside the error; now the
    previous file stays and no part is left."""
    previous = tmp_path / "report.pdf"
    previous.write_bytes(b"%PDF-1.4 yesterday")
    for script in ("exit 1", 'for a; do case "$a" in --print-to-pdf=*) : > "${a#*=}";; esac; '
                              "done"):
        browser = tmp_path / "chromium"
        browser.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
        browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
        with pytest.raises(ReportError, match="chromium did not print the PDF"):
            print_pdf("<p>报告</p>", previous, str(browser))
        assert previous.read_bytes() == b"%PDF-1.4 yesterday"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["chromium", "report.pdf"]


def test_a_printed_pdf_replaces_the_previous_one(tmp_path: Path) -> None:
    previous = tmp_path / "report.pdf"
    previous.write_bytes(b"old")
    browser = tmp_path / "chromium"
    browser.write_text('#!/bin/sh\nfor a; do case "$a" in --print-to-pdf=*) '
                       'printf "%%PDF-1.7 new" > "${a#*=}";; esac; done\n', encoding="utf-8")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    print_pdf("<p>报告</p>", previous, str(browser))
    assert previous.read_bytes() == b"%PDF-1.7 new"
    # owner-only, as the HTML report and every file `outputs` writes (it was 0644)
    assert stat.S_IMODE(previous.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chromium", "report.pdf"]
