"""``research``: a cited report on a topic from the documents, by a planner/researcher/writer/critic crew.

1. Scope: a topic at least half of whose words no document contains ends, before any model
   call, with a report that says so (``not_covered``), not an invented one.
2. The crew (``config/research/``; sequential or hierarchical): every output is typed, and two
   are checked in code before the next agent sees them: each of the researcher's findings must
   quote, word for word, a page ``knowledge_search`` returned to it (unverified findings are
   dropped; none at all is sent back once, then the topic counts as not covered), and each
   paragraph of the writer's draft must cite findings by number. The Markdown is rendered in
   code, with ``(FILE, p. N)`` after each paragraph.
3. Review: every ``(FILE, p. N)`` must be a page the researcher found, every sentence must be
   supported by the quotes it cites, and the critic's objections that stand must be fixed; a
   failing draft goes back to the writer, then to the critic, at most ``MMCREW_RESEARCH_ROUNDS``
   times (``run.py``).
4. The run folder gets ``report.md``, ``evidence.json`` (every passage the researcher was given),
   ``findings.json`` (the verified findings), ``steps.jsonl`` (which agent did what, when) and
   ``result.json``. Each finding the report cites is a :class:`Citation` with offsets on its page.
   An interrupted or failed run keeps what it produced so far in ``<run>-incomplete``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from ...knowledge.text import content_terms
from ...steps.crewing import search_tool, tools_by_name
from ...steps.outputs import staged
from ...steps.registry import Deps, StepInputs, call_step, step
from ...steps.results import Citation, StepOutput
from .checks import report_citations
from .run import NOT_COVERED, ResearchRun

__all__ = ["ResearchInputs", "ResearchReport"]


class ResearchInputs(StepInputs):
    topic: str = Field(..., min_length=3, description="what the report is about")
    audience: str = Field("a general reader", description="who reads it")
    length: str = Field("short (about 200 words)", description="how long it should be")
    tools: str = Field("", description="extra researcher tools (registered steps), comma-separated: report_query, see")


class ResearchReport(StepOutput):
    topic: str
    review: Literal["passed", "failed_review", "not_covered"]
    report: str  # Markdown
    rounds: int  # revisions after the first draft
    citations: list[Citation]
    problems: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    output_dir: str = ""
    files: list[str] = Field(default_factory=list)  # names in output_dir

    def result_fields(self) -> dict:
        ok = self.review == "passed"
        reason = "" if ok else f"{self.review.replace('_', ' ')}: " + "; ".join(self.problems[:3])
        return {
            "text": self.report, "status": "ok" if ok else "incomplete", "citations": self.citations,
            "output_dir": self.output_dir, "files": [str(Path(self.output_dir) / f) for f in self.files],
            "reason": reason,
        }  # fmt: skip


def _uncovered(topic: str, deps: Deps) -> str:
    """Why the documents do not cover ``topic`` (empty: they may). A topic is framed loosely
    ("duties", "overview"), so at least half of its content words must occur in no document."""
    unknown = deps.retriever.unknown_terms(topic) if deps.settings.abstain_unknown_terms else []
    if unknown and 2 * len(unknown) >= len(content_terms(topic)):
        return f"no document contains {', '.join(repr(w) for w in unknown)}"
    return ""


def _finish(run: ResearchRun, review: str, problems: list[str]) -> ResearchReport:
    citations = []
    if run.draft is not None and review != "not_covered":
        ids = {p.file: p.doc_id for p in run.passages()}
        citations, lost = report_citations(run.draft, run.verified, run.reader(), ids)
        for note in lost:
            run.log("flow", note)
    if review == "not_covered":
        why = problems[0].removeprefix(NOT_COVERED).lstrip(": ")
        run.report = (f"# {run.inputs.topic}\n\nThe documents in the knowledge base do not cover this topic ({why}), "
                      "so no report was written.\n")  # fmt: skip
    run.save("report.md", run.report)
    run.save("evidence.json", json.dumps([p.model_dump() for p in run.passages()], indent=1, ensure_ascii=False))
    run.save("findings.json", json.dumps([f.model_dump() for f in run.verified], indent=1, ensure_ascii=False))
    run.log("flow", f"done: {review}")
    run.close()
    result = ResearchReport(
        topic=run.inputs.topic, review=review, report=run.report, rounds=run.rounds, citations=citations,
        problems=problems, seconds=round(time.perf_counter() - run.t0, 1),
    )  # fmt: skip
    run.save("result.json", result.model_dump_json(indent=1))
    return result


@step("research_crew", "The research crew and its bounded review loop (the knowledge base must be ready)",
      ResearchInputs, "report", tool=False)  # fmt: skip
def research_crew(inputs: ResearchInputs, deps: Deps) -> ResearchReport:
    extra = tools_by_name(inputs.tools, deps, have=("knowledge_search",))  # an unknown name fails before any work
    _ = deps.model  # a missing model fails here, before an output folder exists
    with staged(deps.settings, "research") as out:
        run = ResearchRun(inputs, deps, out.path)
        try:
            run.log("flow", f"checking that the documents mention what {inputs.topic!r} names")
            why = _uncovered(inputs.topic, deps)
            if why:
                run.log("flow", why)
                result = _finish(run, "not_covered", [f"{NOT_COVERED}: {why}"])
            else:
                run.search = search_tool(deps, on_output=run.searched)
                run.run_crew([run.search, *extra])
                covered = not (run.problems and run.problems[0].startswith(NOT_COVERED))
                result = _finish(run, *(run.review() if covered else ("not_covered", run.problems)))
        except BaseException:  # keep what an interrupted or failed run produced
            run.close()
            if any(out.path.iterdir()):
                out.publish("incomplete")
            raise
        result.files = sorted(p.name for p in out.path.iterdir())
        result.output_dir = str(out.publish(result.review))
    return result


@step("research", "A cited Markdown report on a topic from the user's documents: planner, researcher, writer "
      "and critic, every cited quote checked on its page", ResearchInputs, "report")  # fmt: skip
def research(inputs: ResearchInputs, deps: Deps) -> ResearchReport:
    call_step("prepare_knowledge", {}, deps)
    return call_step("research_crew", inputs, deps)
