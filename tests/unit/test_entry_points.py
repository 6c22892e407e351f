"""crewai's entry points (kickoff, plot) on a loopback OpenAI-compatible fake."""

import json
import sys

import pytest

from multimodal_crew import main
from multimodal_crew.settings import get_settings
from tests.fakes import FakeOpenAIServer, expected_totals

OSAKA_FEB = expected_totals("2024-02-01", "2024-02-29", "Osaka")["Osaka"]
REPLY = json.dumps({"summary": f"Osaka had {OSAKA_FEB:,} active users in February 2024.", "top_city": "Osaka"})
SCORES = {f: {"score": 3, "reason": "one query"} for f in ("steps", "interdependence", "conditional_logic",
          "domain_knowledge", "output_structure", "factual_accuracy", "reproducibility", "error_tolerance")}  # fmt: skip
ROUTED = json.dumps({"scores": SCORES, "route": "report",
                     "inputs": {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}})  # fmt: skip


@pytest.fixture
def fake_server(monkeypatch):
    with FakeOpenAIServer([ROUTED, REPLY]) as srv:
        monkeypatch.setenv("MODEL", "openai/fake")
        monkeypatch.setenv("MMCREW_API_BASE", srv.url + "/v1")
        get_settings(refresh=True)
        yield srv


def _saved(state_home):
    (folder,) = (state_home / "outputs" / "report").iterdir()
    return json.loads((folder / "result.json").read_text())


def test_kickoff_routes_the_request_then_runs_the_flow_it_needs(fake_server, state_home, monkeypatch, capsys):
    """The default flow is the router: env inputs, then argv, over its defaults."""
    monkeypatch.setenv("MMCREW_INPUTS", json.dumps({"request": "January, please"}))
    monkeypatch.setattr(sys, "argv", ["kickoff", "request=Active users in Osaka in February 2024"])
    main.kickoff()
    saved = _saved(state_home)
    assert saved["inputs"] == {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}
    assert "Osaka" in capsys.readouterr().out
    route_prompt = fake_server.requests[0]["body"]["messages"][-1]["content"]
    assert "Active users in Osaka in February 2024" in route_prompt  # argv over MMCREW_INPUTS
    prompt = fake_server.requests[1]["body"]["messages"][-1]["content"]
    assert "2024-02-01 to 2024-02-29" in prompt and "| Osaka | 29 |" in prompt


def test_kickoff_bad_input_exits_with_one_line(fake_server, state_home, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["kickoff", "requets=January"])
    with pytest.raises(SystemExit) as info:
        main.kickoff()
    assert info.value.code == 2
    assert "requets" in capsys.readouterr().err
    assert fake_server.requests == []


def test_plot_writes_an_offline_graph(state_home, capsys):
    main.plot()
    folder = state_home / "outputs" / "plots"
    text = (folder / "route_flow.md").read_text()
    assert "decide --> run" in text and "run --> finish" in text and "dispatch" in text
