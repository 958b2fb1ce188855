"""The ``dialoggen`` command: parses flags, calls one library function, maps errors to exits.

Every ``DialoggenError`` becomes one ``error: ...`` line on stderr and its exit code.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from dialoggen import doctor as health
from dialoggen import models as model_store
from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.errors import ConfigError, DialoggenError, EngineError

app = typer.Typer(
    help="Build chatbot fine-tuning datasets from synthetic multi-turn conversations.\n\n"
    'Start with `dialoggen doctor`, then `dialoggen chat "hello"` to smoke-test the '
    "embedded model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stderr = Console(stderr=True)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and a non-zero exit."""
    try:
        yield
    except DialoggenError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=err.exit_code) from None


def build_config(cls: type, source: str, **values: Any) -> Any:
    """Validate flags into a config model; the first problem names the flag."""
    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: --{field.replace('_', '-')}: {first['msg']}") from None


EngineOpt = Annotated[str, typer.Option(help="vllm (in-process) or openai (HTTP server).")]
ModelOpt = Annotated[
    str | None, typer.Option(help="HF model id or local folder; empty = embedded SmolLM2.")
]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
]


@app.command()
def chat(
    message: Annotated[str, typer.Argument(help="What the user says.")],
    system: Annotated[str | None, typer.Option(help="Optional system prompt.")] = None,
    engine: EngineOpt = "vllm",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    schema: Annotated[
        Path | None, typer.Option(help="JSON schema file; the reply is constrained to it.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Cap on reply tokens.")] = 128,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.7,
    seed: Annotated[int, typer.Option(help="Engine seed.")] = 0,
) -> None:
    """Send one message and print the reply: the quickest check that a setup works.

    Example: dialoggen chat "Suggest a name for a bakery" --max-tokens 40
    """
    from dialoggen.engines import create_engine
    from dialoggen.engines.base import load_schema

    with friendly_errors():
        reply_schema = load_schema(schema) if schema else None  # before any model loads
        config = build_config(
            EngineConfig, "chat", name=engine, model=model, base_url=base_url, seed=seed
        )
        params = build_config(
            SamplingConfig, "chat", max_tokens=max_tokens, temperature=temperature
        )
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": message}
        ]
        with stderr.status(f"starting {config.name} engine..."):
            chat_engine = create_engine(config)
        with chat_engine:
            reply = chat_engine.chat([messages], params, reply_schema)[0]
        if reply_schema is not None and reply.ok:
            typer.echo(json.dumps(reply.parsed, indent=2, ensure_ascii=False))
        else:
            typer.echo(reply.text)
        stderr.print(
            f"[dim]{chat_engine.model_label} · {reply.completion_tokens} tokens · "
            f"{reply.latency_s:.1f} s · finish: {reply.finish_reason}[/dim]"
        )
        if not reply.ok:
            raise EngineError(f"the reply does not match {schema}: {reply.invalid}")


RecipeArg = Annotated[Path, typer.Argument(help="Recipe YAML file, e.g. recipes/demo.yaml.")]


@app.command()
def validate(recipe: RecipeArg) -> None:
    """Check a recipe and every file it names (personas, topics, styles, prompts) without
    loading a model; every problem is listed with its file and field.

    Example: dialoggen validate recipes/demo.yaml
    """
    from dialoggen.sampling import ScenarioSampler, load_inputs

    with friendly_errors():
        inputs = load_inputs(recipe)
        sampler = ScenarioSampler(inputs)
        typer.echo(
            f"ok: {recipe}: {len(inputs.personas)} personas, {len(inputs.topics)} subtopics in "
            f"{len(sampler.categories)} categories, {len(inputs.styles)} styles; "
            f"{inputs.recipe.count} scenarios -> {inputs.output}"
        )


@app.command()
def generate(
    recipe: RecipeArg,
    out: Annotated[
        Path | None, typer.Option(help="Run folder; an existing one is resumed.")
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Scenarios to generate (overrides recipe).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (overrides recipe).")] = None,
    model: ModelOpt = None,
) -> None:
    """Generate the recipe's conversations into a run folder; rerun to resume after a crash.

    Example: dialoggen generate recipes/demo.yaml --count 50 --out runs/try1
    """
    from dialoggen.report import funnel_lines
    from dialoggen.run import generate as run_generate
    from dialoggen.sampling import load_inputs

    with friendly_errors():
        overrides = {
            "count": count,
            "seed": seed,
            "model": model,
            "output": str(out.resolve()) if out else None,
        }
        inputs = load_inputs(recipe, **overrides)
        summary = run_generate(inputs)
        for line in funnel_lines(summary.funnel):
            stderr.print(line)
        for cell, short in summary.shortfalls.items():
            stderr.print(
                f"[yellow]shortfall {cell}: {short['accepted']} of {short['wanted']} "
                f"accepted after {short['attempts']} attempts[/yellow]"
            )
        stderr.print(f"{summary.skipped} already done before this run; {summary.seconds} s")
        typer.echo(summary.folder)


@app.command()
def show(
    run: Annotated[Path, typer.Argument(help="Run folder, e.g. runs/demo.")],
    count: Annotated[int, typer.Option(help="How many example dialogues to print.")] = 2,
) -> None:
    """Print a run's counts and a few example dialogues.

    Example: dialoggen show runs/demo --count 3
    """
    from dialoggen.report import format_dialogue, funnel, funnel_lines, read_run

    with friendly_errors():
        manifest, records = read_run(run)
        typer.echo(f"{run}: model {manifest.get('model')}")
        for line in funnel_lines(funnel(records)):
            typer.echo(line)
        shown = sorted(records, key=lambda r: (r["status"] != "accepted", r["index"]))
        for record in [r for r in shown if r["turns"]][:count]:
            typer.echo("\n" + format_dialogue(record))


@app.command("export")
def export_command(
    run: Annotated[Path, typer.Argument(help="Run folder, e.g. runs/demo.")],
    format: Annotated[
        str, typer.Option("--format", help="hf, parquet, jsonl, sharegpt, openai.")
    ] = "hf",
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default RUN/export-FORMAT.")
    ] = None,
    rejected: Annotated[
        bool, typer.Option("--rejected", help="Export the rejected records instead.")
    ] = False,
) -> None:
    """Write a run's accepted dialogues as a dataset, with a dataset card and the recipe.

    Example: dialoggen export runs/demo --format parquet --out exports/demo
    """
    from dialoggen.export import export

    with friendly_errors():
        kind = "rejected" if rejected else "accepted"
        target = out or run / f"export-{format}{'-rejected' if rejected else ''}"
        typer.echo(str(export(run, format, target, rejected)))
        stderr.print(f"exported the {kind} dialogues of {run} as {format}")


@app.command("push")
def push_command(
    run: Annotated[Path, typer.Argument(help="Run folder, e.g. runs/demo.")],
    repo: Annotated[str, typer.Option(help="Hub dataset repo, ORG/NAME.")],
    private: Annotated[bool, typer.Option("--private/--public", help="Repo visibility.")] = True,
    config: Annotated[
        str | None,
        typer.Option(
            help="Config; default: `default` for a repo's first run, then the run's name."
        ),
    ] = None,
    allow_pii: Annotated[bool, typer.Option("--allow-pii", help="Push rows with PII.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an existing config.")
    ] = False,
) -> None:
    """Push a run's accepted dialogues, dataset card and recipe to the Hugging Face Hub.

    The token comes from HF_TOKEN or `hf auth login` and is never printed. Rows with PII
    block the push unless --allow-pii. Example: dialoggen push runs/demo --repo me/support-chats
    """
    from dialoggen.push import push

    with friendly_errors():
        url = push(run, repo, private=private, config=config, allow_pii=allow_pii, replace=replace)
        typer.echo(url)


@app.command("models")
def list_models(
    prepare: Annotated[
        bool, typer.Option("--prepare", help="Materialise the embedded model now if needed.")
    ] = False,
) -> None:
    """Show the embedded model and the models in the local Hugging Face cache."""
    with friendly_errors():
        if prepare and not model_store.embedded_ready():
            with stderr.status("preparing the embedded model (once, ~20 s)..."):
                model_store.prepare_embedded_model()
        table = Table("model", "where", "status")
        gguf = model_store.embedded_gguf()
        status = (
            "ready"
            if model_store.embedded_ready()
            else "prepared on first use"
            if gguf
            else "missing: run `just setup`"
        )
        table.add_row(
            f"{model_store.EMBEDDED_NAME} (embedded, default)",
            str(model_store.embedded_model_dir()),
            status,
        )
        for repo_id, size in model_store.cached_hub_models():
            table.add_row(repo_id, "Hugging Face cache", f"{size / 2**30:.2f} GiB")
        Console().print(table)


@app.command("doctor")
def doctor_command(base_url: BaseUrlOpt = None) -> None:
    """Check python, vLLM, accelerator, embedded model, disk and tokens (never printed)."""
    checks = health.run_checks(base_url)
    table = Table("check", "", "detail")
    for check in checks:
        mark = (
            "[green]ok[/green]"
            if check.ok
            else ("[red]FAIL[/red]" if check.required else "[yellow]--[/yellow]")
        )
        table.add_row(check.name, mark, check.detail)
    Console().print(table)
    failed = [c.name for c in checks if c.required and not c.ok]
    if failed:
        typer.echo(f"error: failed checks: {', '.join(failed)}", err=True)
        raise typer.Exit(code=1)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":
    main()
