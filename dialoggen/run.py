"""``dialoggen generate``: schedules scenarios, runs them concurrently, records every one.

Without a quota the run draws scenarios ``0 .. count-1``. With a quota it keeps drawing
scenarios for the cells still short of accepted dialogues until every quota is met or the
attempt cap is hit; shortfalls go into the manifest. Finished scenarios are skipped on
resume.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from dialoggen.config import EngineConfig
from dialoggen.critique import Critic
from dialoggen.engines import ChatEngine, create_engine
from dialoggen.filters import NearDuplicates, dialogue_text
from dialoggen.pipeline import Pipeline
from dialoggen.report import funnel
from dialoggen.sampling import RunInputs, ScenarioSampler
from dialoggen.schedule import Schedule, make_schedule
from dialoggen.store import RunStore
from dialoggen.types import Turn


@dataclass(frozen=True)
class RunSummary:
    folder: str
    skipped: int
    funnel: dict[str, Any]
    shortfalls: dict[str, Any]
    seconds: float

    @property
    def accepted(self) -> int:
        return int(self.funnel["accepted"])

    @property
    def failed(self) -> int:
        return sum(self.funnel["generation_failed"].values())


class RateColumn(ProgressColumn):
    """Dialogues finished per minute."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed * 60:.1f}/min" if speed else "-/min")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "accepted {task.fields[accepted]} · rejected {task.fields[rejected]} · "
            "failed {task.fields[failed]}"
        ),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


async def _drive(
    pipeline: Pipeline,
    schedule: Schedule,
    sampler: ScenarioSampler,
    store: RunStore,
    progress: Progress,
    limit: int,
) -> None:
    counts: dict[str, Any] = {"accepted": 0, "rejected": 0, "failed": 0}
    task = progress.add_task("generating", total=schedule.expected(), **counts)
    running: set[asyncio.Task] = set()
    while True:
        for index in schedule.take(limit - len(running)):
            running.add(asyncio.create_task(pipeline.process(sampler.scenario(index))))
        if not running:
            break
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            record = finished.result()
            store.append(record)
            schedule.finish(record)
            counts[record["status"]] += 1
            progress.update(task, advance=1, total=schedule.expected(), **counts)


def _pipeline(
    inputs: RunInputs,
    engine: ChatEngine,
    critic_engine: ChatEngine | None,
    records: list[dict[str, Any]],
) -> Pipeline:
    recipe = inputs.recipe
    critic = None
    if recipe.critic.enabled:
        critic = Critic(
            critic_engine or engine, inputs.prompts, inputs.critique_schema, recipe.critic
        )
    duplicates = None
    if recipe.filters.near_duplicate:
        duplicates = NearDuplicates(recipe.filters.near_duplicate)
        for r in records:
            if r["status"] == "accepted":
                duplicates.add(r["id"], dialogue_text([Turn(**t) for t in r["turns"]]))
    return Pipeline(inputs, engine, critic, duplicates)


def _start(config: EngineConfig, label: str, console: Console, owned: list) -> ChatEngine:
    with console.status(f"starting the {label} engine..."):
        engine = create_engine(config)
    owned.append(engine)
    return engine


def _finish(
    store: RunStore, inputs: RunInputs, sampler: ScenarioSampler, engine: ChatEngine | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The funnel and shortfalls of everything recorded, written to the manifest."""
    recipe, records = inputs.recipe, store.records()
    counts = funnel(records)
    shortfalls = make_schedule(recipe, sampler, records).shortfalls()
    store.write_manifest(
        run=recipe.name,
        count=recipe.count,
        prompt_hash=inputs.prompts.hash,
        recipe_hash=recipe.identity_hash(),
        funnel=counts,
        shortfalls=shortfalls,
        model=engine.model_label if engine else store.manifest.get("model"),
    )
    return counts, shortfalls


def generate(
    inputs: RunInputs, engine: ChatEngine | None = None, console: Console | None = None
) -> RunSummary:
    """Run the recipe into its run folder, resuming what is there.

    Pass ``engine`` to reuse one (it is not closed; the critic shares it unless the recipe
    names a critic engine); otherwise the recipe's engines are started and closed here.
    """
    started = time.perf_counter()
    recipe = inputs.recipe
    resolved = recipe.resolved(inputs.recipe_path.parent).model_dump(mode="json")
    store = RunStore.open(inputs.output, recipe.identity_hash(), resolved)
    records = store.records()
    sampler = ScenarioSampler(inputs)
    schedule = make_schedule(recipe, sampler, records)
    console = console or Console(stderr=True)
    owned: list[ChatEngine] = []
    try:
        if schedule.expected():
            engine = engine or _start(recipe.engine, recipe.engine.name, console, owned)
            critic_engine = None
            if recipe.critic.enabled and recipe.critic.engine:
                critic_engine = _start(recipe.critic.engine, "critic", console, owned)
            pipeline = _pipeline(inputs, engine, critic_engine, records)
            with _progress(console) as progress:
                asyncio.run(
                    _drive(pipeline, schedule, sampler, store, progress, recipe.max_concurrency)
                )
    finally:
        counts, shortfalls = _finish(store, inputs, sampler, engine)
        for owned_engine in owned:
            owned_engine.close()
    return RunSummary(
        str(inputs.output),
        len(records),
        counts,
        shortfalls,
        round(time.perf_counter() - started, 1),
    )
