"""All settings in one object, read from the environment and `.env`.

Every field is listed with its default in `.env.example`; a test keeps the two
in step. `MMCREW_HOME` moves all on-disk state (models, outputs, indexes, run
history, caches) at once.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "project_root"]


def project_root() -> Path:
    """The project folder: `MMCREW_PROJECT_DIR`, else the checkout this package lives in, else cwd."""
    env = os.environ.get("MMCREW_PROJECT_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "config").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.cwd()


def _env_file() -> Path:
    return project_root() / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=str(_env_file()),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- which model serves the whole app ---
    model: str = Field(
        "embedded",
        validation_alias=AliasChoices("MODEL", "MMCREW_MODEL"),
        description="`embedded` (llama.cpp in-process), `ollama/<name>`, or any model string CrewAI accepts",
    )
    embedded_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = Field(
        "qwen2.5-coder-1.5b",
        validation_alias=AliasChoices("EMBEDDED_MODEL", "MMCREW_EMBEDDED_MODEL"),
        description="which pinned GGUF the embedded runtime loads",
    )
    ollama_base_url: str = Field(
        "http://localhost:11434",
        validation_alias=AliasChoices("OLLAMA_BASE_URL", "OLLAMA_HOST"),
        description="Ollama server used when MODEL=ollama/<name>",
    )
    api_base: str | None = Field(
        None,
        validation_alias=AliasChoices("MMCREW_API_BASE"),
        description="base URL of an OpenAI-compatible server for MODEL=openai/<name> (empty: provider default)",
    )
    vision_model: str = Field(
        "offline",
        validation_alias=AliasChoices("MMCREW_VISION_MODEL"),
        description="`offline` (OCR + the text model) or a vision model: `ollama/<vlm>`, `openai/<vlm>`",
    )
    temperature: float = Field(
        0.0, validation_alias=AliasChoices("MMCREW_TEMPERATURE"), description="sampling temperature"
    )
    max_tokens: int = Field(
        512, validation_alias=AliasChoices("MMCREW_MAX_TOKENS"), description="max tokens per model reply"
    )
    max_retries: int = Field(
        2,
        validation_alias=AliasChoices("MMCREW_MAX_RETRIES"),
        description="structured output: extra attempts after the first, with the error fed back",
    )
    request_timeout: float = Field(
        120.0,
        validation_alias=AliasChoices("MMCREW_REQUEST_TIMEOUT"),
        description="seconds before a model server request is abandoned",
    )

    # --- embedded runtime ---
    n_ctx: int = Field(
        8192, validation_alias=AliasChoices("MMCREW_N_CTX"), description="embedded model context size (tokens)"
    )
    n_threads: int = Field(
        0,
        validation_alias=AliasChoices("MMCREW_N_THREADS"),
        description="threads for llama.cpp (0: one per core)",
    )
    seed: int = Field(0, validation_alias=AliasChoices("MMCREW_SEED"), description="sampling seed")
    tools_before_answer: bool = Field(
        True,
        validation_alias=AliasChoices("MMCREW_TOOLS_BEFORE_ANSWER"),
        description="embedded model: an agent offered tools must call one before it may answer",
    )

    # --- knowledge (ingestion and retrieval) ---
    embedder: str = Field(
        "embedded",
        validation_alias=AliasChoices("MMCREW_EMBEDDER"),
        description="`embedded` (all-MiniLM-L6-v2 on CPU, offline) or `ollama/<embedding model>`",
    )
    chunk_size: int = Field(
        1000, ge=200, le=8000, validation_alias=AliasChoices("MMCREW_CHUNK_SIZE"), description="characters per chunk"
    )
    chunk_overlap: int = Field(
        150,
        ge=0,
        le=2000,
        validation_alias=AliasChoices("MMCREW_CHUNK_OVERLAP"),
        description="characters shared by neighbouring chunks",
    )
    top_k: int = Field(
        5, ge=1, le=50, validation_alias=AliasChoices("MMCREW_TOP_K"), description="passages retrieved per question"
    )
    max_file_mb: float = Field(
        100.0,
        validation_alias=AliasChoices("MMCREW_MAX_FILE_MB"),
        description="files larger than this are skipped at ingestion",
    )
    abstain_unknown_terms: bool = Field(
        True,
        validation_alias=AliasChoices("MMCREW_ABSTAIN_UNKNOWN_TERMS"),
        description="ask: abstain without a model call when the question names a word no document contains",
    )

    research_rounds: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias=AliasChoices("MMCREW_RESEARCH_ROUNDS"),
        description="research flow: most revisions after the first draft",
    )

    # --- where things live ---
    home: Path = Field(
        Path(".mmcrew"),
        validation_alias=AliasChoices("MMCREW_HOME"),
        description="all on-disk state: models, outputs, indexes, history, caches (relative: to the project)",
    )
    models_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("MMCREW_MODELS_DIR"),
        description="where assembled model files live (empty: $MMCREW_HOME/models)",
    )
    config_dir: Path = Field(
        Path("config"),
        validation_alias=AliasChoices("MMCREW_CONFIG_DIR"),
        description="user-editable YAML (agents, tasks, default inputs)",
    )
    knowledge_dir: Path = Field(
        Path("knowledge"),
        validation_alias=AliasChoices("MMCREW_KNOWLEDGE_DIR"),
        description="the user's documents and data",
    )
    default_flow: str = Field(
        "report",
        validation_alias=AliasChoices("MMCREW_DEFAULT_FLOW"),
        description="the flow `crewai run` / `kickoff` runs",
    )

    # --- offline hygiene ---
    allow_telemetry: bool = Field(
        False,
        validation_alias=AliasChoices("MMCREW_ALLOW_TELEMETRY"),
        description="leave CrewAI telemetry, tracing and version checks on (off by default)",
    )

    @field_validator("models_dir", "api_base", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return None if v in ("", None) else v

    def _resolve(self, p: Path) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else (project_root() / p)

    @property
    def home_path(self) -> Path:
        return self._resolve(self.home)

    @property
    def models_path(self) -> Path:
        return self._resolve(self.models_dir) if self.models_dir else self.home_path / "models"

    @property
    def outputs_path(self) -> Path:
        return self.home_path / "outputs"

    @property
    def cache_path(self) -> Path:
        return self.home_path / "cache"

    @property
    def index_path(self) -> Path:
        return self.home_path / "knowledge"

    @property
    def config_path(self) -> Path:
        return self._resolve(self.config_dir)

    @property
    def knowledge_path(self) -> Path:
        return self._resolve(self.knowledge_dir)

    @property
    def is_embedded(self) -> bool:
        return self.model.strip().lower() == "embedded"

    @property
    def threads(self) -> int:
        return self.n_threads or (os.cpu_count() or 2)


@functools.lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(refresh: bool = False) -> Settings:
    """The process-wide settings; `refresh=True` re-reads the environment."""
    if refresh:
        _cached.cache_clear()
    return _cached()
