"""Engines behind one interface, picked by name.

>>> from dialoggen.config import EngineConfig
>>> create_engine(EngineConfig(name="scripted")).name
'scripted'
"""

from importlib import import_module

from dialoggen.config import EngineConfig
from dialoggen.engines.base import ChatEngine, Message, Reply
from dialoggen.errors import EngineUnavailableError
from dialoggen.models import resolve_model

ENGINES = {
    "vllm": "dialoggen.engines.vllm:VllmEngine",
    "openai": "dialoggen.engines.openai:OpenAIEngine",
    "scripted": "dialoggen.engines.scripted:ScriptedEngine",
}


def create_engine(config: EngineConfig) -> ChatEngine:
    """Build the engine ``config.name`` names; only that engine's module is imported."""
    module, cls = ENGINES[config.name].split(":")
    if config.name == "vllm":
        # Fail fast on a bad model, and set HF_HUB_OFFLINE before vllm imports huggingface_hub.
        resolve_model(config.model, allow_download=config.download)
    try:
        engine_module = import_module(module)
    except ImportError as err:
        raise EngineUnavailableError(
            f"the {config.name} engine cannot be imported ({err}); install vLLM with "
            "`pip install 'dialoggen[cpu]'` (CPU) or `pip install 'dialoggen[gpu]'`"
        ) from None
    engine: ChatEngine = getattr(engine_module, cls)(config=config)
    return engine


__all__ = ["ENGINES", "ChatEngine", "Message", "Reply", "create_engine"]
