"""multimodal-crew: local-first CrewAI crews and flows on an embedded model.

Importing this package switches CrewAI/LiteLLM/Chroma telemetry and online
checks off (see ``_offline``) before any of them is imported.
"""

from . import _offline  # noqa: F401  (must run before crewai is imported)
from .errors import (
    BackendUnavailableError,
    ConfigError,
    InputError,
    MMCrewError,
    ModelBehaviorError,
    ModelFileError,
    StructuredOutputError,
    UnknownFlowError,
    UserError,
)

__version__ = "0.1.0"

__all__ = [
    "MMCrewError",
    "UserError",
    "InputError",
    "UnknownFlowError",
    "ConfigError",
    "ModelFileError",
    "BackendUnavailableError",
    "ModelBehaviorError",
    "StructuredOutputError",
]
