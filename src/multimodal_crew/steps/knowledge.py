"""Knowledge steps: make sure something is indexed, and search it (hybrid BM25 + vectors).

``knowledge_search`` writes the query in the documents' language first when the question is
in another script (a Chinese question about English PDFs): MiniLM and BM25 cannot match words
across languages. One short model call, only when the scripts differ (``MMCREW_CROSS_LINGUAL``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..errors import InputError, StructuredOutputError
from ..knowledge.text import script_of
from ..models.structured import ValidationFailed, structured
from .registry import Deps, StepInputs, step
from .results import StepOutput

__all__ = ["Passage", "Passages", "check_question", "max_question_chars", "LANGUAGE"]

LANGUAGE = {"latin": "English", "cjk": "Chinese"}


class Passage(BaseModel):
    """One retrieved chunk: its page, its character offsets in the page's text, and its score."""

    file: str
    page: int
    text: str
    score: float = 0.0
    start: int = 0
    end: int = 0
    chunk_id: str = ""
    doc_id: str = ""


class Passages(StepOutput):
    query: str = Field(..., description="what was searched: the question, or its translation")
    passages: list[Passage]

    def result_fields(self) -> dict:
        # what an agent reads from the tool: whole passages, each headed by file and page, to quote from
        parts = [f"[{p.file}, p. {p.page}]\n{' '.join(p.text.split())}" for p in self.passages]
        return {"text": "\n\n".join(parts) or "No passage matched.", "status": "ok" if self.passages else "abstained"}


class Prepared(StepOutput):
    chunks: int

    def result_fields(self) -> dict:
        return {"text": f"{self.chunks} chunks indexed"}


def max_question_chars(settings) -> int:
    """The longest question ``ask`` takes: a quarter of the model's context, counting one token per
    character (Chinese comes close to that), so the passages, the instructions and the reply fit
    in the rest. A longer one would load the model only to overflow its context."""
    return max(settings.n_ctx // 4, 200)


def check_question(question: str, settings) -> None:
    """Raise ``InputError`` for a question that cannot fit the model's context."""
    limit = max_question_chars(settings)
    if len(question) > limit:
        raise InputError(
            f"the question is {len(question):,} characters long; at most {limit:,} fit the model's context "
            f"(a quarter of MMCREW_N_CTX={settings.n_ctx} tokens): shorten it"
        )


class PrepareInputs(StepInputs):
    question: str = Field("", description="the question to check for length (empty: no check)")


_PREPARE = "Refuse a question too long for the model; ingest the knowledge folder when nothing is indexed yet"


@step("prepare_knowledge", _PREPARE, PrepareInputs, "check", tool=False)
def prepare_knowledge(inputs: PrepareInputs, deps: Deps) -> Prepared:
    from ..knowledge.ingest import ingest_if_empty, step_progress

    if inputs.question:
        check_question(inputs.question, deps.settings)
    store = deps.retriever.store
    store.generation()  # opens the catalog: a damaged one fails here, before any model loads
    ingest_if_empty(store, deps.settings, step_progress(deps.step), deps.retriever.embedder)
    return Prepared(chunks=store.n_chunks())


class SearchInputs(StepInputs):
    query: str = Field(..., min_length=1, description="what to look for, in a few words or a question")
    file: str = Field("", description="leave empty to search all documents; or one document's exact file name")
    k: int = Field(0, ge=0, le=50, description="passages to return (0: MMCREW_TOP_K)")
    cross_lingual: bool = Field(False, description="write the query in the documents' language first")


class SearchQuery(BaseModel):
    query: str = Field(..., min_length=2, max_length=300, description="the search query")


def _in_script(text: str, script: str) -> None:
    if script_of(text) != script:
        raise ValidationFailed(f"the query must be written in {LANGUAGE.get(script, script)}")


def search_query(question: str, deps: Deps) -> str:
    """The question itself, or a search query the model writes in the documents' script."""
    asked, docs = script_of(question), deps.retriever.documents_script()
    if not deps.settings.cross_lingual or not asked or not docs or asked == docs:
        return question
    target = LANGUAGE.get(docs, "the documents' language")
    deps.step(f"writing the search query in {target}")
    messages = [
        {"role": "system", "content": f"You translate questions into {target} search queries. Keep names, "
         f"numbers and technical terms. Reply in JSON: {{\"query\": \"...\"}} with the query in {target}."},
        {"role": "user", "content": question},
    ]  # fmt: skip
    try:
        reply = structured(
            deps.model, messages, SearchQuery,
            validators=[lambda r: _in_script(r.query, docs)], max_retries=deps.settings.max_retries,
        )  # fmt: skip
    except StructuredOutputError:
        return question  # search as asked; the answer step still holds every quote to its page
    return reply.query.strip()


@step(
    "knowledge_search",
    "Search the user's documents; returns the most relevant passages with file, page and offsets",
    SearchInputs,
    "passages",
)
def knowledge_search(inputs: SearchInputs, deps: Deps) -> Passages:
    query = search_query(inputs.query, deps) if inputs.cross_lingual else inputs.query
    deps.step("searching the documents")
    hits = deps.retriever.search(query, inputs.k or deps.settings.top_k, inputs.file or None)
    return Passages(query=query, passages=[Passage(**{k: getattr(h, k) for k in Passage.model_fields}) for h in hits])
