"""The Recipe: every knob of a run, validated up front, before any model loads.

Relative paths in a recipe are relative to the recipe file's folder.

>>> Recipe.model_validate({"name": "x", "count": 3, "turns": {"min": 4, "max": 6}}).mode
'agents'
"""

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

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


CRITERIA = (
    "coherence",
    "persona_consistency",
    "topic_adherence",
    "naturalness",
    "helpfulness",
    "safety",
)


class FilterConfig(Strict):
    min_turn_chars: int = Field(2, ge=1, description="Shortest allowed turn (characters).")
    max_turn_chars: int = Field(2000, ge=1, description="Longest allowed turn (characters).")
    repetition_ngram: int = Field(4, ge=2, description="Word n-gram size for loop detection.")
    max_ngram_repeats: int = Field(3, ge=1, description="Times an n-gram may recur in a turn.")
    role_leakage: bool = Field(True, description="Reject speaker labels / 'As an AI' in turns.")
    pii: Literal["reject", "scrub", "off"] = Field(
        "reject", description="PII in a dialogue: reject it, replace spans by [KIND], or allow."
    )
    near_duplicate: float | None = Field(
        0.85, gt=0, le=1, description="MinHash similarity to an accepted dialogue that rejects."
    )


class CriticConfig(Strict):
    enabled: bool = Field(True, description="Score dialogues with the critic.")
    engine: EngineConfig | None = Field(None, description="Critic engine; empty = share.")
    sampling: SamplingConfig = SamplingConfig(temperature=0.2, max_tokens=400)
    min_scores: dict[Literal[CRITERIA], Annotated[int, Field(ge=1, le=5)]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Per-criterion minimum (1-5)."
    )
    threshold: float = Field(3.0, ge=1, le=5, description="Minimum mean score to accept.")
    max_revisions: int = Field(1, ge=0, le=10, description="Repair rounds for a failing dialogue.")
    revise: Literal["targeted", "whole"] = Field(
        "targeted", description="targeted: keep turns before the first flagged one."
    )
    retries: int = Field(2, ge=0, le=10, description="Re-asks when a critic reply is invalid.")


class QuotaConfig(Strict):
    per_stratum: int | None = Field(
        None, ge=1, description="Accepted dialogues wanted in every group x category cell."
    )
    total: int | None = Field(None, ge=1, description="Accepted dialogues wanted overall.")
    max_attempts: int = Field(
        200, ge=1, description="Cap on scenarios drawn per cell (or overall) before giving up."
    )


class ExportConfig(Strict):
    test_size: float = Field(0.1, ge=0, lt=1, description="Share of rows in the test split.")
    system_prompt: str | None = Field(None, description="Optional leading system message.")
    license: str = Field("cc-by-4.0", description="License in the dataset card.")
    language: tuple[str, ...] = Field(("en",), description="Languages in the dataset card.")


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
    filters: FilterConfig = FilterConfig()
    critic: CriticConfig = CriticConfig()
    quota: QuotaConfig | None = Field(None, description="Accepted-dialogue targets.")
    export: ExportConfig = ExportConfig()

    @model_validator(mode="after")
    def _quota_fits(self) -> "Recipe":
        if self.quota and self.quota.per_stratum and self.sampler.strategy != "stratified":
            raise ValueError("quota.per_stratum needs sampler.strategy: stratified")
        return self

    def path(self, base: Path, value: Path) -> Path:
        """``value`` resolved against the recipe's folder ``base``."""
        value = Path(str(value).format(name=self.name)).expanduser()
        return value if value.is_absolute() else (base / value).resolve()

    def resolved(self, base: Path) -> "Recipe":
        """The same recipe with every path absolute, so it reruns from anywhere."""
        personas = self.personas.model_copy(
            update={
                "dir": self.path(base, self.personas.dir),
                "attributes": self.path(base, self.personas.attributes)
                if self.personas.attributes
                else None,
            }
        )
        return self.model_copy(
            update={
                "personas": personas,
                "topics": tuple(self.path(base, t) for t in self.topics),
                "styles": self.styles.model_copy(
                    update={"file": self.path(base, self.styles.file)}
                ),
                "prompts": self.path(base, self.prompts),
                "output": self.path(base, self.output),
            }
        )

    def identity_hash(self) -> str:
        """Hash of what decides the scenarios and dialogues (not count, quota, output, engine
        plumbing, or where the files sit): a run folder only resumes a recipe with the same
        identity, and the resolved copy in the run folder has the same one."""
        data = self.model_dump(
            mode="json", exclude={"count", "output", "description", "export", "quota"}
        )
        data["engine"] = {k: data["engine"][k] for k in ("name", "model", "seed")}
        data["personas"]["dir"] = Path(data["personas"]["dir"]).name
        data["personas"]["attributes"] = Path(data["personas"]["attributes"] or "").name
        data["topics"] = [Path(t).name for t in data["topics"]]
        data["styles"]["file"] = Path(data["styles"]["file"]).name
        data["prompts"] = Path(data["prompts"]).name
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
