"""The ```python blocks of a page run as a reader pasting them would run them.

`python tests/support/doc_pages.py PAGE` runs the blocks of one page (README.md or a
docs/*.md) in order, in one namespace (a fresh `__main__`, as in a new
interpreter), in the current directory. It stops at the first block that
raises, or whose `print(...)` lines print other than their comments promise,
names the block's line and exits 1. A `print(...)` line's comment starts with
its exact output, optionally followed by a remark in parentheses:

    print(once.run_at)          # 2026-01-05 13:00:00+00:00 (14:00 in Paris)

tests/test_docs.py runs each page in a process of its own, so that what one
page sets up (logging, OpenTelemetry's global providers, threads) never
reaches another page or the test session.
"""

from __future__ import annotations

import builtins
import io
import re
import sys
import threading
import tokenize
import traceback
import types
from pathlib import Path
from typing import Any
from unittest import mock

from sybil import Document, Example
from sybil.parsers.markdown import PythonCodeBlockParser

REMARK = re.compile(r"^(.+?)(?:\s+\([^()]*\))?$")


def parse(page: Path) -> Document:
    """The page with its ```python blocks, as Sybil finds them."""
    return Document.parse(str(page), PythonCodeBlockParser())


def python_blocks(page: Path) -> list[Example]:
    """The page's ```python blocks, in order."""
    return list(parse(page))


def promised_output(source: str) -> list[tuple[int, str | None]]:
    """Each `print(...)` line of a block (its line in the block, from 1) with the output its
    comment promises; None when it has no comment."""
    first: dict[int, str] = {}
    comments: dict[int, str] = {}
    skipped = {tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.NEWLINE}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row = token.start[0]
        if token.type == tokenize.COMMENT:
            comments[row] = token.string[1:].strip()
        elif token.type not in skipped:
            first.setdefault(row, token.string)
    promised: list[tuple[int, str | None]] = []
    for row in sorted(first):
        if first[row] == "print":
            comment = comments.get(row)
            match = REMARK.match(comment) if comment else None
            promised.append((row, match.group(1) if match else None))
    return promised


class Prints:
    """Stands in for `print` while a block runs: what is printed to standard output goes
    there and is kept, so that a block's prints can be told from other output (an exporter
    writing spans to the console, say)."""

    def __init__(self) -> None:
        self._print = builtins.print
        self._kept = io.StringIO()
        self._lock = threading.Lock()

    def __call__(self, *values: Any, **options: Any) -> None:
        if options.get("file") in (None, sys.stdout):
            sep, end = options.get("sep"), options.get("end")
            text = (" " if sep is None else sep).join(map(str, values))
            with self._lock:
                self._kept.write(text + ("\n" if end is None else end))
        self._print(*values, **options)

    def take(self) -> list[str]:
        with self._lock:
            lines = self._kept.getvalue().splitlines()
            self._kept = io.StringIO()
        return [line.rstrip() for line in lines]


def run_page(page: Path) -> int:
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    document = parse(page)
    document.namespace = main.__dict__
    prints = Prints()
    for block in document:
        where = f"{page.name}, the block at line {block.line}"
        with mock.patch.object(builtins, "print", prints):
            try:
                block.evaluate()
            except Exception:
                traceback.print_exc()
                print(f"{where} raised", file=sys.stderr)
                return 1
        promised = promised_output(block.parsed)
        silent = [row for row, output in promised if output is None]
        if silent:
            lines = ", ".join(str(block.line + row) for row in silent)
            print(f"{where}: say what each print prints (line {lines})", file=sys.stderr)
            return 1
        printed = prints.take()
        expected = [output for _, output in promised]
        if printed != expected:
            print(f"{where} printed {printed}, its comments say {expected}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_page(Path(sys.argv[1])))
