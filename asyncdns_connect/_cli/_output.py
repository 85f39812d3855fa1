"""What the command line shows a person: progress bars and tables.

rich draws them when it is installed (the ``[cli]`` extra); without it the same
tables come out as aligned plain text and progress is silent. Progress always
goes to standard error, so standard output stays clean for ``--json`` and pipes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TextIO

try:  # optional: the [cli] extra
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    HAVE_RICH = True
except ImportError:  # pragma: no cover - exercised only without rich
    HAVE_RICH = False

__all__ = ["HAVE_RICH", "Bar", "error", "print_table"]


def error(message: str) -> None:
    """One line on standard error: ``error: <message>``."""
    print(f"error: {message}", file=sys.stderr, flush=True)


class Bar:
    """A progress bar on standard error, drawn only when that is a terminal with rich.

    ``log()`` prints a line above the bar (or plainly to ``file``), so per-item
    messages and the bar do not garble each other.
    """

    def __init__(self, *, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = HAVE_RICH and sys.stderr.isatty()
        self._progress: Any = None
        if enabled and HAVE_RICH:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True),
                redirect_stdout=False, redirect_stderr=False, transient=False)
        self._task: Any = None

    @property
    def live(self) -> bool:
        return self._progress is not None

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, description: str, total: int) -> None:
        """Begin a new bar line (the previous one stays on screen, complete)."""
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(TaskID(self._task), n)

    def log(self, line: str, file: TextIO | None = None) -> None:
        """Print ``line`` to ``file`` (default stderr) without breaking the bar.

        While a bar is live on the terminal, the line is drawn above it on that
        terminal, whichever stream was asked for.
        """
        if self._progress is not None and (file is None or file.isatty()):
            self._progress.console.print(line, markup=False, highlight=False,
                                         soft_wrap=True)
        else:
            print(line, file=file or sys.stderr, flush=True)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
                *, file: TextIO | None = None) -> None:
    """A table with a header row; the first column is the row label."""
    out = file or sys.stdout
    if HAVE_RICH:
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(columns):
            table.add_column(name, justify="left" if i == 0 else "right",
                             no_wrap=i > 0)
        for row in rows:
            table.add_row(*row)
        # A fixed width when piped, so the table never wraps into a mess.
        width = None if out.isatty() else 200
        Console(file=out, width=width).print(table)
        return
    widths = [max(len(str(c)) for c in col) for col in zip(columns, *rows, strict=True)]
    out.write(f"{title}\n")
    for row in (columns, *rows):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.write("  ".join(cells).rstrip() + "\n")
    out.flush()
