"""crewai's entry points (kickoff, plot) on a loopback OpenAI-compatible fake."""

import json
import sys

import pytest

from multimodal_crew import main
from multimodal_crew.settings import get_settings
from tests.fakes import FakeOpenAIServer, expected_totals

OSAKA_FEB = expected_totals("2024-02-01", "2024-02-29", "Osaka")["Osaka"]
REPLY = json.dumps({"summary": f"Osaka had {OSAKA_FEB:,} active users in February 2024.", "top_city": "Osaka"})


@pytest.fixture
def fake_server(monkeypatch):
    with FakeOpenAIServer([REPLY]) as srv:
        monkeypatch.setenv("MODEL", "openai/fake")
        monkeypatch.setenv("MMCREW_API_BASE", srv.url + "/v1")
        get_settings(refresh=True)
        yield srv


def _saved(state_home):
    (folder,) = (state_home / "outputs" / "report").iterdir()
    return json.loads((folder / "result.json").read_text())


def test_kickoff_takes_defaults_then_env_then_argv(fake_server, state_home, monkeypatch, capsys):
    monkeypatch.setenv("MMCREW_INPUTS", json.dumps({"start_date": "2024-02-01", "end_date": "2024-02-29"}))
    monkeypatch.setattr(sys, "argv", ["kickoff", "city=Osaka"])
    main.kickoff()
    saved = _saved(state_home)
    assert saved["inputs"] == {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}
    assert "Osaka" in capsys.readouterr().out
    prompt = fake_server.requests[0]["body"]["messages"][-1]["content"]
    assert "2024-02-01 to 2024-02-29" in prompt and "| Osaka | 29 |" in prompt


def test_kickoff_bad_input_exits_with_one_line(fake_server, state_home, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["kickoff", "start_date=yesterday"])
    with pytest.raises(SystemExit) as info:
        main.kickoff()
    assert info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert fake_server.requests == []


def test_plot_writes_an_offline_graph(state_home, capsys):
    main.plot()
    folder = state_home / "outputs" / "plots"
    text = (folder / "report_flow.md").read_text()
    assert "query --> chart" in text and "summary --> finish" in text and "report_query" in text
