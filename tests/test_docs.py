"""README.md and docs/: every ```python block runs as pasted, and every link leads somewhere.

Each page's blocks run in order, sharing one namespace, in a process of their
own and a fresh directory (tests/support/doc_pages.py), so that the files, loggers and
global providers a page sets up never leak. A page whose blocks read
`AGENTSCHED_PG_DSN` gets a database of its own on the test server.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from support import postgres
from support.doc_pages import parse, promised_output
from support.environment import need

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
RUNNER = Path(__file__).resolve().with_name("support") / "doc_pages.py"
SOURCES = {page: [block.parsed for block in parse(page)] for page in PAGES}
WITH_CODE = [page for page in PAGES if SOURCES[page]]


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new database on the test server, as a connection string; dropped afterwards."""
    postgres.require()
    import psycopg
    from psycopg.conninfo import make_conninfo

    database = f"agentsched_docs_{uuid.uuid4().hex[:12]}"
    try:
        postgres.sql(f'CREATE DATABASE "{database}"')
    except psycopg.Error as exc:
        need(False, f"cannot create a database on {postgres.DSN} for the page: {exc}")
    try:
        yield make_conninfo(postgres.DSN, dbname=database)
    finally:
        postgres.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.parametrize("page", WITH_CODE, ids=[name(page) for page in WITH_CODE])
def test_the_python_blocks_of_a_page_run_as_pasted(page: Path, tmp_path: Path) -> None:
    environment = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if any("AGENTSCHED_PG_DSN" in source for source in SOURCES[page]):
            environment["AGENTSCHED_PG_DSN"] = stack.enter_context(scratch_database())
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(page)],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-5000:]


@pytest.mark.parametrize("page", PAGES, ids=[name(page) for page in PAGES])
def test_no_page_hides_code_from_its_reader(page: Path) -> None:
    """Setup a reader cannot see, or a block the tests leave out, would make "runs as
    pasted" untrue: no Sybil directives (invisible blocks, skips) in the pages."""
    assert not re.search(r"<!--\s*(invisible-code|code-block|skip|clear)", page.read_text())


def test_a_print_promises_what_its_comment_says() -> None:
    source = (
        "print(once.run_at)          # 2026-01-05 13:00:00+00:00 (14:00 in Paris)\n"
        "for x in []:\n"
        "    print(x, '# not a comment')  # (1, 2)\n"
        "print('no promise')\n"
        "printed = print  # not a print line\n"
    )
    assert promised_output(source) == [
        (1, "2026-01-05 13:00:00+00:00"),
        (3, "(1, 2)"),
        (4, None),
    ]


def test_the_fastapi_block_is_the_start_of_its_example() -> None:
    (block,) = [s for s in SOURCES[DOCS / "web.md"] if "FastAPI(" in s]
    example = (DOCS / "examples" / "fastapi_mount.py").read_text()
    assert block in example


# -- links ---------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def links(page: Path) -> list[str]:
    """The targets of the page's Markdown links and images, outside code."""
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text()))
    return LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """The ids GitHub gives the page's headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated id numbered."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", page.read_text()), re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        number, unique = 0, slug
        while unique in found:
            number += 1
            unique = f"{slug}-{number}"
        found.add(unique)
    return found


def local(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target)


@pytest.mark.parametrize("page", PAGES, ids=[name(page) for page in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in filter(local, links(page)):
        path, _, anchor = unquote(target).partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no such heading in {name(file)}")
    assert broken == []


def test_every_page_and_example_is_linked_from_the_readme() -> None:
    """Every docs page and example is reachable from README.md, link by link."""
    reached, todo = {ROOT / "README.md"}, [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        for target in filter(local, links(page)):
            path = unquote(target).partition("#")[0]
            file = (page.parent / path).resolve() if path else page
            if file not in reached and file.exists():
                reached.add(file)
                if file.suffix == ".md":
                    todo.append(file)
    wanted = {*DOCS.glob("*.md"), *(f for f in (DOCS / "examples").iterdir() if f.is_file())}
    assert sorted(name(file) for file in wanted - reached) == []


def test_anchors_are_the_ids_github_gives_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Web: the hosted API, a dashboard, `agentsched serve`\n"
        "## What can go wrong\n"
        "## What can go wrong\n"
        '## What "at most once per fire" means\n'
        "```bash\n# not a heading\n```\n"
        "### `next`: fire times of a spec\n"
    )
    assert anchors(page) == {
        "web-the-hosted-api-a-dashboard-agentsched-serve",
        "what-can-go-wrong",
        "what-can-go-wrong-1",
        "what-at-most-once-per-fire-means",
        "next-fire-times-of-a-spec",
    }
