"""Frozen records that flow between stages: Persona, Topic, Style, Scenario, Turn, Dialogue.

>>> Turn("user", "Ana", "hi").as_message()
{'role': 'user', 'content': 'hi'}
"""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Persona:
    """Someone who talks: from ``personas/<id>.yaml`` or sampled from attribute pools."""

    id: str
    name: str
    group: str
    occupation: str
    background: str
    personality: tuple[str, ...]
    speaking_style: str
    goals: tuple[str, ...]
    locale: str
    age: int | None = None
    age_range: tuple[int, int] | None = None
    origin_language: str | None = None
    source: str = "library"

    @property
    def age_text(self) -> str:
        if self.age is not None:
            return str(self.age)
        low, high = self.age_range or (0, 0)
        return f"{low}-{high}"


@dataclass(frozen=True)
class Topic:
    """A subtopic of a weighted taxonomy, with its category."""

    taxonomy: str
    category: str
    name: str
    weight: float = 1.0
    edge_case: bool = False
    category_description: str = ""


@dataclass(frozen=True)
class Style:
    name: str
    description: str
    weight: float = 1.0


@dataclass(frozen=True)
class Scenario:
    """Everything one conversation is made from; scenario ``index`` is the same on every run."""

    id: str
    index: int
    persona: Persona
    topic: Topic
    style: Style
    turns: int
    partner: Persona | None = None  # None: the persona talks to the assistant

    @property
    def stratum(self) -> str:
        return f"{self.persona.group}/{self.topic.category}"

    def speakers(self) -> tuple[str, str]:
        """Display names of (first speaker, second speaker)."""
        return (self.persona.name, self.partner.name if self.partner else "Assistant")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "persona": self.persona.id,
            "persona_group": self.persona.group,
            "partner": self.partner.id if self.partner else None,
            "topic_category": self.topic.category,
            "topic": self.topic.name,
            "edge_case": self.topic.edge_case,
            "style": self.style.name,
            "turns": self.turns,
        }


@dataclass(frozen=True)
class Turn:
    """One message. ``role`` is ``user`` (the persona) or ``assistant`` (the other side)."""

    role: str
    speaker: str
    content: str

    def as_message(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Dialogue:
    scenario_id: str
    turns: tuple[Turn, ...]
    stop_reason: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Critique:
    """The critic's reading of one dialogue; ``valid`` is False when no reply validated."""

    scores: dict[str, int]
    problems: tuple[dict[str, Any], ...]
    feedback: str
    raw: str
    valid: bool
    attempts: int
    error: str | None = None

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0

    @property
    def first_flagged_turn(self) -> int | None:
        turns = [p["turn"] for p in self.problems if isinstance(p.get("turn"), int)]
        return min(turns) if turns else None


@dataclass(frozen=True)
class Verdict:
    """Where a dialogue ended: ``accepted``, or ``rejected`` with a reason."""

    accepted: bool
    reason: str | None
    detail: str = ""
    revisions: int = 0
