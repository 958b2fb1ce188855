"""Prompt templates from ``prompts/`` (Jinja, rendered through langchain-core), and their hash.

>>> from pathlib import Path
>>> prompts = PromptSet(Path("prompts"), ("opening.user",), [])
>>> prompts.render("opening.user", partner_name="Assistant", topic={"name": "refunds"})
'Start the conversation with Assistant about refunds. Write your first message.'
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

from dialoggen.engines.base import check_schema

AGENT_TEMPLATES = ("persona.system", "assistant.system", "opening.user")
ONESHOT_TEMPLATES = ("oneshot.system", "oneshot.user")
CRITIC_TEMPLATES = ("critic.system", "critic.user")
REVISE_TEMPLATES = ("revise.note",)
DIALOGUE_SCHEMA = "dialogue.schema.json"
CRITIQUE_SCHEMA = "critique.schema.json"


class PromptSet:
    """The named ``*.j2`` templates of one folder; missing or broken ones become problems."""

    def __init__(self, folder: Path, names: tuple[str, ...], problems: list[str]) -> None:
        self.folder = folder
        self.sources: dict[str, str] = {}
        self._templates: dict[str, PromptTemplate] = {}
        for name in names:
            path = folder / f"{name}.j2"
            try:
                text = path.read_text(encoding="utf-8")
                self._templates[name] = PromptTemplate.from_template(text, template_format="jinja2")
                self.sources[name] = text
            except FileNotFoundError:
                problems.append(f"{path}: prompt template not found; fix recipe key prompts")
            except Exception as err:  # jinja2 syntax errors surface here
                problems.append(f"{path}: template error: {err}")

    def render(self, name: str, **values: Any) -> str:
        return self._templates[name].format(**values).strip()

    def messages(self, *parts: tuple[str, str], **values: Any) -> list[dict[str, str]]:
        """Chat messages from ``(role, template name)`` parts via a ``ChatPromptTemplate``.

        >>> PromptSet(Path("prompts"), ("oneshot.system",), []).messages(
        ...     ("system", "oneshot.system"))[0]["role"]
        'system'
        """
        template = ChatPromptTemplate.from_messages(
            [(role, self.sources[name].strip()) for role, name in parts],
            template_format="jinja2",
        )
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        return [
            {"role": roles[m.type], "content": str(m.content).strip()}
            for m in template.format_messages(**values)
        ]

    def load_schema(self, name: str, problems: list[str]) -> dict:
        path = self.folder / name
        try:
            schema = check_schema(json.loads(path.read_text(encoding="utf-8")), str(path))
        except FileNotFoundError:
            problems.append(f"{path}: schema not found; fix recipe key prompts")
            return {}
        except Exception as err:
            problems.append(f"{path}: {err}")
            return {}
        self.sources[name] = json.dumps(schema, sort_keys=True)
        return schema

    @property
    def hash(self) -> str:
        """Hash of every template and schema used: it travels with each record."""
        joined = json.dumps(self.sources, sort_keys=True).encode()
        return hashlib.sha256(joined).hexdigest()[:16]
