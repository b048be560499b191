"""One helper for the checks that need a fresh interpreter: what an import loads, and code
run where Airflow cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence

BLOCK_AIRFLOW = (
    "import sys\n"
    "class _BlockAirflow:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'airflow' or name.startswith('airflow.'):\n"
    "            raise ImportError('airflow is blocked in this test')\n"
    "sys.meta_path.insert(0, _BlockAirflow())\n"
)
"""Prepended to the code of a check that must not import Airflow (as where the core runs
without it)."""


def fresh_python(
    code: str,
    *,
    without_airflow: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (optionally one that cannot import Airflow)."""
    source = (BLOCK_AIRFLOW if without_airflow else "") + code
    return subprocess.run(
        [sys.executable, "-c", source],
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def loaded_by(
    statements: str | Sequence[str],
    prefixes: Sequence[str],
    *,
    after: str = "",
    without_airflow: bool = False,
) -> list[str]:
    """The modules starting with one of ``prefixes`` that ``statements`` loaded in a fresh
    interpreter (those ``after`` had already loaded do not count)."""
    lines = [statements] if isinstance(statements, str) else list(statements)
    code = (
        f"import sys, json\n{after}\nbefore = set(sys.modules)\n"
        + "\n".join(lines)
        + f"\nprint(json.dumps(sorted(m for m in set(sys.modules) - before "
        f"if m.startswith({tuple(prefixes)!r}))))\n"
    )
    result = fresh_python(code, without_airflow=without_airflow)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded
