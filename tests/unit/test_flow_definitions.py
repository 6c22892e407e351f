"""YAML flows: every shipped definition loads and passes the checks; a broken one fails before anything
runs, with one line naming the file, the method and the problem; `crewai run --inputs` refuses bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multimodal_crew.errors import FlowDefinitionError, InputError
from multimodal_crew.flows import all_flows, load_definition, run_flow
from multimodal_crew.steps import RunResult
from tests.fakes import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
CREWAI = Path(sys.executable).parent / "crewai"

GOOD = {
    "schema": "crewai.flow/v1",
    "name": "probe",
    "state": {"type": "pydantic", "ref": "multimodal_crew.flows.inputs:AskInputs"},
    "methods": {
        "search": {
            "start": True,
            "do": {
                "call": "code",
                "ref": "multimodal_crew.steps:knowledge_search",
                "with": {"query": "${state.question}"},
            },
        },
        "finish": {
            "listen": "search",
            "do": {
                "call": "code",
                "ref": "multimodal_crew.steps:finish",
                "with": {"flow": "probe", "result_of": "knowledge_search"},
            },
        },
    },
}


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "probe.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def _broken(**methods) -> dict:
    d = json.loads(json.dumps(GOOD))
    for name, m in methods.items():
        if m is None:
            d["methods"].pop(name)
        else:
            d["methods"][name] = m
    return d


def test_every_shipped_flow_loads_and_passes_the_checks():
    flows = all_flows()
    assert {"ask", "report", "see", "workorder", "research"} <= set(flows)
    for entry in flows.values():
        assert entry.path.parent == ROOT / "config" / "flows" and entry.description


def test_a_good_definition_loads(tmp_path):
    e = load_definition(_write(tmp_path, GOOD))
    assert e.name == "probe" and "question" in e.inputs_model.model_fields


@pytest.mark.parametrize(
    ("methods", "words"),
    [
        (
            {"search": {"start": True, "do": {"call": "code", "ref": "multimodal_crew.steps:no_such_step"}}},
            "method 'search': unknown step 'no_such_step'",
        ),
        (
            {
                "finish": {
                    "listen": "search",
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:finish",
                        "with": {"flow": "probe", "result_of": "${outputs.nothing}"},
                    },
                }
            },
            "method 'finish': ${outputs.nothing}: no method has that name",
        ),
        (
            {
                "search": {
                    "start": True,
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:knowledge_search",
                        "with": {"query": "${state.questoin}"},
                    },
                }
            },
            "method 'search': ${state.questoin}: the flow has no input 'questoin'",
        ),
        (
            {
                "finish": {
                    "listen": "serch",
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:finish",
                        "with": {"flow": "probe", "result_of": "x"},
                    },
                }
            },
            "method 'finish': listens to 'serch'",
        ),
        (
            {
                "again": {"listen": "finish", "do": {"call": "expression", "expr": "1"}},
                "search": {
                    "start": True,
                    "listen": "again",
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:knowledge_search",
                        "with": {"query": "${state.question}"},
                    },
                },
            },
            "in a cycle",
        ),
        (
            {"search": {"listen": "finish", "do": {"call": "expression", "expr": "1"}}},
            "exactly one method with `start: true`",
        ),
        (
            {
                "search": {
                    "start": True,
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:knowledge_search",
                        "with": {"quer": "${state.question}"},
                    },
                }
            },
            "method 'search': step 'knowledge_search' has no input 'quer'",
        ),
        (
            {
                "search": {
                    "start": True,
                    "do": {"call": "code", "ref": "multimodal_crew.steps:knowledge_search", "with": {"k": 3}},
                }
            },
            "method 'search': step 'knowledge_search' needs the input 'query'",
        ),
        (
            {
                "finish": {
                    "listen": "search",
                    "do": {
                        "call": "code",
                        "ref": "multimodal_crew.steps:finish",
                        "with": {"flow": "probe", "result_of": "cited_answer"},
                    },
                }
            },
            "method 'finish': result_of 'cited_answer' is no step that runs before it",
        ),
        ({"finish": None}, "method 'search': a flow ends with the `finish` step"),
    ],
)
def test_a_broken_definition_is_one_line_naming_file_method_and_problem(tmp_path, methods, words):
    path = _write(tmp_path, _broken(**methods))
    with pytest.raises(FlowDefinitionError) as info:
        load_definition(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and words in msg and "\n" not in msg


def test_an_output_read_before_its_method_runs_is_refused(tmp_path):
    d = _broken(search={"start": True, "do": {"call": "code", "ref": "multimodal_crew.steps:knowledge_search",
                                             "with": {"query": "${outputs.finish}"}}})  # fmt: skip
    with pytest.raises(FlowDefinitionError, match="does not run before this one"):
        load_definition(_write(tmp_path, d))


def test_a_missing_required_input_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from multimodal_crew.settings import get_settings

    monkeypatch.setenv("MMCREW_EXTRA_FLOWS", str(_write(tmp_path, GOOD)))
    get_settings(refresh=True)
    model = ScriptedModel()
    with pytest.raises(InputError, match="flow 'probe' needs the input 'question'"):
        run_flow("probe", {}, model=model)
    with pytest.raises(InputError, match="flow 'probe' has no input 'questoin'"):
        run_flow("probe", {"questoin": "x"}, model=model)
    assert model.requests == []


def _crewai(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MMCREW_HOME=str(home))
    return subprocess.run([str(CREWAI), "run", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_crewai_run_refuses_malformed_inputs_and_unknown_keys(tmp_path):
    p = _crewai("--definition", "config/flows/ask.yaml", "--inputs", "{question: oops", home=tmp_path)
    assert p.returncode != 0 and "Invalid --inputs JSON" in p.stderr
    p = _crewai("--definition", "config/flows/ask.yaml", "--inputs", '{"questoin": "When?"}', home=tmp_path)
    assert p.returncode != 0 and "has no input 'questoin'" in p.stderr, p.stderr[-1500:]
    assert not (tmp_path / "knowledge").exists()  # refused before the first step did anything


AGENT_FLOW = {
    "schema": "crewai.flow/v1",
    "name": "agent_probe",
    "state": {"type": "pydantic", "ref": "multimodal_crew.flows.inputs:AskInputs"},
    "config": {"suppress_flow_events": True, "tracing": False},
    "methods": {
        "reply": {
            "start": True,
            "do": {
                "call": "agent",
                "with": {
                    "role": "Helper",
                    "goal": "Answer briefly",
                    "backstory": "Brief.",
                    "input": "${state.question}",
                    "settings": {"llm": {"python": "config.llms.CONFIGURED"}},
                },
            },  # fmt: skip
        },
        "finish": {
            "listen": "reply",
            "do": {
                "call": "code",
                "ref": "multimodal_crew.steps:finish",
                "with": {"flow": "agent_probe", "text": "${outputs.reply.raw}"},
            },
        },
    },
}


def test_an_agent_without_an_llm_would_use_openai_and_is_refused(tmp_path):
    d = json.loads(json.dumps(AGENT_FLOW))
    del d["methods"]["reply"]["do"]["with"]["settings"]
    with pytest.raises(FlowDefinitionError, match="method 'reply': agent 'agent' names no llm.*configured"):
        load_definition(_write(tmp_path, d))


def test_a_yaml_agent_runs_on_the_configured_model_not_openai(tmp_path, monkeypatch):
    from crewai.flow.flow import Flow

    from multimodal_crew.models.runtime import reset_runtime
    from multimodal_crew.settings import get_settings
    from tests.fakes import FakeOpenAIServer

    path = _write(tmp_path, AGENT_FLOW)
    load_definition(path)  # passes the checks
    with FakeOpenAIServer(["Thirty days."]) as srv:
        monkeypatch.setenv("MODEL", "openai/fake")
        monkeypatch.setenv("MMCREW_API_BASE", srv.url + "/v1")
        get_settings(refresh=True)
        reset_runtime()
        try:
            out = Flow.from_declaration(path=path).kickoff(inputs={"question": "When?"})
        finally:
            reset_runtime()
        assert isinstance(out, RunResult) and "Thirty days." in out.text
        assert srv.requests and srv.requests[0]["body"]["model"] == "fake"


def test_a_yaml_agent_runs_on_the_model_given_to_the_run_and_is_counted(tmp_path, monkeypatch):
    from multimodal_crew.settings import get_settings
    from tests.fakes import ScriptedRuntime

    monkeypatch.setenv("MMCREW_EXTRA_FLOWS", str(_write(tmp_path, AGENT_FLOW)))
    get_settings(refresh=True)
    model = ScriptedRuntime(["Within 30 days."])
    r = run_flow("agent_probe", {"question": "When?"}, model=model)
    assert r.text == "Within 30 days." and r.model_calls == 1
    assert model.llm.seen[0]["messages"][-1]["content"].endswith("When?") or "When?" in str(model.llm.seen[0])


def test_finish_raises_for_an_incomplete_result_only_under_crewai_run():
    from multimodal_crew.errors import ModelBehaviorError
    from multimodal_crew.steps import Deps, StepOutput, call_step

    class Half(StepOutput):
        def result_fields(self) -> dict:
            return {"text": "draft", "status": "incomplete", "reason": "failed review: p. 9 was not found"}

    deps = Deps()
    deps.outputs["half"] = Half()
    r = call_step("finish", {"flow": "probe", "result_of": "half"}, deps)  # run_flow: a typed result
    assert r.status == "incomplete" and r.reason.startswith("failed review")
    deps.fail_incomplete = True  # what deps_of sets when `crewai run` started the flow
    with pytest.raises(ModelBehaviorError, match="the probe flow did not complete: failed review"):
        call_step("finish", {"flow": "probe", "result_of": "half"}, deps)
