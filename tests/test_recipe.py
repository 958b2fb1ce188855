"""Recipe validation: every problem reported at once, with file and field, nothing written."""

import pytest

from dialoggen.errors import InvalidInputError
from dialoggen.recipe import load_recipe
from dialoggen.sampling import load_inputs
from tests.conftest import DATA
from tests.test_cli import dialoggen

RECIPES = DATA / "recipes"

BROKEN = [
    ("unknown_key.yaml", ["unknown_key.yaml: sampling.temprature: unknown key"]),
    (
        "wrong_type.yaml",
        [
            "wrong_type.yaml: count: Input should be a valid integer",
            "wrong_type.yaml: turns: Value error, min (6) is larger than max (4)",
        ],
    ),
    (
        "missing_file.yaml",
        [
            "_topics_nope.yaml: file not found; fix the recipe's topics",
            "_styles.yaml: styles.use: unknown style 'carrier_pigeon'",
        ],
    ),
    ("bad_yaml.yaml", ["bad_yaml.yaml: invalid YAML (line 5, column 10)"]),
    ("empty_personas.yaml", ["personas_empty: no persona files (*.yaml)"]),
    (
        "bad_personas.yaml",
        [
            "personas_bad: personas.include: no persona file ghost.yaml",
            "broken-yaml.yaml: invalid YAML (line 3, column 6)",
            "empty.yaml: empty persona file",
            "wrong-types.yaml: (top level): Additional properties are not allowed",
            "wrong-types.yaml: age: 'forty' is not of type 'integer'",
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), BROKEN)
def test_validate_reports_every_problem_with_file_and_field(name, expected):
    with pytest.raises(InvalidInputError) as caught:
        load_inputs(RECIPES / name)
    problems = caught.value.problems
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) >= len(expected)


@pytest.mark.parametrize(("name", "expected"), BROKEN)
def test_validate_command_exits_non_zero_and_writes_nothing(name, expected, tmp_path):
    result = dialoggen("validate", str(RECIPES / name))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    for fragment in expected:
        assert fragment in result.stderr
    assert not (DATA / "runs").exists()


def test_validate_accepts_a_good_recipe_without_a_model():
    result = dialoggen("validate", str(RECIPES / "ok.yaml"))
    assert result.returncode == 0, result.stderr
    assert "57 personas" in result.stdout and "4 scenarios" in result.stdout
    assert not (DATA / "runs").exists()


def test_flags_override_the_recipe():
    recipe = load_recipe(RECIPES / "ok.yaml", count=9, seed=3, model="/m")
    assert (recipe.count, recipe.seed, recipe.engine.model) == (9, 3, "/m")


def test_shipped_recipes_validate():
    for path in (DATA.parent.parent / "recipes").glob("*.yaml"):
        assert load_inputs(path).recipe.count >= 1
