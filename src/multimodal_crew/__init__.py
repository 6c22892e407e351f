"""multimodal-crew: local-first CrewAI crews and flows on an embedded model.

Importing this package switches CrewAI/LiteLLM/Chroma telemetry and online
checks off (see ``_offline``) before any of them is imported.
"""

from . import _offline  # noqa: F401  (must run before crewai is imported)
from .errors import *  # noqa: F403  (the errors every caller may catch)
from .errors import __all__ as _errors

__version__ = "0.1.0"

__all__ = [e for e in _errors if e != "Attempt"]
