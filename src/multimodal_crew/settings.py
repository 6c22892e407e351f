"""All settings in one object, read from the environment and `.env`.

Every field is listed with its default in `.env.example`; a test keeps the two
in step. `MMCREW_HOME` moves all on-disk state (models, outputs, indexes, run
history, caches) at once.
"""

from __future__ import annotations

import errno
import functools
import os
import typing
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from .errors import ConfigError

__all__ = ["Settings", "get_settings", "env_names", "project_root", "ensure_dir", "folder_error", "state_folder_error"]


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
        env_prefix="MMCREW_",  # a field `top_k` is MMCREW_TOP_K unless it names its variables itself
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
        None, description="base URL of an OpenAI-compatible server for MODEL=openai/<name> (empty: provider default)"
    )
    vision_model: str = Field(
        "offline", description="`offline` (OCR + the text model) or a vision model: `ollama/<vlm>`, `openai/<vlm>`"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(512, ge=1, description="max tokens per model reply")
    max_retries: int = Field(
        2, ge=0, le=10, description="structured output: extra attempts after the first, with the error fed back"
    )
    request_timeout: float = Field(120.0, gt=0, description="seconds before a model server request is abandoned")
    api_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices("MMCREW_API_KEY", "OPENAI_API_KEY"),
        description="the key for MODEL=openai/<name> (an OpenAI-compatible server or OpenAI; OPENAI_API_KEY is read "
        "too; empty: none, as local servers need); never sent to Ollama, never shown",
    )
    request_retries: int = Field(
        3,
        ge=0,
        le=10,
        description="model servers: attempts after the first on HTTP 429, 5xx, a timeout or no connection",
    )
    retry_backoff: float = Field(
        1.0, ge=0, le=30, description="seconds before the first retry, doubled before each next one (at most 30)"
    )
    embedder_base_url: str = Field(
        "",
        description="the OpenAI-compatible server for MMCREW_EMBEDDER=openai/<name> (empty: MMCREW_API_BASE, else "
        "OpenAI)",
    )
    embedder_api_key: SecretStr = Field(
        SecretStr(""), description="the key for that server (empty: MMCREW_API_KEY); never shown"
    )
    model_capabilities: str = Field(
        "",
        description="JSON overriding models/capabilities.py's table (context, json_schema, vision, tools) for every "
        "remote model, or per model string (empty: the table)",
    )

    @field_validator("model_capabilities")
    @classmethod
    def _capabilities_json(cls, v: str) -> str:
        import json

        if v.strip():
            try:
                data = json.loads(v)
            except ValueError as e:
                raise ValueError(f'not JSON ({e.msg}); e.g. {{"json_schema": "json_object"}}') from None
            if not isinstance(data, dict):
                raise ValueError('not a JSON object; e.g. {"json_schema": "json_object"}')
        return v

    # --- embedded runtime ---
    n_ctx: int = Field(
        8192,
        ge=512,
        le=32768,
        description="embedded model context size (tokens; the pinned models were trained on 32768)",
    )
    n_threads: int = Field(0, ge=0, description="threads for llama.cpp (0: one per core)")
    seed: int = Field(0, description="sampling seed")
    tools_before_answer: bool = Field(
        True, description="embedded model: an agent offered tools must call one before it may answer"
    )

    # --- knowledge (ingestion and retrieval) ---
    embedder: str = Field(
        "embedded",
        description="`embedded` (all-MiniLM-L6-v2 on CPU, offline), `ollama/<embedding model>` or `openai/<name>` "
        "(an OpenAI-compatible /v1/embeddings)",
    )
    embedder_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="what runs the embedded embedder: `onnx` (ONNX Runtime; exported once from the pinned weights and "
        "checked against torch) or `torch` (sentence-transformers); the same vectors, the same index; "
        "`onnx-int8` (opt-in) runs that model quantized to int8 weights, in an index of its own",
    )
    chunk_size: int = Field(1000, ge=200, le=8000, description="characters per chunk")
    chunk_overlap: int = Field(
        150, ge=0, description="characters shared by neighbouring chunks (less than half of MMCREW_CHUNK_SIZE)"
    )
    top_k: int = Field(5, ge=1, le=50, description="passages retrieved per question")
    max_file_mb: float = Field(100.0, gt=0, description="files larger than this are skipped at ingestion")
    abstain_unknown_terms: bool = Field(
        True, description="ask: abstain without a model call when the question names a word no document contains"
    )
    cross_lingual: bool = Field(
        True,
        description="ask: when the question's language differs from the documents', the model first writes "
        "the search query in the documents' language (one short call)",
    )

    answer_budget: int = Field(
        1000,
        ge=0,
        le=100_000,
        description="ask: characters of passage text the model reads, shared by the passages by rank (each gives "
        "its sentences and table rows nearest the question, with their neighbours); 0: whole passages",
    )
    research_rounds: int = Field(2, ge=0, le=10, description="research flow: most revisions after the first draft")
    plan_max_tasks: int = Field(6, ge=1, le=20, description="plan flow: most tasks in one plan")
    server_token: str = Field(
        "", description="mmcrew serve: the token every request must carry (required on a non-loopback host)"
    )
    serve_keep_days: float = Field(
        30.0,
        ge=0,
        description="mmcrew serve: runs that ended longer ago than this (their events, and uploaded images no kept "
        "run names) are deleted at start and daily; 0 keeps everything",
    )
    plan_max_tools: int = Field(
        30,
        ge=1,
        le=1000,
        description="plan flow: with more tools than this, the planner sees the nearest to the request",
    )

    # --- where things live ---
    home: Path = Field(
        Path(".mmcrew"),
        description="all on-disk state: models, outputs, indexes, history, caches (relative: to the project)",
    )
    models_dir: Path | None = Field(None, description="where assembled model files live (empty: $MMCREW_HOME/models)")
    config_dir: Path = Field(
        Path("config"), description="user-editable YAML: flows (config/flows/), agents and tasks, schedules"
    )
    knowledge_dir: Path = Field(Path("knowledge"), description="the user's documents and data")
    extra_flows: str = Field(
        "", description="more YAML flows: a folder of crewai.flow/v1 files, or one file (empty: none)"
    )
    extra_steps: str = Field(
        "", description="a Python file that registers more steps with multimodal_crew.steps.step (empty: none)"
    )

    # --- shared state: more than one machine (empty: everything local under MMCREW_HOME) ---
    database_url: str = Field(
        "",
        description="the catalog, run history and schedules in a shared database, e.g. "
        "`postgresql://user:pass@host:5432/mmcrew` (empty: SQLite files under MMCREW_HOME)",
    )
    chroma_url: str = Field(
        "", description="the vectors on a Chroma server, e.g. `http://chroma:8000` (empty: a Chroma folder under MMCREW_HOME)"
    )
    chroma_token: str = Field("", description="a token sent to the Chroma server with every request (empty: none)")
    chroma_token_header: str = Field(
        "Authorization",
        description="the header that carries MMCREW_CHROMA_TOKEN: `Authorization` (as `Bearer <token>`) or a header "
        "name such as `X-Chroma-Token` (the token as it is)",
    )
    machine: str = Field(
        "", description="this machine's name in run history and lock holders (empty: the host name)"
    )
    namespace: str = Field(
        "main",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$",
        description="sets this installation's data apart in a shared database and Chroma server (several knowledge "
        "bases or teams on one server): letters, digits, - and _",
    )

    # --- offline hygiene ---
    allow_telemetry: bool = Field(
        False, description="leave CrewAI telemetry, tracing and version checks on (off by default)"
    )

    @field_validator("models_dir", "api_base", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return None if v in ("", None) else v

    @model_validator(mode="after")
    def _overlap_below_half_a_chunk(self):
        # a larger overlap barely advances each chunk: a 6 KB file became 852 chunks
        if 2 * self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"MMCREW_CHUNK_OVERLAP={self.chunk_overlap} is not allowed: use less than half of "
                f"MMCREW_CHUNK_SIZE={self.chunk_size}, at most {(self.chunk_size - 1) // 2}{_WHERE}"
            )
        return self

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
    def machine_name(self) -> str:
        """This machine's name in run history and lock holders: MMCREW_MACHINE, else the host name."""
        import socket

        return self.machine.strip() or socket.gethostname()

    @property
    def shared_database(self) -> bool:
        return bool(self.database_url.strip())

    @property
    def threads(self) -> int:
        return self.n_threads or (os.cpu_count() or 2)


_WHERE = " (set in the environment or in .env)"


def _shown(value: object) -> str:
    text = str(value)
    return text if text and not any(c.isspace() for c in text) else repr(text)


def _num(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _allowed(field: str) -> str | None:
    """What a field accepts, in words, from its type and bounds; None for free text."""
    info = Settings.model_fields[field]
    ann = info.annotation
    if typing.get_origin(ann) is Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(ann)))
    if ann is bool:
        return "true or false"
    if ann not in (int, float):
        return None
    kind = "a whole number" if ann is int else "a number"
    b = {k: _num(getattr(m, k)) for m in info.metadata for k in ("ge", "gt", "le") if hasattr(m, k)}
    if "le" in b:
        if "ge" in b:
            return f"{kind} from {b['ge']} to {b['le']}"
        return f"{kind} greater than {b['gt']} and at most {b['le']}" if "gt" in b else f"{kind}, at most {b['le']}"
    if "ge" in b:
        return f"{kind}, {b['ge']} or more"
    return f"{kind} greater than {b['gt']}" if "gt" in b else kind


def env_names(field: str) -> tuple[str, ...]:
    """The variables a setting is read from, the documented one first."""
    aliases = getattr(Settings.model_fields[field].validation_alias, "choices", ())
    return tuple(map(str, aliases)) or (f"MMCREW_{field.upper()}",)


def _env_names() -> dict[str, str]:
    """Every accepted variable name (and field name) -> the field."""
    names: dict[str, str] = {}
    for field in Settings.model_fields:
        names[field] = field
        for alias in env_names(field):
            names[alias] = field
    return names


def _explain(e: ValidationError) -> str:
    """The first problem as one line: the variable, the bad value, what is allowed."""
    first = e.errors(include_url=False)[0]
    if not first["loc"]:  # a rule across settings: its message is complete
        return str(first.get("ctx", {}).get("error", first["msg"]))
    given = str(first["loc"][0])
    field = _env_names().get(given)
    if field is None:
        return f"setting {given} is not valid: {first['msg']}{_WHERE}"
    name = given if given != field else env_names(field)[0]
    allowed = _allowed(field)
    what = f"use {allowed}" if allowed else first["msg"][0].lower() + first["msg"][1:]
    return f"{name}={_shown(first.get('input', ''))} is not allowed: {what}{_WHERE}"


@functools.lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(refresh: bool = False) -> Settings:
    """The process-wide settings; `refresh=True` re-reads the environment.

    A setting with an invalid value raises ``ConfigError`` with one line naming it.
    """
    if refresh:
        _cached.cache_clear()
    try:
        return _cached()
    except ValidationError as e:
        raise ConfigError(_explain(e)) from None
    except SettingsError as e:
        raise ConfigError(f"cannot read the settings: {' '.join(str(e).split())}{_WHERE}") from None


# --- folders for on-disk state ---------------------------------------------------------------

_FOLDER_ERRNOS = {errno.ENOTDIR, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EROFS}


def _under(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def folder_error(e: OSError, path: Path | str | None = None) -> ConfigError:
    """A one-line ``ConfigError`` for a state folder that cannot be created or written, naming the
    setting that chose it (``MMCREW_HOME`` or ``MMCREW_MODELS_DIR``) and the folder at fault."""
    path = Path(path if path is not None else (e.filename or "."))
    why = f"cannot write {path} ({e.strerror or e})"
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        for p in (path, *path.parents):
            if p.exists() and not p.is_dir():
                why = f"{p} is a file, not a folder"
                break
    setting = None
    try:
        s = get_settings()
    except ConfigError:
        s = None
    if s is not None:
        if s.models_dir and _under(path, s.models_path):
            setting = ("MMCREW_MODELS_DIR", s.models_path)
        elif _under(path, s.home_path):
            setting = ("MMCREW_HOME", s.home_path)
    if setting is None:
        return ConfigError(f"cannot use the folder {path}: {why}; choose a folder you can write")
    name, folder = setting
    return ConfigError(f"{name}={folder} cannot be used: {why}; set {name} to a folder you can write")


def ensure_dir(path: Path | str) -> Path:
    """Create a state folder (and its parents) if needed and check it can be written.

    Raises ``ConfigError`` naming the folder and the setting that chose it, so every place
    that creates ``$MMCREW_HOME`` or a folder in it fails with the same one line.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    except OSError as e:
        raise folder_error(e, path) from None
    return path


def state_folder_error(e: BaseException) -> ConfigError | None:
    """For an ``OSError`` raised while creating or writing inside ``$MMCREW_HOME`` (or
    ``MMCREW_MODELS_DIR``): the ``ConfigError`` to report instead; else None."""
    if not isinstance(e, OSError) or e.errno not in _FOLDER_ERRNOS or not e.filename:
        return None
    try:
        s = get_settings()
    except ConfigError:
        return None
    path = Path(os.fsdecode(e.filename))
    if not (_under(path, s.home_path) or (s.models_dir and _under(path, s.models_path))):
        return None
    return folder_error(e, path)
