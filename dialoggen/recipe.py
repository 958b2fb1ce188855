"""The Recipe: every knob of a run, validated up front, before any model loads.

Relative paths in a recipe are relative to the recipe file's folder.

>>> Recipe.model_validate({"name": "x", "count": 3, "turns": {"min": 4, "max": 6}}).mode
'agents'
"""

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dialoggen.config import EngineConfig, SamplingConfig
from dialoggen.errors import InvalidInputError
from dialoggen.library import pydantic_problems, read_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnRange(Strict):
    min: int = Field(4, ge=2, le=64, description="Fewest turns in a dialogue.")
    max: int = Field(6, ge=2, le=64, description="Most turns in a dialogue.")

    @model_validator(mode="after")
    def _ordered(self) -> "TurnRange":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class PersonaSource(Strict):
    dir: Path = Field(Path("../personas"), description="Folder of persona YAML files.")
    include: tuple[str, ...] = Field((), description="Persona ids to use; empty = all.")
    sampled: int = Field(0, ge=0, description="Extra personas built from attribute pools.")
    attributes: Path | None = Field(None, description="Pools file; default DIR/_attributes.yaml.")


class StyleSource(Strict):
    file: Path = Field(Path("../personas/_styles.yaml"), description="Styles file.")
    use: tuple[str, ...] = Field((), description="Style names to use; empty = all.")


class Sampler(Strict):
    strategy: Literal["random", "stratified"] = Field(
        "stratified", description="stratified: equal share per persona group x topic category."
    )
    edge_case_share: float = Field(
        0.0, ge=0, le=1, description="Guaranteed share of scenarios on edge-case subtopics."
    )


class Recipe(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Run name (a slug).")
    description: str = ""
    seed: int = Field(0, description="Run seed: scenario i is the same on every run.")
    count: int = Field(ge=1, le=1_000_000, description="How many scenarios to generate.")
    engine: EngineConfig = EngineConfig()
    sampling: SamplingConfig = SamplingConfig(max_tokens=96, temperature=0.8)
    personas: PersonaSource = PersonaSource()
    topics: tuple[Path, ...] = Field(
        (Path("../personas/_topics_support.yaml"),), min_length=1, description="Taxonomy files."
    )
    styles: StyleSource = StyleSource()
    conversation: Literal["user_assistant", "persona_pair"] = Field(
        "user_assistant", description="A persona and an assistant, or two personas."
    )
    turns: TurnRange = TurnRange()
    mode: Literal["agents", "oneshot"] = Field(
        "agents", description="agents: turn by turn; oneshot: the whole dialogue in one call."
    )
    sampler: Sampler = Sampler()
    prompts: Path = Field(Path("../prompts"), description="Folder of prompt templates.")
    output: Path = Field(Path("../runs/{name}"), description="Run folder; {name} is filled in.")
    max_concurrency: int = Field(64, ge=1, description="Conversations in flight at once.")

    def path(self, base: Path, value: Path) -> Path:
        """``value`` resolved against the recipe's folder ``base``."""
        value = Path(str(value).format(name=self.name)).expanduser()
        return value if value.is_absolute() else (base / value).resolve()

    def identity_hash(self) -> str:
        """Hash of what decides the scenarios and dialogues (not count, output or engine
        plumbing): a run folder only resumes a recipe with the same identity."""
        data = self.model_dump(mode="json", exclude={"count", "output", "description"})
        data["engine"] = {k: data["engine"][k] for k in ("name", "model", "seed")}
        return digest(data)


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def load_recipe(path: str | Path, **overrides: Any) -> Recipe:
    """Read and validate a recipe file; ``overrides`` (count, seed, model, ...) win."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise InvalidInputError([f"{path}: a recipe must be a mapping of keys to values"])
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "model":
            data.setdefault("engine", {})
            data["engine"] = {**(data["engine"] or {}), "model": value}
        else:
            data[key] = value
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise InvalidInputError(pydantic_problems(path, err)) from None
