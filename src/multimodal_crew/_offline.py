"""Offline defaults, applied before CrewAI, LiteLLM or Chroma are imported.

CrewAI sends telemetry and traces and checks its version online; LiteLLM
fetches a model cost map at import; Chroma reports anonymised telemetry.
All are switched off unless the user set the variable or MMCREW_ALLOW_TELEMETRY=true.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "OTEL_SDK_DISABLED": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def apply() -> None:
    if os.environ.get("MMCREW_ALLOW_TELEMETRY", "").strip().lower() in {"1", "true", "yes"}:
        return
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


apply()
