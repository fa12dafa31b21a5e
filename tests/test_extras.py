"""The optional extras: importing agentsched imports none of them (Starlette, psycopg),
and without one the error says which extra to install."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from agentsched import StoreError
from agentsched.stores.urls import store_from_url


def test_importing_agentsched_does_not_import_starlette() -> None:
    code = "import sys, agentsched, agentsched.cli; print('starlette' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_without_starlette_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "try:\n    import agentsched.asgi\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'agentsched[web]'" in done.stdout


def test_without_psycopg_a_postgres_url_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(sys.modules):  # as if never imported, and psycopg not installed
        if name.startswith(
            (
                "psycopg",
                "agentsched.stores.postgres",
            )
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"agentsched\[postgres\]"):
        store_from_url("postgresql://localhost/db")


def test_importing_agentsched_does_not_import_psycopg(tmp_path: Any) -> None:
    code = (
        "import sys, agentsched; from agentsched.stores.urls import store_from_url; "
        f"store_from_url('sqlite:///{tmp_path / 'x.db'}').close(); "
        "assert 'psycopg' not in sys.modules, 'psycopg was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
