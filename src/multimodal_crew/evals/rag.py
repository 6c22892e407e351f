"""``mmcrew eval rag``: retrieval, citations and abstention of the ``ask`` flow.

Each dataset line is ``{"question": ..., "citations": [{"file": ..., "page_1based": N}], "facts": [...],
"kind": ...}`` (``facts`` and ``kind`` optional); a line without citations is a question the documents
cannot answer.

Reported:

* ``gold_in_top5``: a gold (file, page) among the top-5 passages retrieved for the question as asked;
* ``gold_in_passages``: a gold page among the passages the flow gave the model (its own query);
* ``gold_cited``: a gold page among the answer's citations (answerable only);
* ``facts``: every fact of the line is in the answer (answerable lines with facts; numbers compared
  without ``$``, spaces and parentheses, text case-folded); ``right``: gold page cited and facts;
* ``by_kind``: gold_cited / facts / false_abstain per ``kind`` (table, narrative, ...);
* ``quotes_verified``: share of all citations whose quote occurs on the cited page (must be 100%);
* ``abstain_unanswerable`` and ``false_abstain``: abstentions on each kind of question;
* latency p50/p95 of retrieval alone and of the whole ask.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MMCrewError
from .stats import p50_p95, read_jsonl

__all__ = ["has_fact", "load_questions", "run_eval", "summarise"]


def load_questions(path: Path) -> list[dict]:
    def item(it: dict) -> dict:
        gold = [(c["file"], int(c["page_1based"])) for c in it.get("citations") or []]
        return {
            "question": str(it["question"]).strip(),
            "gold": gold,
            "answerable": bool(gold),
            "source": Path(path).name,
            "facts": [str(f) for f in it.get("facts") or []],
            "kind": str(it.get("kind") or ("answerable" if gold else "unanswerable")),
        }

    return read_jsonl(path, item)


def run_eval(
    items: list[dict],
    *,
    retrieval_only: bool = False,
    model: Any = None,
    progress: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    from ..flows import run_flow
    from ..knowledge.retrieval import get_retriever
    from ..knowledge.text import quote_in
    from ..steps.answer import CitedAnswer

    retriever = get_retriever()
    store = retriever.store
    rows = []
    for k, it in enumerate(items, start=1):
        progress(f"{k}/{len(items)}")
        gold = {tuple(g) for g in it["gold"]}
        t0 = time.perf_counter()
        hits = retriever.search(it["question"], 5)
        t_ret = time.perf_counter() - t0
        row = {
            "question": it["question"],
            "answerable": it["answerable"],
            "kind": it.get("kind", ""),
            "facts": it.get("facts", []),
            "gold": sorted(gold),
            "top5": [(h.file, h.page) for h in hits],
            "gold_in_top5": bool(gold & {(h.file, h.page) for h in hits}) if gold else None,
            "retrieval_s": t_ret,
        }
        if not retrieval_only:
            t0 = time.perf_counter()
            try:
                result = run_flow("ask", {"question": it["question"]}, model=model, retriever=retriever)
                r = CitedAnswer.model_validate(result.data)
                row.update(
                    abstained=r.abstained,
                    answer=r.answer,
                    reason=r.reason,
                    attempts=r.attempts,
                    citations=[c.model_dump() for c in r.citations],
                    passages=[(x["file"], x["page"]) for x in r.retrieved],
                    error="",
                )
            except MMCrewError as e:
                row.update(abstained=None, answer="", reason="", attempts=0, citations=[], passages=[], error=str(e))
            row["ask_s"] = time.perf_counter() - t0
            cites = row["citations"]
            # each quote is checked on the page of the very document cited (doc_id), as ask checks it
            pages = [store.page_text(c["file"], c["page"], c.get("doc_id") or None) for c in cites]
            row["verified"] = [quote_in(c["quote"], text or "") for c, text in zip(cites, pages, strict=True)]
            row["gold_cited"] = bool(gold & {(c["file"], c["page"]) for c in cites}) if gold else None
            # what the flow itself retrieved (its query may be a translation of the question)
            row["gold_in_passages"] = bool(gold & {tuple(p) for p in row["passages"]}) if gold else None
            facts = row["facts"]
            row["facts_ok"] = all(has_fact(row["answer"], f) for f in facts) if gold and facts else None
        rows.append(row)
    return {"rows": rows, "summary": summarise(rows, retrieval_only)}


def _plain(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch not in "$ ()\u00a0")


def has_fact(answer: str, fact: str) -> bool:
    """``fact`` occurs in ``answer``, ignoring case, ``$``, spaces and parentheses (``$(2,028)`` is found in
    "a loss of 2,028"; ``2,028`` is not found in "2.0 billion")."""
    return _plain(fact) in _plain(answer)


def _share(xs: list[bool]) -> dict:
    return {"share": round(sum(xs) / len(xs), 4) if xs else None, "n": len(xs), "count": sum(xs)}


def summarise(rows: list[dict], retrieval_only: bool = False) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    ret = [r["retrieval_s"] * 1000 for r in rows]
    out: dict[str, Any] = {
        "questions": {"answerable": len(ans), "unanswerable": len(una)},
        "gold_in_top5": _share([r["gold_in_top5"] for r in ans]),
        "retrieval_ms": p50_p95(ret),
    }
    if retrieval_only:
        return out
    cites = [v for r in rows for v in r["verified"]]
    asks = [r["ask_s"] for r in rows]
    out.update(
        gold_in_passages=_share([r["gold_in_passages"] for r in ans]),
        gold_cited=_share([r["gold_cited"] for r in ans]),
        quotes_verified=_share(cites),
        abstain_unanswerable=_share([r["abstained"] is True for r in una]),
        false_abstain=_share([r["abstained"] is True for r in ans]),
        failed=sum(1 for r in rows if r["error"]),
        ask_s=p50_p95(asks),
    )
    with_facts = [r for r in ans if r.get("facts_ok") is not None]
    if with_facts:
        out["facts"] = _share([r["facts_ok"] for r in with_facts])
        out["right"] = _share([bool(r["gold_cited"] and r["facts_ok"]) for r in with_facts])
    kinds = sorted({r.get("kind", "") for r in ans} - {""})
    if len(kinds) > 1:
        out["by_kind"] = {
            k: {
                "gold_cited": _share([r["gold_cited"] for r in ans if r.get("kind") == k]),
                "facts": _share([r["facts_ok"] for r in ans if r.get("kind") == k and r.get("facts_ok") is not None]),
                "false_abstain": _share([r["abstained"] is True for r in ans if r.get("kind") == k]),
            }
            for k in kinds
        }
    return out
