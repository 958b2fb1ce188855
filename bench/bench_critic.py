"""Critic cost, measured side by side on one shared vLLM engine.

Part 1: the critic on one fixed set of dialogues (generated once, untimed), one call per
dialogue, first try only (no retries), every call at once:
  S  schema: the critic's own messages, decoding constrained to ``critique.schema.json``
     (what ``Critic`` asks).
  F  free text: the same messages plus a last instruction to answer with JSON matching the
     schema (its text included), no constrained decoding.
  Both replies are checked with ``check_reply``; a valid critique is one that validates.
  Runs go S, F, F, S; the best run of each counts, the ratio of mean rates is kept beside.

Part 2: ``dialoggen.run.generate`` on the same scenarios with ``critic.max_revisions``
0, 1, 2, counting every engine call (generation, critic, revisions) through a wrapper
around ``engine.achat``; cost per accepted dialogue, as ratios to max_revisions 0.

The machine may be noisy, so the ratios matter, not the absolute figures.

    python bench/bench_critic.py            # or: just bench
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_agents import machine_info
from rich.console import Console

from dialoggen.critique import Critic
from dialoggen.engines import ChatEngine, create_engine
from dialoggen.engines.base import Reply, check_reply
from dialoggen.generation import GenerationFailure
from dialoggen.generation.agents import simulate
from dialoggen.run import generate
from dialoggen.sampling import RunInputs, ScenarioSampler, load_inputs
from dialoggen.types import Scenario, Turn

BENCH = Path(__file__).resolve().parent
LABELS = {
    "S": "critic, schema-constrained decoding",
    "F": "critic, free text asked for JSON",
}
FREE_TEXT_NOTE = (
    "Reply with one JSON object and nothing else. It must match this JSON schema:\n{schema}"
)
Job = tuple[Scenario, tuple[Turn, ...]]


# --- counting every engine call ------------------------------------------------------------


@dataclass
class Tally:
    calls: int = 0
    output_tokens: int = 0


@contextmanager
def counted(engine: ChatEngine) -> Iterator[Tally]:
    """Every ``engine.achat`` call while inside, with its output tokens (an instance patch,
    so every caller sharing the engine, the critic included, is counted)."""
    tally, original = Tally(), engine.achat

    async def achat(messages: Any, params: Any = None, schema: dict | None = None) -> Reply:
        reply = await original(messages, params, schema)
        tally.calls += 1
        tally.output_tokens += reply.completion_tokens
        return reply

    engine.achat = achat  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        del engine.achat


# --- part 1: the fixed dialogues and the two critic variants -------------------------------


async def write_dialogues(engine: ChatEngine, inputs: RunInputs) -> list[Job]:
    """Every scenario's dialogue, all concurrent (a failed one is left out)."""
    recipe, scenarios = inputs.recipe, list(ScenarioSampler(inputs))
    results = await asyncio.gather(
        *(
            simulate(engine, s, inputs.prompts, recipe.sampling, recipe.turns.min)
            for s in scenarios
        ),
        return_exceptions=True,
    )
    jobs = []
    for scenario, result in zip(scenarios, results, strict=True):
        if isinstance(result, GenerationFailure):
            print(f"  (scenario {scenario.index} failed: {result}; left out)", flush=True)
            continue
        if isinstance(result, BaseException):
            raise result
        jobs.append((scenario, result[0].turns))
    return jobs


def free_text_messages(messages: list[dict], schema: dict) -> list[dict]:
    note = FREE_TEXT_NOTE.format(schema=json.dumps(schema, separators=(",", ":")))
    last = {**messages[-1], "content": f"{messages[-1]['content']}\n\n{note}"}
    return [*messages[:-1], last]


def warm_up(engine: ChatEngine, inputs: RunInputs, jobs: list[Job]) -> None:
    """Untimed warm-up through ``Critic`` itself (compiles the schema grammar)."""
    critic = Critic(engine, inputs.prompts, inputs.critique_schema, inputs.recipe.critic)

    async def run() -> None:
        await asyncio.gather(*(critic.critique(s, t) for s, t in jobs[:4]))

    asyncio.run(run())


@dataclass(frozen=True)
class CriticMeasure:
    variant: str
    run: int
    dialogues: int
    valid: int
    truncated: int
    output_tokens: int
    seconds: float
    invalid_kinds: dict[str, int]
    example_invalid: dict[str, Any] | None  # the first reply that did not validate

    @property
    def dialogues_per_s(self) -> float:
        return self.dialogues / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds

    @property
    def valid_per_s(self) -> float:
        return self.valid / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "valid_share": round(self.valid / self.dialogues, 3),
            "dialogues_per_s": round(self.dialogues_per_s, 3),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "valid_per_s": round(self.valid_per_s, 3),
        }


async def ask_all(
    engine: ChatEngine, batch: list[list[dict]], inputs: RunInputs, schema: dict | None
) -> list[Reply]:
    params = inputs.recipe.critic.sampling
    return list(await asyncio.gather(*(engine.achat(m, params, schema) for m in batch)))


def measure_critic(
    variant: str, run: int, work: Callable[[], list[Reply]], schema: dict
) -> CriticMeasure:
    started = time.perf_counter()
    replies = work()
    seconds = time.perf_counter() - started
    errors = [check_reply(r.text, schema)[1] for r in replies]
    kinds = Counter(e.split(":")[0] for e in errors if e is not None)
    bad = next(((r, e) for r, e in zip(replies, errors, strict=True) if e), None)
    example = (
        {"error": bad[1], "finish_reason": bad[0].finish_reason, "text": bad[0].text[:400]}
        if bad
        else None
    )
    result = CriticMeasure(
        variant,
        run,
        len(replies),
        errors.count(None),
        sum(r.finish_reason == "length" for r in replies),
        sum(r.completion_tokens for r in replies),
        seconds,
        dict(sorted(kinds.items())),
        example,
    )
    print(
        f"  {variant}{run}: {result.dialogues} critiques ({result.valid} valid, "
        f"{result.truncated} cut at max_tokens), {result.output_tokens} tokens in "
        f"{seconds:.1f} s = {result.tokens_per_s:.1f} tok/s",
        flush=True,
    )
    return result


def run_critic(engine: ChatEngine, inputs: RunInputs, jobs: list[Job]) -> list[CriticMeasure]:
    """S, F, F, S: symmetric, so neither variant gains from position or the prefix cache."""
    schema = inputs.critique_schema
    critic = Critic(engine, inputs.prompts, schema, inputs.recipe.critic)
    plain = [critic.messages(s, t) for s, t in jobs]  # exactly what Critic.critique sends
    batches = {"S": (plain, schema), "F": ([free_text_messages(m, schema) for m in plain], None)}
    runs, results = Counter[str](), []
    for variant in "SFFS":
        runs[variant] += 1
        batch, constraint = batches[variant]

        def work(batch: list[list[dict]] = batch, constraint: dict | None = constraint) -> Any:
            return asyncio.run(ask_all(engine, batch, inputs, constraint))

        results.append(measure_critic(variant, runs[variant], work, schema))
    return results


def ratio(a: float, b: float) -> float | None:
    """``a / b`` rounded, or None where ``b`` is 0 (e.g. no valid free-text critique)."""
    return round(a / b, 3) if b else None


def summarize_critic(results: list[CriticMeasure]) -> dict[str, Any]:
    """Ratios S/F of the best runs (dialogues/s and valid critiques/s) and of mean rates."""
    best, ratios, means = {}, {}, {}
    for metric in ("dialogues_per_s", "valid_per_s"):
        rates = {v: [getattr(m, metric) for m in results if m.variant == v] for v in "SF"}
        ratios[f"S/F {metric}"] = ratio(max(rates["S"]), max(rates["F"]))
        mean = {v: sum(r) / len(r) for v, r in rates.items()}
        means[f"S/F {metric}"] = ratio(mean["S"], mean["F"])
    for v in "SF":
        top = max((m for m in results if m.variant == v), key=lambda m: m.dialogues_per_s)
        best[v] = {"label": LABELS[v], **top.as_dict()}
    return {
        "order": [f"{m.variant}{m.run}" for m in results],
        "runs": [m.as_dict() for m in results],
        "best": best,
        "ratios": ratios,
        "ratios_of_means": means,
        "free_text_note": FREE_TEXT_NOTE,
    }


# --- part 2: the revise loop through dialoggen.run.generate ----------------------------------


@dataclass(frozen=True)
class ReviseMeasure:
    max_revisions: int
    run: int
    scenarios: int
    accepted: int
    accepted_after_revision: int
    rejected: dict[str, int]
    calls: int
    critic_calls: int
    output_tokens: int
    critic_output_tokens: int
    seconds: float

    def per_accepted(self) -> dict[str, float | None]:
        n = self.accepted
        return {
            "seconds": round(self.seconds / n, 3) if n else None,
            "calls": round(self.calls / n, 2) if n else None,
            "output_tokens": round(self.output_tokens / n, 1) if n else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "per_accepted": self.per_accepted(),
        }


def read_records(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def critic_share(records: list[dict[str, Any]], tally: Tally) -> tuple[int, int]:
    """(critic calls, critic output tokens): critic calls from every critique's attempts;
    ``usage`` holds generation and revision tokens only, so the rest of the tally is critic."""
    calls = sum(
        a["critique"]["attempts"] for r in records for a in r["attempts"] if a.get("critique")
    )
    generation = sum(r.get("usage", {}).get("completion_tokens", 0) for r in records)
    return calls, tally.output_tokens - generation


def measure_revise(
    engine: ChatEngine, recipe: Path, base: RunInputs, max_revisions: int, run: int
) -> ReviseMeasure:
    critic = {**base.recipe.critic.model_dump(mode="json"), "max_revisions": max_revisions}
    with tempfile.TemporaryDirectory(prefix="bench-critic-") as tmp:
        folder = str(Path(tmp) / "run")
        inputs = load_inputs(recipe, count=base.recipe.count, output=folder, critic=critic)
        with counted(engine) as tally:
            started = time.perf_counter()
            summary = generate(inputs, engine=engine, console=Console(stderr=True, quiet=True))
            seconds = time.perf_counter() - started
        records = read_records(inputs.output)
    funnel = summary.funnel
    rejected = {**funnel["filtered"], "critic_rejected": funnel["critic_rejected"]}
    rejected["critic_unparseable"] = funnel["critic_unparseable"]
    rejected["generation_failed"] = sum(funnel["generation_failed"].values())
    critic_calls, critic_tokens = critic_share(records, tally)
    result = ReviseMeasure(
        max_revisions,
        run,
        funnel["drawn"],
        funnel["accepted"],
        funnel["accepted_after_revision"],
        {k: v for k, v in sorted(rejected.items()) if v},
        tally.calls,
        critic_calls,
        tally.output_tokens,
        critic_tokens,
        seconds,
    )
    print(
        f"  R{max_revisions}: {result.accepted}/{result.scenarios} accepted "
        f"({result.accepted_after_revision} after revision), {result.calls} calls, "
        f"{result.output_tokens} tokens in {result.seconds:.1f} s",
        flush=True,
    )
    return result


POOLED = ("scenarios", "accepted", "accepted_after_revision", "calls", "critic_calls")
POOLED += ("output_tokens", "critic_output_tokens", "seconds")


def summarize_revise(results: list[ReviseMeasure]) -> dict[str, Any]:
    """Per setting, totals pooled over its runs; per accepted dialogue, ratios to the first."""
    pooled: dict[int, dict[str, Any]] = {}
    for n in sorted({m.max_revisions for m in results}):
        mine = [m for m in results if m.max_revisions == n]
        total = {k: sum(getattr(m, k) for m in mine) for k in POOLED}
        total["seconds"], total["runs"] = round(total["seconds"], 2), len(mine)
        accepted = total["accepted"]
        total["per_accepted"] = {
            k: round(total[k] / accepted, 3) if accepted else None
            for k in ("seconds", "calls", "output_tokens")
        }
        pooled[n] = total
    base = pooled[min(pooled)]
    ratios = {
        f"R{n}/R{min(pooled)}": {
            "accepted": ratio(p["accepted"], base["accepted"]),
            **{
                k: ratio(v, base["per_accepted"][k]) if v is not None else None
                for k, v in p["per_accepted"].items()
            },
        }
        for n, p in pooled.items()
        if n != min(pooled)
    }
    return {
        "order": [f"R{m.max_revisions}" for m in results],
        "runs": [m.as_dict() for m in results],
        "pooled": {f"R{n}": p for n, p in pooled.items()},
        "ratios": ratios,
    }


# --- reporting -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int) -> str:
    """A number for the tables; None (a ratio to zero) as "n/a"."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_critic(part: dict[str, Any]) -> list[str]:
    lines = [
        "| variant | critiques | valid | output tokens | seconds | critiques/s | tok/s | valid/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v, m in part["best"].items():
        lines.append(
            f"| {v}: {m['label']} | {m['dialogues']} | {m['valid']} ({m['valid_share']:.0%}) "
            f"| {m['output_tokens']} | {m['seconds']:.1f} | {m['dialogues_per_s']:.3f} "
            f"| {m['tokens_per_s']:.1f} | {m['valid_per_s']:.3f} |"
        )
    lines += ["", "| ratio | best runs | mean of runs |", "|---|---:|---:|"]
    for name, best in part["ratios"].items():
        mean = part["ratios_of_means"][name]
        lines.append(f"| {name} | {fmt(best, 2)} | {fmt(mean, 2)} |")
    return lines


def markdown_revise(part: dict[str, Any]) -> list[str]:
    lines = [
        "| max_revisions | accepted | calls (critic) | output tokens (critic) | seconds "
        "| s / accepted | calls / accepted | tokens / accepted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in part["pooled"].items():
        per = p["per_accepted"]
        lines.append(
            f"| {name[1:]} | {p['accepted']}/{p['scenarios']} "
            f"({p['accepted_after_revision']} revised) | {p['calls']} ({p['critic_calls']}) "
            f"| {p['output_tokens']} ({p['critic_output_tokens']}) | {p['seconds']:.1f} "
            f"| {fmt(per['seconds'], 2)} | {fmt(per['calls'], 2)} "
            f"| {fmt(per['output_tokens'], 1)} |"
        )
    lines += [
        "",
        "| ratio | accepted | seconds / accepted | calls / accepted | tokens / accepted |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in part["ratios"].items():
        lines.append(
            f"| {name} | {fmt(r['accepted'], 2)} | {fmt(r['seconds'], 2)} "
            f"| {fmt(r['calls'], 2)} | {fmt(r['output_tokens'], 2)} |"
        )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", type=Path, default=BENCH / "critic.yaml")
    parser.add_argument(
        "--revisions",
        default="0,1,2",
        help="part 2: critic.max_revisions per run, in run order (e.g. 0,1,2,2,1,0)",
    )
    parser.add_argument("--count", type=int, help="scenarios (default: the recipe's count)")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "critic.json")
    return parser.parse_args()


def run_bench(engine: ChatEngine, args: argparse.Namespace, inputs: RunInputs) -> dict:
    started = time.perf_counter()
    jobs = asyncio.run(write_dialogues(engine, inputs))
    written = {
        "dialogues": len(jobs),
        "turns": sum(len(t) for _, t in jobs),
        "seconds_untimed": round(time.perf_counter() - started, 1),
    }
    print(f"  {written['dialogues']} dialogues written in {written['seconds_untimed']} s")
    warm_up(engine, inputs, jobs)
    print(f"part 1: the critic on {len(jobs)} dialogues, order S F F S:", flush=True)
    critic = summarize_critic(run_critic(engine, inputs, jobs))
    order = [int(n) for n in args.revisions.split(",")]
    print(f"part 2: generate with critic.max_revisions in order {order}:", flush=True)
    revise = [
        measure_revise(engine, args.recipe, inputs, n, order[:k].count(n) + 1)
        for k, n in enumerate(order)
    ]
    return {
        "bench": "critic",
        "recipe": str(args.recipe),
        "dialogues": written,
        "critic": critic,
        "revise": summarize_revise(revise),
        "machine": machine_info(engine),
    }


def main() -> None:
    args = parse_args()
    inputs = load_inputs(args.recipe, count=args.count)
    print(f"starting the engine ({inputs.recipe.engine.name})...", flush=True)
    engine = create_engine(inputs.recipe.engine)
    try:
        print(f"writing {inputs.recipe.count} dialogues (untimed):", flush=True)
        summary = run_bench(engine, args, inputs)
    finally:
        engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print("\n".join(markdown_critic(summary["critic"])))
    print()
    print("\n".join(markdown_revise(summary["revise"])))
    print(f"\nbest of 2 runs for S and F; results in {args.out}")


if __name__ == "__main__":
    main()
