"""``python -m tests.faults``: run the whole fault matrix (60 s outages included) and print
it as a table. Exits 1 when any cell breaks an invariant."""

from __future__ import annotations

import argparse
import sys
import time

from tests.faults.cells import all_cells, format_table, run_matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="leave out the 60 s outages")
    parser.add_argument(
        "--only", metavar="TEXT", help="only cells whose 'stage|fault|client' contains TEXT"
    )
    parser.add_argument("--workers", type=int, default=32, help="cells run at once (default 32)")
    args = parser.parse_args(argv)
    cells = all_cells(include_slow=not args.fast)
    if args.only:
        cells = [cell for cell in cells if args.only in cell.id]
    started = time.monotonic()
    print(f"running {len(cells)} cells, {args.workers} at a time ...", file=sys.stderr)
    results = run_matrix(cells, workers=args.workers)
    print(format_table(results))
    print(f"wall time {time.monotonic() - started:.1f} s")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
