"""What the tests share and test nothing themselves: the store x shell fixture family
(`matrix`), a PostgreSQL server (`postgres`), waiting on a condition (`waiting`), what
the environment must provide (`environment`), and the tools of single suites (a server
in a subprocess, a browser, a cron reference, hostile values, the docs' runner).

`tests/conftest.py` puts `tests/` on the path (pytest's rootdir-relative import), so a
test imports these as `support.<module>`.
"""
