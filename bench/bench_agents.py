"""Agents-mode throughput, measured side by side on one shared vLLM engine.

  A  dialoggen agents mode: every conversation at once (``asyncio.gather`` of ``simulate``),
     from the main thread with ``asyncio.run``, as ``dialoggen generate`` does.
  B  the same conversations one after another (the first few only; compare tokens/s).
  C  bare-engine reference: one coroutine per conversation straight on vLLM's ``AsyncLLM``,
     on the engine's own loop (same prompts, no ``achat``, no cross-thread hop, no Reply).

The machine may be noisy, so the ratios A/B and A/C matter, not the absolute figures.
A and C run twice in the order C, A, B, A, C; the best run of each counts.

    python bench/bench_agents.py            # or: just bench
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dialoggen.config import SamplingConfig
from dialoggen.engines import ChatEngine, create_engine
from dialoggen.generation import GenerationFailure
from dialoggen.generation.agents import EMPTY_RETRIES, ROLES, clean, simulate, system_prompts, view
from dialoggen.sampling import RunInputs, ScenarioSampler, load_inputs
from dialoggen.types import Scenario, Turn

BENCH = Path(__file__).resolve().parent
TARGETS = {"A/B": 5.0, "A/C": 0.9}
LABELS = {
    "A": "dialoggen agents, all concurrent",
    "B": "dialoggen agents, one after another",
    "C": "bare AsyncLLM, all concurrent",
}


@dataclass(frozen=True)
class Usage:
    turns: int = 0
    calls: int = 0
    output_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.turns + other.turns,
            self.calls + other.calls,
            self.output_tokens + other.output_tokens,
        )


@dataclass(frozen=True)
class Measure:
    variant: str
    run: int
    conversations: int
    turns: int
    calls: int
    output_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
        }


# --- A and B: dialoggen's own agents mode ------------------------------------------------


async def dialoggen_one(engine: ChatEngine, scenario: Scenario, inputs: RunInputs) -> Usage:
    recipe = inputs.recipe
    try:
        dialogue, usage = await simulate(
            engine, scenario, inputs.prompts, recipe.sampling, recipe.turns.min
        )
    except GenerationFailure as failure:  # counts what it generated; never expected here
        return Usage(
            failure.usage.get("turns", 0),
            failure.usage.get("calls", 0),
            failure.usage.get("completion_tokens", 0),
        )
    return Usage(len(dialogue.turns), usage["calls"], usage["completion_tokens"])


async def dialoggen_concurrent(
    engine: ChatEngine, inputs: RunInputs, scenarios: list[Scenario]
) -> Usage:
    results = await asyncio.gather(*(dialoggen_one(engine, s, inputs) for s in scenarios))
    return sum(results, Usage())


async def dialoggen_serial(
    engine: ChatEngine, inputs: RunInputs, scenarios: list[Scenario]
) -> Usage:
    total = Usage()
    for scenario in scenarios:
        total += await dialoggen_one(engine, scenario, inputs)
    return total


# --- C: the bare engine ------------------------------------------------------------------


def bare_params(sampling: SamplingConfig) -> Any:
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        output_kind=RequestOutputKind.FINAL_ONLY,
    )


async def bare_reply(llm: Any, prompt: str, params: Any) -> tuple[str, int]:
    final = None
    async for output in llm.generate(prompt, params, f"bare-{uuid.uuid4().hex}"):
        final = output
    assert final is not None and final.outputs, "vLLM returned no output"
    return final.outputs[0].text, len(final.outputs[0].token_ids)


async def bare_one(engine: Any, scenario: Scenario, inputs: RunInputs, params: Any) -> Usage:
    """One conversation's turn loop straight on AsyncLLM (same prompts as ``simulate``)."""
    systems = system_prompts(scenario, inputs.prompts)
    names = scenario.speakers()
    turns: list[Turn] = []
    calls = tokens = 0
    while len(turns) < scenario.turns:
        side = len(turns) % 2
        messages = view(side, systems[side], systems[2], turns)
        prompt = engine.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        for _ in range(1 + EMPTY_RETRIES):
            raw, n = await bare_reply(engine._engine, prompt, params)
            calls, tokens = calls + 1, tokens + n
            text, ended = clean(raw)
            if text:
                break
        turns.append(Turn(ROLES[side], names[side], text))
        if ended and len(turns) >= inputs.recipe.turns.min:
            break
    return Usage(len(turns), calls, tokens)


async def bare_concurrent(engine: Any, inputs: RunInputs, scenarios: list[Scenario]) -> Usage:
    params = bare_params(inputs.recipe.sampling)
    results = await asyncio.gather(*(bare_one(engine, s, inputs, params) for s in scenarios))
    return sum(results, Usage())


# --- driving the runs --------------------------------------------------------------------


def measure(
    variant: str, run: int, scenarios: list[Scenario], work: Callable[[], Usage]
) -> Measure:
    started = time.perf_counter()
    usage = work()
    seconds = time.perf_counter() - started
    result = Measure(
        variant, run, len(scenarios), usage.turns, usage.calls, usage.output_tokens, seconds
    )
    print(
        f"  {variant}{run}: {result.output_tokens} tokens in {seconds:.1f} s "
        f"= {result.tokens_per_s:.1f} tok/s ({result.turns} turns, {result.calls} calls)",
        flush=True,
    )
    return result


def warm_up(engine: ChatEngine, inputs: RunInputs, scenarios: list[Scenario]) -> None:
    """One batch of 8 quick requests (first-turn prompts), not timed."""
    batch = []
    for scenario in scenarios[:8]:
        systems = system_prompts(scenario, inputs.prompts)
        batch.append(view(0, systems[0], systems[2], []))
    engine.chat(batch, SamplingConfig(max_tokens=8))


def run_all(
    engine: Any, inputs: RunInputs, scenarios: list[Scenario], serial: int
) -> list[Measure]:
    """C, A, B, A, C: symmetric around B, so neither A nor C is favoured by position."""
    first = scenarios[:serial]
    plans: dict[str, Callable[[], Usage]] = {
        "A": lambda: asyncio.run(dialoggen_concurrent(engine, inputs, scenarios)),
        "B": lambda: asyncio.run(dialoggen_serial(engine, inputs, first)),
        "C": lambda: engine._loop.run(bare_concurrent(engine, inputs, scenarios)),
    }
    runs = {"A": 0, "B": 0, "C": 0}
    results = []
    for variant in "CABAC":
        runs[variant] += 1
        used = first if variant == "B" else scenarios
        results.append(measure(variant, runs[variant], used, plans[variant]))
    return results


# --- reporting ---------------------------------------------------------------------------


def summarize(results: list[Measure]) -> dict[str, Any]:
    """Ratios of the best run of each variant; the ratio of mean rates is kept beside them."""
    rates = {v: [m.tokens_per_s for m in results if m.variant == v] for v in "ABC"}
    best = {
        v: max((m for m in results if m.variant == v), key=lambda m: m.tokens_per_s) for v in "ABC"
    }
    ratios = {"A/B": max(rates["A"]) / max(rates["B"]), "A/C": max(rates["A"]) / max(rates["C"])}
    mean = {v: sum(r) / len(r) for v, r in rates.items()}
    return {
        "order": [f"{m.variant}{m.run}" for m in results],
        "runs": [m.as_dict() for m in results],
        "best": {v: {"label": LABELS[v], **m.as_dict()} for v, m in best.items()},
        "ratios": {k: round(r, 3) for k, r in ratios.items()},
        "ratios_of_means": {
            "A/B": round(mean["A"] / mean["B"], 3),
            "A/C": round(mean["A"] / mean["C"], 3),
        },
        "targets": {k: {"min": t, "met": ratios[k] >= t} for k, t in TARGETS.items()},
    }


def machine_info(engine: ChatEngine) -> dict[str, Any]:
    import torch
    import vllm

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "vllm": vllm.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "kv_cache_gib": os.environ.get("VLLM_CPU_KVCACHE_SPACE"),
        "model": engine.model_label,
    }


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| variant | conversations | turns | output tokens | seconds | tokens/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, m in summary["best"].items():
        lines.append(
            f"| {variant}: {m['label']} | {m['conversations']} | {m['turns']} "
            f"| {m['output_tokens']} | {m['seconds']:.1f} | {m['tokens_per_s']:.1f} |"
        )
    lines += [
        "",
        "| ratio (tokens/s) | best runs | mean of runs | target | met |",
        "|---|---:|---:|---:|---|",
    ]
    for name, ratio in summary["ratios"].items():
        target, mean = summary["targets"][name], summary["ratios_of_means"][name]
        met = "yes" if target["met"] else "NO"
        lines.append(f"| {name} | {ratio:.2f} | {mean:.2f} | >= {target['min']} | {met} |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", type=Path, default=BENCH / "agents.yaml")
    parser.add_argument("--serial", type=int, default=8, help="conversations in B")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "agents.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    inputs = load_inputs(args.recipe)
    scenarios = list(ScenarioSampler(inputs))
    print(f"starting the engine ({inputs.recipe.engine.name})...", flush=True)
    engine = create_engine(inputs.recipe.engine)
    try:
        warm_up(engine, inputs, scenarios)
        print(
            f"timing {len(scenarios)} conversations (B: first {args.serial}), order C A B A C:",
            flush=True,
        )
        results = run_all(engine, inputs, scenarios, args.serial)
        summary = {
            "bench": "agents",
            "recipe": str(args.recipe),
            **summarize(results),
            "machine": machine_info(engine),
        }
    finally:
        engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print(markdown(summary))
    print(f"\nbest of 2 runs for A and C; results in {args.out}")


if __name__ == "__main__":
    main()
