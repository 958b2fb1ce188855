"""Personas x topics x styles -> Scenario, one RNG per scenario derived from (seed, index).

Scenario ``i`` is the same on every run with the same recipe, whatever ``count`` is.
Stratified sampling cycles through persona-group x topic-category cells in a seeded order,
so any prefix of the scenarios is balanced; ``edge_case_share`` is met exactly.
"""

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dialoggen.errors import InvalidInputError
from dialoggen.library import (
    AttributePools,
    load_attributes,
    load_personas,
    load_styles,
    load_topics,
)
from dialoggen.prompts import (
    AGENT_TEMPLATES,
    CRITIC_TEMPLATES,
    CRITIQUE_SCHEMA,
    DIALOGUE_SCHEMA,
    ONESHOT_TEMPLATES,
    REVISE_TEMPLATES,
    PromptSet,
)
from dialoggen.recipe import Recipe, load_recipe
from dialoggen.types import Persona, Scenario, Style, Topic

T = TypeVar("T")


@dataclass(frozen=True)
class RunInputs:
    """A validated recipe and everything it names, loaded and checked."""

    recipe: Recipe
    recipe_path: Path
    personas: tuple[Persona, ...]
    topics: tuple[Topic, ...]
    styles: tuple[Style, ...]
    prompts: PromptSet
    dialogue_schema: dict
    critique_schema: dict

    @property
    def output(self) -> Path:
        return self.recipe.path(self.recipe_path.parent, self.recipe.output)


def load_inputs(recipe_path: str | Path, **overrides: object) -> RunInputs:
    """Load the recipe and every file it names; raise one error listing all problems."""
    recipe_path = Path(recipe_path)
    recipe = load_recipe(recipe_path, **overrides)
    base, problems = recipe_path.parent, list[str]()
    source = recipe.personas
    personas = load_personas(recipe.path(base, source.dir), source.include, problems)
    if source.sampled:
        pools_path = recipe.path(base, source.attributes or source.dir / "_attributes.yaml")
        pools = load_attributes(pools_path, problems)
        if pools is not None:
            personas += [sampled_persona(pools, recipe.seed, k) for k in range(source.sampled)]
    topics = [t for f in recipe.topics for t in load_topics(recipe.path(base, f), problems)]
    styles = load_styles(recipe.path(base, recipe.styles.file), recipe.styles.use, problems)
    names: tuple[str, ...] = AGENT_TEMPLATES if recipe.mode == "agents" else ONESHOT_TEMPLATES
    names += REVISE_TEMPLATES + (CRITIC_TEMPLATES if recipe.critic.enabled else ())
    prompts = PromptSet(recipe.path(base, recipe.prompts), names, problems)
    schema = prompts.load_schema(DIALOGUE_SCHEMA, problems) if recipe.mode == "oneshot" else {}
    critique = prompts.load_schema(CRITIQUE_SCHEMA, problems) if recipe.critic.enabled else {}
    if recipe.conversation == "persona_pair" and 0 < len(personas) < 2:
        problems.append(f"{recipe_path}: conversation: persona_pair needs at least 2 personas")
    if recipe.sampler.edge_case_share > 0 and topics and not any(t.edge_case for t in topics):
        problems.append(f"{recipe_path}: sampler.edge_case_share: no topic has edge_case: true")
    if problems:
        raise InvalidInputError(problems)
    return RunInputs(
        recipe,
        recipe_path,
        tuple(personas),
        tuple(topics),
        tuple(styles),
        prompts,
        schema,
        critique,
    )


def sampled_persona(pools: AttributePools, seed: int, k: int) -> Persona:
    """Persona ``k`` built from the attribute pools (deterministic in seed and k)."""
    rng = random.Random(f"{seed}:persona:{k}")
    locale = rng.choice(sorted(pools.first_names))
    low, high = rng.choice(pools.age_ranges)
    age = rng.randint(low, high)
    origin = (
        rng.choice(pools.origin_languages)
        if pools.origin_languages and rng.random() < 0.3
        else None
    )
    last_names = pools.last_names.get(locale) or ["Doe"]
    return Persona(
        id=f"sampled-{k:05d}",
        name=f"{rng.choice(pools.first_names[locale])} {rng.choice(last_names)}",
        group=pools.group_for(age),
        occupation=rng.choice(pools.occupations),
        background=f"A fictional {age}-year-old {locale} resident.",
        personality=tuple(rng.sample(pools.personality, k=min(3, len(pools.personality)))),
        speaking_style=rng.choice(pools.speaking_styles),
        goals=(rng.choice(pools.goals),),
        locale=locale,
        age=age,
        origin_language=origin,
        source="sampled",
    )


def _weighted(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


def is_edge_case(index: int, share: float) -> bool:
    """Exactly ``floor(n * share)`` of the first n indices are edge cases, for every n."""
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


class ScenarioSampler:
    """Scenario ``i`` from the inputs; see the module docstring for the guarantees."""

    def __init__(self, inputs: RunInputs) -> None:
        self.inputs = inputs
        recipe = inputs.recipe
        self.seed = recipe.seed
        self.groups = sorted({p.group for p in inputs.personas})
        self.categories = sorted({t.category for t in inputs.topics})
        cells = [(g, c) for g in self.groups for c in self.categories]
        random.Random(f"{self.seed}:cells").shuffle(cells)
        self.cells = cells

    def _topic(self, rng: random.Random, index: int, category: str | None) -> Topic:
        topics = [t for t in self.inputs.topics if category is None or t.category == category]
        share = self.inputs.recipe.sampler.edge_case_share
        if share > 0:
            edge = is_edge_case(index, share)
            matching = [t for t in topics if t.edge_case == edge]
            if not matching:  # this category has none: any category's edge cases
                matching = [t for t in self.inputs.topics if t.edge_case == edge]
            topics = matching
        return _weighted(rng, topics, [t.weight for t in topics])

    def scenario(self, index: int) -> Scenario:
        recipe, inputs = self.inputs.recipe, self.inputs
        rng = random.Random(f"{self.seed}:scenario:{index}")
        if recipe.sampler.strategy == "stratified":
            group, category = self.cells[index % len(self.cells)]
            persona = rng.choice([p for p in inputs.personas if p.group == group])
            topic = self._topic(rng, index, category)
        else:
            persona = rng.choice(inputs.personas)
            categories = sorted({t.category for t in inputs.topics})
            weights = [sum(t.weight for t in inputs.topics if t.category == c) for c in categories]
            topic = self._topic(rng, index, _weighted(rng, categories, weights))
        style = _weighted(rng, inputs.styles, [s.weight for s in inputs.styles])
        partner = None
        if recipe.conversation == "persona_pair":
            partner = rng.choice([p for p in inputs.personas if p.id != persona.id])
        turns = rng.randint(recipe.turns.min, recipe.turns.max)
        return Scenario(f"{recipe.name}-{index:05d}", index, persona, topic, style, turns, partner)

    def __iter__(self) -> Iterator[Scenario]:
        return (self.scenario(i) for i in range(self.inputs.recipe.count))
