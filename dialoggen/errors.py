"""Typed errors. Each message says what went wrong and how to fix it, on one line.

The CLI turns any ``DialoggenError`` into that line on stderr and its ``exit_code``.

>>> str(ModelNotFoundError("no model at /x: pass a folder with config.json"))
'no model at /x: pass a folder with config.json'
"""


class DialoggenError(Exception):
    """Base class: a problem the user can fix; ``str(err)`` is the one-line message."""

    exit_code = 1


class ConfigError(DialoggenError):
    """A setting, flag or file is invalid."""

    exit_code = 2


class SchemaError(ConfigError):
    """A JSON schema file is not a valid JSON schema."""


class ModelNotFoundError(DialoggenError):
    """The named model is neither a local folder nor in the local Hugging Face cache."""

    exit_code = 3


class EngineUnavailableError(DialoggenError):
    """The engine cannot start, or its server cannot be reached."""

    exit_code = 4


class EngineError(DialoggenError):
    """The engine started but a request failed for good (after retries)."""

    exit_code = 5


class InvalidInputError(ConfigError):
    """Several problems found at once in a recipe and the files it names.

    ``problems`` holds one ``file: field: message`` line per problem.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} {noun}:\n" + "\n".join(problems))


class RunFolderError(DialoggenError):
    """The output folder cannot be used for this run."""

    exit_code = 6


class PushError(DialoggenError):
    """A push to the Hub was refused or failed."""

    exit_code = 7
