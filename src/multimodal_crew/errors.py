"""Exceptions, named for who is at fault.

::

    MMCrewError                      base of everything we raise on purpose
    ├── UserError                    a usage mistake: fix the input or the command
    │   ├── InputError               a flow input is missing, unknown or malformed
    │   └── UnknownFlowError         no flow of that name
    ├── ConfigError                  the settings or the installation are wrong
    │   └── ModelFileError           model file missing or its SHA-256 does not match
    ├── BackendUnavailableError      a model server cannot be reached
    └── ModelBehaviorError           the model did not do what was asked
        └── StructuredOutputError    no valid structured output after all attempts

Every message is one line that says what to do. The CLI prints ``str(err)``
and exits non-zero; Python callers get the typed exception.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MMCrewError",
    "UserError",
    "InputError",
    "UnknownFlowError",
    "ConfigError",
    "ModelFileError",
    "BackendUnavailableError",
    "ModelBehaviorError",
    "NotFoundError",
    "ConflictError",
    "RunCancelled",
    "StructuredOutputError",
    "Attempt",
]


class MMCrewError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class UserError(MMCrewError):
    """A usage mistake by whoever called us."""

    exit_code = 2


class InputError(UserError):
    """A flow input is missing, unknown or malformed."""


class NotFoundError(InputError):
    """What the request names does not exist: a run, a document, a page, a schedule (HTTP 404)."""


class ConflictError(InputError):
    """The request conflicts with what exists or is running: another file under that name, a running
    ingestion (HTTP 409)."""


class UnknownFlowError(UserError):
    """No flow is registered under the requested name."""


class ConfigError(MMCrewError):
    """The settings or the installation are wrong."""

    exit_code = 3


class FlowDefinitionError(ConfigError):
    """A YAML flow under config/flows/ that cannot run: named with its file, method and problem."""


class ModelFileError(ConfigError):
    """The embedded model file is missing or does not match its pinned checksum."""


class BackendUnavailableError(MMCrewError):
    """A model server (Ollama, an OpenAI-compatible server) cannot be reached."""

    exit_code = 4


class RunCancelled(MMCrewError):
    """The run was cancelled (by its HTTP client, or Ctrl-C): it stopped at the next step or model call."""

    exit_code = 130


class ModelBehaviorError(MMCrewError):
    """The model did not do what was asked."""

    exit_code = 5


@dataclass
class Attempt:
    """One try of a structured call: what came back and why it was refused."""

    raw: str
    error: str


class StructuredOutputError(ModelBehaviorError):
    """No attempt produced output that parsed and passed every validator.

    ``attempts`` holds each raw output with the reason it was refused;
    ``last_raw`` is the final raw output.
    """

    def __init__(self, output_model: str, attempts: list[Attempt]):
        self.output_model = output_model
        self.attempts = list(attempts)
        last = self.attempts[-1].error if self.attempts else "no attempt was made"
        super().__init__(
            f"the model gave no valid {output_model} after {len(self.attempts)} attempt(s); "
            f"last error: {_one_line(last)}"
        )

    @property
    def last_raw(self) -> str:
        return self.attempts[-1].raw if self.attempts else ""


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
