"""Files the commands hand to people and to other systems (reports, alert lines), written whole
or not at all: a full disk or a failed printer leaves the previous file, or none, never a
truncated one beside a message that says it failed. They are owner-only (0600, as `mkstemp`
makes them): a report names persons and their records."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write; it replaces `path` when the block ends without
    an error and is removed when it does not."""
    folder = path.parent if str(path.parent) else Path(".")
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    os.close(handle)
    try:
        yield Path(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def write_lines(path: Path, lines: Iterable[str]) -> None:
    with replacing(path) as temp, temp.open("w", encoding="utf-8") as out:
        out.writelines(lines)
