"""Samplers: scenario i is fixed by (seed, i); stratified cells and edge cases are exact."""

import dataclasses
from collections import Counter

from dialoggen.library import load_attributes
from dialoggen.recipe import Sampler
from dialoggen.sampling import ScenarioSampler, is_edge_case, load_inputs, sampled_persona
from tests.conftest import DATA

OK = DATA / "recipes" / "ok.yaml"


def summaries(**overrides):
    return [s.summary() for s in ScenarioSampler(load_inputs(OK, **overrides))]


def test_same_recipe_and_seed_give_the_same_scenarios():
    assert summaries(count=60, seed=1) == summaries(count=60, seed=1)


def test_different_seeds_differ():
    a, b = summaries(count=30, seed=1), summaries(count=30, seed=2)
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 20


def test_scenario_i_does_not_depend_on_count():
    assert summaries(count=40, seed=5)[:10] == summaries(count=10, seed=5)


def test_stratified_sampling_fills_every_cell_equally():
    inputs = load_inputs(OK, count=1)
    sampler = ScenarioSampler(inputs)
    cells = len(sampler.cells)
    assert cells == len(sampler.groups) * len(sampler.categories) == 5 * 7
    counts = Counter(sampler.scenario(i).stratum for i in range(cells * 2))
    assert set(counts.values()) == {2} and len(counts) == cells


def test_edge_case_share_is_exact_for_every_prefix():
    assert [is_edge_case(i, 0.25) for i in range(8)].count(True) == 2
    inputs = load_inputs(OK, count=1)
    recipe = inputs.recipe.model_copy(update={"sampler": Sampler(edge_case_share=0.3)})
    sampler = ScenarioSampler(dataclasses.replace(inputs, recipe=recipe))
    edges = [sampler.scenario(i).topic.edge_case for i in range(100)]
    assert sum(edges[:10]) == 3 and sum(edges) == 30


def test_sampled_personas_are_deterministic_and_varied():
    pools = load_attributes(DATA.parent.parent / "personas" / "_attributes.yaml", [])
    people = [sampled_persona(pools, seed=1, k=k) for k in range(200)]
    assert people == [sampled_persona(pools, seed=1, k=k) for k in range(200)]
    assert len({(p.name, p.occupation, p.age) for p in people}) == 200
    assert {p.group for p in people} >= {"teen", "adult", "senior"}
