"""Running a load for a person at a terminal: progress bars and the printed summary."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from credgraph.loaders.bundle import (
    BundleError,
    BundleLoader,
    LoadSummary,
    check_outputs,
    corrections_path,
    missing_path,
    write_corrections,
    write_missing,
    write_rejects,
)
from credgraph.services import Services


def run_load(services: Services, paths: list[Path], rejects: Path, batch_size: int,
             as_json: bool, bulk: bool = False) -> LoadSummary:
    check_outputs(rejects)  # before a row is written: a load never loses its rejects
    console = Console(stderr=as_json)
    interactive = console.is_terminal and not as_json
    progress = Progress(TextColumn("{task.description:16}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=not interactive)
    tasks: dict[str, TaskID] = {}

    def advance(kind: str, rows: int) -> None:
        if kind not in tasks:
            tasks[kind] = progress.add_task(kind, total=None)
        progress.advance(tasks[kind], rows)

    loader: BundleLoader
    if bulk:
        from credgraph.loaders.bulk import BulkLoader

        loader = BulkLoader(services.settings, services.graph, services.rules, services.privacy,
                            services.normaliser, batch_size=batch_size, progress=advance,
                            workers=services.settings.load_workers)
    else:
        loader = BundleLoader(services.graph, services.rules, services.privacy,
                              services.normaliser, batch_size=batch_size, progress=advance,
                              workers=services.settings.load_workers)
    with progress:
        summary = loader.load(paths)
    try:
        write_rejects(summary.rejects, rejects)
        write_corrections(summary.corrections, corrections_path(rejects))
        write_missing(summary.missing, missing_path(rejects))
    except OSError as exc:  # checked writable before the load, then the disk filled up
        raise BundleError(
            f"the rows are in the graph ({summary.loaded:,} loaded, {summary.rejected:,} "
            f"rejected of {summary.read:,} read) but {exc.filename or rejects} could not be "
            f"written ({exc.strerror}): free space or give --rejects another place and run "
            "the load again — it changes nothing twice and writes the files anew") from None
    if as_json:
        sys.stdout.write(json.dumps(summary.as_json(rejects), ensure_ascii=False, indent=2))
        sys.stdout.write("\n")
    else:
        print_summary(console, summary, rejects)
    return summary


def print_summary(console: Console, summary: LoadSummary, rejects: Path) -> None:
    table = Table(title="load summary (loaded + rejected = read)",
                  caption="rows/s of the total: end to end — derivation and, for --bulk, the "
                          "import, restart and indexes included")
    for column in ("file", "read", "loaded", "rejected", "corrected", "rows/s"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for item in summary.files:
        rate = f"{item.read / item.seconds:,.0f}" if item.seconds else "-"
        table.add_row(Path(item.file).name, f"{item.read:,}", f"{item.loaded:,}",
                      f"{item.rejected:,}", f"{item.corrected:,}", rate)
    total_rate = f"{summary.read / summary.seconds:,.0f}" if summary.seconds else "-"
    table.add_row("total", f"{summary.read:,}", f"{summary.loaded:,}", f"{summary.rejected:,}",
                  f"{len(summary.corrections):,}", total_rate)
    console.print(table)
    if summary.corrections:
        decided = Counter(c["decidedBy"] for c in summary.corrections)
        console.print("subjects resolved by name (关联补正), decided by: " + ", ".join(
            f"{evidence} {count:,}" for evidence, count in decided.most_common()))
    contacts = ", ".join(f"{k} {v:,}" for k, v in summary.shared_contacts.items())
    console.print("shared-contact pairs (共用联系方式) in the graph, derived again after this "
                  f"load: {contacts or 'none'}")
    if summary.rejected:
        console.print(f"rejected rows with reasons: {escape(str(rejects))}")
    if summary.missing:
        console.print("rows missing a required field, by department: "
                      + escape(str(missing_path(rejects))))
    for warning in summary.warnings[:10]:
        console.print(f"warning: {warning}")
