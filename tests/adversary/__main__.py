"""``python -m tests.adversary``: run every scenario of the matrix and print its table."""

from __future__ import annotations

import contextlib
import io
import sys

from tests.adversary.matrix import SCENARIOS, evaluate, table


def main() -> int:
    with contextlib.redirect_stdout(io.StringIO()):  # the table, not the operator's log
        verdicts = [evaluate(scenario) for scenario in SCENARIOS]
    print(table(verdicts))
    failed = [v.scenario.name for v in verdicts if not v.ok]
    print(f"\n{len(verdicts)} scenarios, {len(failed)} not as stated")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
