"""The ``ingest_documents`` step: bring the index in line with files of the knowledge folder, as a run.

>>> out = call_step("ingest_documents", {"paths": ["contract.pdf"]}, deps)      # doctest: +SKIP
>>> out.result_fields()["text"]
'1 file: 1 added, 0 replaced, 0 unchanged, 0 failed; 0 removed'

``config/flows/ingest.yaml`` runs it, so ``mmcrew run ingest``, ``POST /runs {"flow": "ingest"}`` and
an upload (``POST /documents``) all ingest the same way, through the server's one run queue, with
progress per file. Names are relative to the knowledge folder (``MMCREW_KNOWLEDGE_DIR``); an absolute
path or one with ``..`` is refused, so an HTTP client cannot make the server read anything else.
``mmcrew ingest PATH`` remains the command for files elsewhere.

The step writes into the store of the run's retriever (``deps.retriever.store``) with its embedder,
so the retriever a server keeps warm sees new documents on its next search: every commit bumps the
catalog generation, and the keyword index and the retriever's caches are keyed by it. The embedder is
loaded only if a file actually needs embedding.

A file that cannot be read is listed with its reason and the others go on; the run's status is then
``incomplete`` (its ``reason`` names the files), not ``ok``.

(Not in ``steps/ingest.py``: a submodule named like a step would shadow it in ``ref: multimodal_crew.steps:...``.)
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from .registry import Deps, StepInputs, step
from .results import StepOutput

__all__ = ["FailedFile", "IngestInputs", "IngestResult", "relative_name", "split_paths"]

MAX_REASONS = 3  # failed files named in the run's one-line reason (all are in its data)


def split_paths(v: Any) -> Any:
    """``"a.pdf|notes/b.md"`` (the command line: ``mmcrew run ingest -i paths=...``) as a list; a list as it is."""
    if isinstance(v, str):
        return [p.strip() for p in v.split("|") if p.strip()]
    return v


def relative_name(name: str) -> str:
    """``name`` if it names something inside the knowledge folder; ValueError for one that could point
    anywhere else (absolute, ``..``, a backslash, a control character) or at a hidden file (never ingested)."""
    if (
        not name.strip()
        or name.startswith("/")
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or any(p.startswith(".") for p in PurePosixPath(name).parts)
    ):
        raise ValueError(
            f"{name!r} is not a name inside the knowledge folder: give it relative to that folder, "
            "without '..', a leading '/' or '.', backslashes or control characters"
        )
    return name


Name = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(relative_name)]
Paths = Annotated[list[Name], BeforeValidator(split_paths)]


class IngestInputs(StepInputs):
    paths: Paths = Field(
        default_factory=list,
        max_length=1000,
        description="files or folders relative to the knowledge folder, e.g. contract.pdf (empty: the whole folder)",
    )


class FailedFile(BaseModel):
    file: str
    reason: str


class IngestResult(StepOutput):
    """What one ingestion did, file by file (display names, as citations show them)."""

    added: list[str] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: list[FailedFile] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list, description="files of a kind ingestion does not read")
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def result_fields(self) -> dict[str, Any]:
        files = len(self.added) + len(self.replaced) + len(self.unchanged) + len(self.failed)
        text = (
            f"{files} file{'' if files == 1 else 's'}: {len(self.added)} added, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; {len(self.removed)} removed"
        )
        reasons = [f"{f.file}: {f.reason}" for f in self.failed[:MAX_REASONS]]
        if len(self.failed) > MAX_REASONS:
            reasons.append(f"and {len(self.failed) - MAX_REASONS} more")
        if self.interrupted:
            reasons.insert(0, "interrupted before every file was done; run it again to finish")
        if reasons:
            return {"text": text, "status": "incomplete", "reason": "; ".join(reasons)}
        return {"text": text}


class _LazyEmbedder:
    """The retriever's embedder, loaded only when a chunk has to be embedded (not for unchanged files)."""

    def __init__(self, retriever: Any):
        self._retriever = retriever

    def embed(self, texts: list[str]) -> Any:
        return self._retriever.embedder.embed(texts)


def _progress(deps: Deps):
    """Ingestion events as one-line progress messages; ``deps.step`` stops a cancelled run between files."""
    state = {"n": 0, "files": 0}

    def tell(event: str, info: dict) -> None:
        if event == "start":
            state["files"] = info["files"]
            deps.step(f"ingesting {info['files']} file{'' if info['files'] == 1 else 's'}")
        elif event == "file":
            state["n"] += 1
            deps.step(f"ingesting {state['n']}/{state['files']}: {info['name']}")
        elif event == "chunks":
            deps.step(f"{info['name']}: embedded {info['done']}/{info['total']} chunks")
        elif event == "failed":
            deps.step(f"{info['name']} failed: {info['reason']}")
        elif event == "index":
            deps.step("updating the keyword index")

    return tell


_DESCRIPTION = "Ingest files of the knowledge folder (names relative to it; none: the whole folder) into the index"


@step("ingest_documents", _DESCRIPTION, IngestInputs, "report", tool=False)
def ingest_documents(inputs: IngestInputs, deps: Deps) -> IngestResult:
    from ..knowledge.ingest import ingest

    folder = deps.settings.knowledge_path
    paths = [folder / PurePosixPath(name) for name in dict.fromkeys(inputs.paths)] or [folder]
    retriever = deps.retriever
    report = ingest(
        paths,
        settings=deps.settings,
        store=retriever.store,
        embedder=_LazyEmbedder(retriever),
        progress=_progress(deps),
    )
    return IngestResult(
        added=report.added,
        replaced=report.replaced,
        unchanged=report.unchanged,
        removed=report.removed,
        failed=[FailedFile(file=f, reason=r) for f, r in report.failed],
        ignored=report.ignored,
        chunks_embedded=report.chunks_embedded,
        chunks_reused=report.chunks_reused,
        seconds=round(report.seconds, 3),
        interrupted=report.interrupted,
    )
