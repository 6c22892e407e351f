"""Cancelling a run (``run_flow(..., cancelled=event)``, as the server does) stops every kind of run soon:
a ``ping`` that waits, a YAML crew flow, a crew a step builds (research), a flow of plain steps (ask),
each before its next model call; and an uncancelled run is unaffected."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from multimodal_crew.errors import RunCancelled
from multimodal_crew.flows import run_flow
from multimodal_crew.models.configured import CURRENT_DEPS, LLM, RunLLM
from multimodal_crew.settings import get_settings
from multimodal_crew.steps.registry import Deps
from multimodal_crew.steps.tools import as_tool
from tests.fakes import ScriptedModel, ScriptedRuntime, ScriptedToolLLM

JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}
CALL = {"tool": "report_query", "arguments": JAN}
SEARCH = {"tool": "knowledge_search", "arguments": {"query": "elevator door sensors", "file": ""}}
PLAN = '{"questions": ["When must the elevator door sensors be replaced?"]}'


class CancellingToolLLM(ScriptedToolLLM):
    """A ScriptedToolLLM that sets ``cancel`` (the run's cancel event) as it answers call number ``after``:
    a user who cancels while the model is generating."""

    cancel: Any = None
    after: int = 1

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None):  # fmt: skip
        out = super().call(messages, tools, callbacks, available_functions, from_task, from_agent, response_model)
        if len(self.seen) == self.after:
            self.cancel.set()
        return out


class StopRecordingLLM(ScriptedToolLLM):
    """A ScriptedToolLLM that records the stop words in effect for each call."""

    stops: list = []

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None):  # fmt: skip
        self.stops.append(list(self.stop_sequences))
        return super().call(messages, tools, callbacks, available_functions, from_task, from_agent, response_model)


class CancellingRetriever:
    """A real retriever whose ``search`` sets ``cancel`` once it has searched (cancelled during the search)."""

    def __init__(self, inner: Any, cancel: threading.Event):
        self._inner, self._cancel = inner, cancel

    def search(self, *args: Any, **kwargs: Any) -> Any:
        hits = self._inner.search(*args, **kwargs)
        self._cancel.set()
        return hits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def runtime_cancelling(script: list, after: int, *json_responses: str) -> tuple[ScriptedRuntime, threading.Event]:
    """A ScriptedRuntime whose agents' LLM cancels the run as it answers call ``after``; (runtime, event)."""
    cancel = threading.Event()
    model = ScriptedRuntime(script, *json_responses)
    model.llm = CancellingToolLLM(model="scripted", script=script, cancel=cancel, after=after)
    return model, cancel


def published(flow: str) -> list[str]:
    folder = get_settings(refresh=True).outputs_path / flow
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


# -- ping -------------------------------------------------------------------------------------
def test_a_waiting_ping_stops_within_a_second_of_its_cancel_and_publishes_nothing(state_home):
    run_flow("ping", {"seconds": 0})  # warm: the timing below is the ping's, not the first flow's imports
    cancel, seen = threading.Event(), {}
    staging = get_settings(refresh=True).outputs_path / "ping"

    def cancel_now() -> None:
        seen["waiting"] = any(staging.glob(".staging-*"))  # the ping had started its wait
        seen["at"] = time.monotonic()
        cancel.set()

    timer = threading.Timer(0.3, cancel_now)
    timer.start()
    try:
        with pytest.raises(RunCancelled):
            run_flow("ping", {"seconds": 5}, cancelled=cancel)
    finally:
        timer.cancel()
    assert seen["waiting"] and time.monotonic() - seen["at"] < 1.0
    assert len(published("ping")) == 1  # the warm-up's only


def test_an_uncancelled_ping_takes_its_seconds_and_publishes(state_home):
    t0 = time.monotonic()
    r = run_flow("ping", {"seconds": 0.4}, cancelled=threading.Event())
    assert time.monotonic() - t0 >= 0.4
    assert r.status == "ok" and len(published("ping")) == 1


# -- a YAML crew flow (its agent on config.llms.CONFIGURED) -------------------------------------
def test_a_yaml_crew_cancelled_while_its_agent_asks_for_a_tool_makes_no_further_model_call(state_home):
    model, cancel = runtime_cancelling([CALL, "| City | Users |"], after=1)
    with pytest.raises(RunCancelled):
        run_flow("report_crew", JAN, model=model, cancelled=cancel)
    assert len(model.llm.seen) == 1


def test_an_uncancelled_yaml_crew_runs_to_its_end(state_home):
    from multimodal_crew.datasource import markdown_table, parse_query, query_report

    table = markdown_table(query_report(parse_query(JAN["start_date"], JAN["end_date"]),
                                       get_settings().knowledge_path / "daily_active_users.csv"))  # fmt: skip
    model = ScriptedRuntime([CALL, table])
    r = run_flow("report_crew", JAN, model=model, cancelled=threading.Event())
    assert r.status == "ok" and r.model_calls == 2 and len(model.llm.seen) == 2


# -- a crew built by a step (research) ---------------------------------------------------------
def test_a_research_crew_cancelled_during_its_search_makes_no_further_model_call(retriever):
    model, cancel = runtime_cancelling([PLAN, SEARCH, '{"findings": []}'], after=2)
    with pytest.raises(RunCancelled):
        run_flow("research", {"topic": "elevator maintenance duties"}, model=model, retriever=retriever,
                 cancelled=cancel)  # fmt: skip
    assert len(model.llm.seen) == 2
    assert [n.split("-")[2] for n in published("research")] == ["incomplete"]  # what it had, marked so


# -- a flow of steps (ask) ----------------------------------------------------------------------
def test_ask_cancelled_during_its_search_never_calls_the_model(retriever):
    cancel = threading.Event()
    model = ScriptedModel('{"answer": "x", "citations": []}')
    with pytest.raises(RunCancelled):
        run_flow("ask", {"question": "When must the door sensors be replaced?"}, model=model,
                 retriever=CancellingRetriever(retriever, cancel), cancelled=cancel)  # fmt: skip
    assert cancel.is_set() and model.requests == []


# -- the pieces ----------------------------------------------------------------------------------
def test_a_tool_of_a_cancelled_run_raises_before_its_step_starts(state_home):
    cancel = threading.Event()
    cancel.set()
    deps = Deps(cancelled=cancel)
    with pytest.raises(RunCancelled):
        as_tool("report_query", deps)._run(**JAN)
    assert "report_query" not in deps.timings and deps.tool_calls == []


def _run_async(coro):
    """``asyncio.run`` in a thread of its own, in this context: the main thread may already run an event loop
    (Playwright's sync API keeps one there for the browser tests of the same session)."""
    ctx = contextvars.copy_context()
    out: list = []

    def target() -> None:
        try:
            out.append(("ok", ctx.run(asyncio.run, coro)))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            out.append(("err", e))

    t = threading.Thread(target=target)
    t.start()
    t.join()
    kind, value = out[0]
    if kind == "err":
        raise value
    return value


def test_the_configured_llm_checks_cancel_on_call_and_acall_and_counts_only_calls_made(state_home):
    cancel = threading.Event()
    inner = ScriptedToolLLM(model="scripted", script=["hello"])
    deps = Deps(model=type("Runtime", (), {"llm": inner})(), cancelled=cancel)
    token = CURRENT_DEPS.set(deps)
    try:
        assert LLM.call([{"role": "user", "content": "hi"}]) == "hello"
        assert _run_async(LLM.acall([{"role": "user", "content": "hi"}])) == "hello"
        cancel.set()
        with pytest.raises(RunCancelled):
            LLM.call([{"role": "user", "content": "hi"}])
        with pytest.raises(RunCancelled):
            _run_async(LLM.acall([{"role": "user", "content": "hi"}]))
    finally:
        CURRENT_DEPS.reset(token)
    assert len(inner.seen) == 2 and deps.model_calls == 2


def test_the_run_llm_checks_cancel_and_passes_crewai_s_stop_words_on(state_home):
    from crewai.llms.base_llm import call_stop_override

    cancel = threading.Event()
    inner = StopRecordingLLM(model="scripted", script=["hello"], stop=["STOP"])
    relay = RunLLM.for_run(Deps(model=type("Runtime", (), {"llm": inner})(), cancelled=cancel))
    assert (relay.model, relay.inner) == ("scripted", inner)
    with call_stop_override(relay, ["\nObservation:"]):  # what CrewAI's executor does around a call
        assert relay.call("hi") == "hello"
    assert inner.stops == [["STOP", "\nObservation:"]]
    cancel.set()
    with pytest.raises(RunCancelled):
        relay.call("hi")
    assert len(inner.seen) == 1
