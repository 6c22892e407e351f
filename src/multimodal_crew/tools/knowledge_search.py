"""``knowledge_search``: hybrid search over the ingested documents, for agents.

Every hit the tool returns is recorded (``.found``), so a flow can check afterwards
that each page an agent cites was actually found.
"""

from __future__ import annotations

from crewai.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

from ..errors import MMCrewError

__all__ = ["KnowledgeSearchTool", "KnowledgeSearchArgs"]


class KnowledgeSearchArgs(BaseModel):
    query: str = Field(..., description="what to look for, in a few words")
    file: str = Field("", description="leave empty to search all documents; or one document's exact file name")


class KnowledgeSearchTool(BaseTool):
    name: str = "knowledge_search"
    description: str = (
        "Search the user's documents. Returns the most relevant passages, each headed by its file and page "
        "number. Cite what you use as (file, p. N)."
    )
    args_schema: type[BaseModel] = KnowledgeSearchArgs
    k: int = 5

    _found: list = PrivateAttr(default_factory=list)
    _retriever: object = PrivateAttr(default=None)
    _on_search: object = PrivateAttr(default=None)

    def __init__(self, retriever=None, on_search=None, **kwargs):
        """``on_search(query, hits)`` is told of every search (a flow's progress log)."""
        super().__init__(**kwargs)
        self._retriever = retriever
        self._on_search = on_search

    def _run(self, query: str, file: str = "") -> str:
        from ..knowledge.retrieval import get_retriever

        note = ""
        try:
            retriever = self._retriever or get_retriever()
            if file and retriever.store.doc_by_file(file) is None:
                note = f"(There is no document named {file!r}; searched all documents.)\n\n"
                file = ""  # small models invent file names; a search of everything is what they need
            hits = retriever.search(query, self.k, file or None)
        except MMCrewError as e:  # tell the agent, so it can correct the call
            return f"Error: {e}"
        self._found.extend(hits)
        if self._on_search is not None:
            self._on_search(query, hits)
        if not hits:
            return "No passage matched."
        return note + "\n\n".join(f"[{h.file}, p. {h.page}]\n{' '.join(h.text.split())}" for h in hits)

    @property
    def found(self) -> list:
        """Every hit returned to an agent so far, in order."""
        return list(self._found)
