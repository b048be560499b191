"""The fast part of the fault matrix (no 60 s outages), one test per cell.

The cells a session selects run concurrently once, in a module fixture; each test then
asserts its own cell's invariants. ``python -m tests.faults`` prints the whole matrix.
"""

from __future__ import annotations

import pytest

from tests.faults.cells import Cell, CellResult, all_cells, run_matrix

FAST_CELLS = all_cells(include_slow=False)


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest) -> dict[str, CellResult]:
    selected = [
        cell
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
        for cell in [item.callspec.params.get("cell")]
        if isinstance(cell, Cell)
    ]
    return {result.cell.id: result for result in run_matrix(selected)}


@pytest.mark.parametrize("cell", FAST_CELLS, ids=[cell.id for cell in FAST_CELLS])
def test_cell_keeps_every_invariant(cell: Cell, matrix: dict[str, CellResult]) -> None:
    result = matrix[cell.id]
    problems = "\n".join(f"{name}: {problem}" for name, problem in result.failures.items())
    if not result.ok:
        pytest.fail(
            f"{cell.id}: outcome {result.outcome} after {result.elapsed:.1f} s\n{problems}\n"
            f"message: {result.detail}",
            pytrace=False,
        )
