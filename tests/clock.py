"""One fake clock for every test that moves time by hand instead of waiting."""

from __future__ import annotations


class FakeClock:
    """Stands still until a test advances it, or code under test sleeps on it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """An injectable ``sleep``: records the wait and moves the clock by it."""
        self.sleeps.append(seconds)
        self.now += seconds
