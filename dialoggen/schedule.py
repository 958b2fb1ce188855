"""Which scenario indices a run draws next: a fixed count, or quotas of accepted dialogues.

Quota cells are the stratified sampler's persona-group x topic-category cells: scenario
``i`` belongs to cell ``i % len(cells)``, so cell ``p`` draws indices ``p, p + n, p + 2n``...
and a resumed run continues exactly where it stopped.
"""

from collections.abc import Iterable
from typing import Any

from dialoggen.recipe import Recipe
from dialoggen.sampling import ScenarioSampler


class Schedule:
    """A fixed list of scenario indices: ``0 .. count-1`` minus those already recorded."""

    def __init__(self, todo: Iterable[int]) -> None:
        self.todo = list(todo)
        self.total = len(self.todo)

    def take(self, room: int) -> list[int]:
        taken, self.todo = self.todo[: max(room, 0)], self.todo[max(room, 0) :]
        return taken

    def finish(self, record: dict[str, Any]) -> None:
        return None

    def expected(self) -> int:
        """Scenarios this session will have run in all (for the progress bar)."""
        return self.total

    def shortfalls(self) -> dict[str, Any]:
        return {}


class QuotaSchedule(Schedule):
    """Draws scenarios for cells still short of ``target`` accepted, up to ``cap`` each."""

    def __init__(
        self, cells: list[str], target: int, cap: int, records: list[dict[str, Any]]
    ) -> None:
        super().__init__(())
        self.cells, self.target, self.cap = cells, target, cap
        self.used = {r["index"] for r in records}
        self.accepted = dict.fromkeys(cells, 0)
        self.drawn = dict.fromkeys(cells, 0)
        self.running = dict.fromkeys(cells, 0)
        self.finished = 0
        for r in records:
            cell = self.cell_of(r["index"])
            self.drawn[cell] += 1
            self.accepted[cell] += r["status"] == "accepted"

    def cell_of(self, index: int) -> str:
        return self.cells[index % len(self.cells)]

    def _short(self, cell: str) -> bool:
        wanted = self.accepted[cell] + self.running[cell] < self.target
        return wanted and self.drawn[cell] < self.cap

    def _next_index(self, position: int) -> int:
        index = position
        while index in self.used:
            index += len(self.cells)
        return index

    def take(self, room: int) -> list[int]:
        taken: list[int] = []
        while len(taken) < room and any(self._short(c) for c in self.cells):
            for position, cell in enumerate(self.cells):
                if len(taken) < room and self._short(cell):
                    index = self._next_index(position)
                    self.used.add(index)
                    self.drawn[cell] += 1
                    self.running[cell] += 1
                    taken.append(index)
        return taken

    def finish(self, record: dict[str, Any]) -> None:
        cell = self.cell_of(record["index"])
        self.running[cell] -= 1
        self.accepted[cell] += record["status"] == "accepted"
        self.finished += 1

    def expected(self) -> int:
        needed = sum(
            min(max(self.target - self.accepted[c] - self.running[c], 0), self.cap - self.drawn[c])
            for c in self.cells
        )
        return self.finished + sum(self.running.values()) + needed

    def shortfalls(self) -> dict[str, Any]:
        return {
            cell: {
                "wanted": self.target,
                "accepted": self.accepted[cell],
                "attempts": self.drawn[cell],
            }
            for cell in self.cells
            if self.accepted[cell] < self.target
        }


def make_schedule(
    recipe: Recipe, sampler: ScenarioSampler, records: list[dict[str, Any]]
) -> Schedule:
    quota = recipe.quota
    if quota and quota.per_stratum:
        cells = [f"{group}/{category}" for group, category in sampler.cells]
        return QuotaSchedule(cells, quota.per_stratum, quota.max_attempts, records)
    if quota and quota.total:
        return QuotaSchedule(["all"], quota.total, quota.max_attempts, records)
    done = {r["index"] for r in records}
    return Schedule(i for i in range(recipe.count) if i not in done)
