"""``dialoggen generate``: scenarios -> dialogues -> records, concurrently, resumable.

Every scenario ends as exactly one record: ``generated`` with its dialogue, or ``failed``
with a reason. Finished scenarios are skipped on resume.
"""

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dialoggen.engines import ChatEngine, create_engine
from dialoggen.errors import EngineError
from dialoggen.generation import GenerationFailure
from dialoggen.generation.agents import simulate
from dialoggen.generation.oneshot import write_whole
from dialoggen.sampling import RunInputs, ScenarioSampler
from dialoggen.store import RunStore
from dialoggen.types import Dialogue, Scenario


@dataclass(frozen=True)
class RunSummary:
    folder: str
    total: int
    skipped: int
    generated: int
    failed: int
    failures: dict[str, int]
    seconds: float


async def write_dialogue(
    engine: ChatEngine, scenario: Scenario, inputs: RunInputs
) -> tuple[Dialogue, dict[str, int]]:
    recipe = inputs.recipe
    if recipe.mode == "oneshot":
        return await write_whole(
            engine, scenario, inputs.prompts, recipe.sampling, inputs.dialogue_schema
        )
    return await simulate(engine, scenario, inputs.prompts, recipe.sampling, recipe.turns.min)


def make_record(
    scenario: Scenario,
    inputs: RunInputs,
    model: str,
    seconds: float,
    dialogue: Dialogue | None = None,
    usage: dict[str, Any] | None = None,
    failure: GenerationFailure | None = None,
) -> dict[str, Any]:
    recipe = inputs.recipe
    record: dict[str, Any] = {
        "id": scenario.id,
        "index": scenario.index,
        "status": "failed" if failure else "generated",
        "reason": failure.reason if failure else None,
        "scenario": scenario.summary(),
        "persona": asdict(scenario.persona),
        "partner": asdict(scenario.partner) if scenario.partner else None,
        "topic": asdict(scenario.topic),
        "style": scenario.style.name,
        "turns": [asdict(t) for t in dialogue.turns] if dialogue else [],
        "stop_reason": dialogue.stop_reason if dialogue else None,
        "provenance": {
            "seed": recipe.seed,
            "mode": recipe.mode,
            "engine": recipe.engine.name,
            "model": model,
            "prompt_hash": inputs.prompts.hash,
            "recipe_hash": recipe.identity_hash(),
        },
        "usage": usage or (failure.usage if failure else {}),
        "seconds": round(seconds, 3),
    }
    if failure:
        record["failure"] = {"detail": failure.detail, "raw": failure.raw}
    return record


async def _generate_all(
    engine: ChatEngine, todo: list[Scenario], inputs: RunInputs, store: RunStore, progress: Progress
) -> None:
    task = progress.add_task("generating", total=len(todo), failed=0)
    slots = asyncio.Semaphore(inputs.recipe.max_concurrency)
    failed = 0

    async def one(scenario: Scenario) -> None:
        nonlocal failed
        async with slots:
            started = time.perf_counter()
            try:
                dialogue, usage = await write_dialogue(engine, scenario, inputs)
                record = make_record(
                    scenario,
                    inputs,
                    engine.model_label,
                    time.perf_counter() - started,
                    dialogue,
                    usage,
                )
            except (GenerationFailure, EngineError) as err:
                failure = (
                    err
                    if isinstance(err, GenerationFailure)
                    else GenerationFailure("engine_error", str(err))
                )
                record = make_record(
                    scenario,
                    inputs,
                    engine.model_label,
                    time.perf_counter() - started,
                    failure=failure,
                )
                failed += 1
            store.append(record)
            progress.update(task, advance=1, failed=failed)

    await asyncio.gather(*(one(s) for s in todo))


def generate(
    inputs: RunInputs, engine: ChatEngine | None = None, console: Console | None = None
) -> RunSummary:
    """Generate every scenario of the recipe not yet in the run folder.

    Pass ``engine`` to reuse one (it is not closed); otherwise the recipe's engine is
    started and closed here.
    """
    started = time.perf_counter()
    recipe = inputs.recipe
    store = RunStore.open(inputs.output, recipe.identity_hash(), recipe.model_dump(mode="json"))
    done = {r["id"] for r in store.records()}
    todo = [s for s in ScenarioSampler(inputs) if s.id not in done]
    console = console or Console(stderr=True)
    own_engine = engine is None and bool(todo)
    if own_engine:
        with console.status(f"starting the {recipe.engine.name} engine..."):
            engine = create_engine(recipe.engine)
    try:
        if todo:
            assert engine is not None
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=console) as progress:
                asyncio.run(_generate_all(engine, todo, inputs, store, progress))
    finally:
        records = store.records()
        manifest = store.write_manifest(
            records,
            run=recipe.name,
            count=recipe.count,
            prompt_hash=inputs.prompts.hash,
            recipe_hash=recipe.identity_hash(),
            model=engine.model_label if engine else store.manifest.get("model"),
        )
        if own_engine and engine is not None:
            engine.close()
    return RunSummary(
        str(inputs.output),
        recipe.count,
        len(done),
        manifest["generated"],
        manifest["failed"],
        manifest["failures"],
        round(time.perf_counter() - started, 1),
    )
