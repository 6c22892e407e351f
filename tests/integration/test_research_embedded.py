"""The research flow end to end on the embedded model over the small committed knowledge folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multimodal_crew.crews.research.steps import ResearchReport
from multimodal_crew.flows import run_flow
from multimodal_crew.knowledge.ingest import ingest, open_store
from multimodal_crew.settings import get_settings
from multimodal_crew.steps.results import locate

pytestmark = pytest.mark.integration
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge"


def test_research_report_cites_only_pages_the_researcher_found(state_home, tmp_path, monkeypatch):
    monkeypatch.setenv("MMCREW_RESEARCH_ROUNDS", "1")
    get_settings(refresh=True)
    docs = tmp_path / "docs"
    shutil.copytree(FIX / "good", docs)
    ingest([docs])
    r = run_flow("research", {"topic": "elevator and roof maintenance duties of the contractor"})
    rep = ResearchReport.model_validate(r.data)
    assert rep.review in ("passed", "failed_review"), r  # the documents do cover it
    out = Path(r.output_dir)
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence, "the researcher never called knowledge_search"
    found = {(h["file"], h["page"]) for h in evidence}
    store = open_store()
    assert all(store.page_text(f, p) is not None for f, p in found)
    findings = json.loads((out / "findings.json").read_text())
    assert findings, "no finding survived the check"
    from multimodal_crew.knowledge.text import quote_in

    for f in findings:  # every finding the writer was given quotes a page the researcher found
        assert (f["file"], f["page"]) in found and quote_in(f["quote"], store.page_text(f["file"], f["page"]))
    for c in r.citations:  # every citation is a finding, its offsets point at its quote on the page
        assert any((c.file, c.page, c.quote) == (f["file"], f["page"], f["quote"].strip()) for f in findings)
        assert locate(c.quote, store.page_text(c.file, c.page)) == (c.start, c.end)
    if rep.review == "passed":
        assert r.status == "ok" and r.citations
    else:
        assert r.status == "incomplete" and rep.problems and rep.rounds == 1
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["agent"] == "flow" and steps[-1]["step"].startswith("done:")
    assert r.model_calls >= 4
