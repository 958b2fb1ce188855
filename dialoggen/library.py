"""Loads the content a recipe names: personas, topic taxonomies, styles, attribute pools.

Every loader collects problems (``file: field: message``) instead of stopping at the first,
so ``dialoggen validate`` can report them all at once.
"""

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialoggen.errors import InvalidInputError
from dialoggen.types import Persona, Style, Topic

Problems = list[str]
SHIPPED_PERSONAS = Path(__file__).resolve().parent.parent / "personas"
PERSONA_SCHEMA = "_persona.schema.json"  # a folder's own copy wins over the shipped one


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubtopicEntry(_Strict):
    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)
    edge_case: bool = False


class CategoryEntry(_Strict):
    weight: float = Field(1.0, gt=0)
    description: str = ""
    subtopics: list[SubtopicEntry] = Field(min_length=1)


class TaxonomyFile(_Strict):
    name: str
    description: str = ""
    categories: dict[str, CategoryEntry] = Field(min_length=1)


class StyleEntry(_Strict):
    description: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)


class StylesFile(_Strict):
    styles: dict[str, StyleEntry] = Field(min_length=1)


class AgeBand(_Strict):
    max_age: int
    group: str


class AttributePools(_Strict):
    first_names: dict[str, list[str]] = Field(min_length=1)
    last_names: dict[str, list[str]] = Field(min_length=1)
    age_ranges: list[tuple[int, int]] = Field(min_length=1)
    groups_by_age: list[AgeBand] = Field(min_length=1)
    occupations: list[str] = Field(min_length=1)
    personality: list[str] = Field(min_length=2)
    speaking_styles: list[str] = Field(min_length=1)
    goals: list[str] = Field(min_length=1)
    origin_languages: list[str] = []

    def group_for(self, age: int) -> str:
        return next(
            (b.group for b in self.groups_by_age if age <= b.max_age), self.groups_by_age[-1].group
        )


def read_yaml(path: Path, field: str = "") -> Any:
    """YAML from ``path``; a missing file or bad YAML is an ``InvalidInputError``."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f"; fix the recipe's {field}" if field else ""
        raise InvalidInputError([f"{path}: file not found{hint}"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InvalidInputError([f"{path}: invalid YAML{where}: {problem}"]) from None


def pydantic_problems(path: Path, err: ValidationError) -> list[str]:
    lines = []
    for item in err.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        lines.append(f"{path}: {field}: {message}")
    return lines


def _load(path: Path, problems: Problems, field: str = "") -> Any:
    try:
        return read_yaml(path, field)
    except InvalidInputError as err:
        problems.extend(err.problems)
        return None


def _model(cls: type[BaseModel], path: Path, data: Any, problems: Problems) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        problems.extend(pydantic_problems(path, err))
        return None


def load_personas(folder: Path, include: tuple[str, ...], problems: Problems) -> list[Persona]:
    """Personas from ``folder/*.yaml`` (files starting with ``_`` are not personas)."""
    if not folder.is_dir():
        problems.append(f"{folder}: personas folder not found; fix personas.dir")
        return []
    files = sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    if not files:
        problems.append(f"{folder}: no persona files (*.yaml); add at least one")
        return []
    schema_path = folder / PERSONA_SCHEMA
    if not schema_path.is_file():
        schema_path = SHIPPED_PERSONAS / PERSONA_SCHEMA
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    wanted = set(include) or {p.stem for p in files}
    for missing in sorted(wanted - {p.stem for p in files}):
        problems.append(f"{folder}: personas.include: no persona file {missing}.yaml")
    personas = [load_persona(path, validator, problems) for path in files if path.stem in wanted]
    return [p for p in personas if p is not None]


def load_persona(
    path: Path, validator: jsonschema.Draft202012Validator, problems: Problems
) -> Persona | None:
    """One persona file, or None with its problems appended."""
    before = len(problems)
    data = _load(path, problems)
    if data is None and len(problems) == before:
        problems.append(f"{path}: empty persona file; fill it in or delete it")
    if data is None:
        return None
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{path}: {field}: {error.message}")
    if len(problems) > before:
        return None
    age_range = (data["age_range"][0], data["age_range"][1]) if "age_range" in data else None
    if age_range and age_range[0] > age_range[1]:
        problems.append(f"{path}: age_range: min {age_range[0]} is above max {age_range[1]}")
        return None
    return Persona(
        id=path.stem,
        name=data["name"],
        group=data["group"],
        occupation=data["occupation"],
        background=data["background"].strip(),
        personality=tuple(data["personality"]),
        speaking_style=data["speaking_style"].strip(),
        goals=tuple(data["goals"]),
        locale=data["locale"],
        age=data.get("age"),
        age_range=age_range,
        origin_language=data.get("origin_language"),
    )


def load_topics(path: Path, problems: Problems) -> list[Topic]:
    before = len(problems)
    data = _load(path, problems, "topics")
    if data is None and len(problems) == before:
        problems.append(f"{path}: empty topics file")
    taxonomy = _model(TaxonomyFile, path, data, problems) if data is not None else None
    if taxonomy is None:
        return []
    return [
        Topic(
            taxonomy=taxonomy.name,
            category=category,
            name=sub.name,
            weight=entry.weight * sub.weight,
            edge_case=sub.edge_case,
            category_description=entry.description,
        )
        for category, entry in taxonomy.categories.items()
        for sub in entry.subtopics
    ]


def load_styles(path: Path, use: tuple[str, ...], problems: Problems) -> list[Style]:
    data = _load(path, problems, "styles.file")
    styles_file = _model(StylesFile, path, data, problems) if data is not None else None
    if styles_file is None:
        return []
    for name in use:
        if name not in styles_file.styles:
            known = ", ".join(styles_file.styles)
            problems.append(f"{path}: styles.use: unknown style {name!r} (known: {known})")
    names = use or tuple(styles_file.styles)
    return [
        Style(n, styles_file.styles[n].description, styles_file.styles[n].weight)
        for n in names
        if n in styles_file.styles
    ]


def load_attributes(path: Path, problems: Problems) -> AttributePools | None:
    data = _load(path, problems, "personas.attributes")
    return _model(AttributePools, path, data, problems) if data is not None else None
