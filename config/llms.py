"""Models that YAML agents and crews (``call: agent`` / ``call: crew`` in config/flows/) may name.

CrewAI resolves ``{python: ...}`` references only to modules inside the project folder, so the
configured model is re-exported here::

    settings: {llm: {python: config.llms.CONFIGURED}}

``CONFIGURED`` is the model the settings select (``MODEL``: the embedded llama.cpp model by
default, ``ollama/...``, or an OpenAI-compatible server), resolved on each call.
"""

from multimodal_crew.models.configured import LLM as CONFIGURED

__all__ = ["CONFIGURED"]
