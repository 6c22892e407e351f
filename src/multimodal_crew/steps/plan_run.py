"""A validated plan becomes a YAML flow, and CrewAI's declarative runtime runs it.

``compile_plan`` turns a ``Plan`` into a ``crewai.flow/v1`` definition in code (never by the
model): ``begin`` makes the run folder, each task is one ``plan_task`` method that listens to the
tasks it uses and gets their records as ``${outputs.task_N}``, and ``plan_respond`` writes the
answer. ``plan.yaml`` is saved in the run folder; ``crewai run --definition <run>/plan.yaml``
runs the plan again (in a new run folder).

The run folder keeps everything: ``plan.json``, ``plan.yaml``, ``task-N.json`` (tool, arguments,
output, status, seconds), ``log.txt`` and ``status.json`` (running, done, incomplete,
interrupted). A task that fails is recorded, the tasks that depend on it are skipped (recorded
too), the others run, and the result is ``incomplete`` with the reasons. Nothing is skipped silently.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import MMCrewError
from ..procs import drop_interrupt, on_interrupt
from .planning import REF, Plan, PlanOutput
from .registry import Deps, StepInputs, call_step, get_step, step
from .results import Citation, StepOutput

__all__ = ["PlanResult", "PlanRun", "TaskRecord", "compile_plan", "execute_plan", "write_status"]


class PlanRun(StepOutput):
    run_dir: str

    def result_fields(self) -> dict[str, Any]:
        return {"text": f"plan run folder: {self.run_dir}", "output_dir": self.run_dir}


class TaskRecord(StepOutput):
    number: int
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)  # as run, references replaced
    status: Literal["ok", "failed", "skipped"]
    kind: str = "text"
    text: str = ""
    value: str = ""  # what a later <task-N> reference becomes: the number for a number, else the text
    output: dict[str, Any] = Field(default_factory=dict)
    citations: list[Citation] = Field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    def result_fields(self) -> dict[str, Any]:
        return {"text": self.text or self.error, "citations": self.citations}


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    data = {"status": status, "at": datetime.now().isoformat(timespec="seconds"), **extra}
    tmp = run_dir / "status.json.tmp"
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(run_dir / "status.json")


def _log(run_dir: Path, line: str) -> None:
    with open(run_dir / "log.txt", "a", encoding="utf-8") as f:
        f.write(f"{datetime.now():%H:%M:%S} {line}\n")


# --- begin: the run folder ------------------------------------------------------------------------


class BeginInputs(StepInputs):
    request: str = Field(..., description="the user's request")
    plan: dict[str, Any] = Field(..., description="the validated plan, as JSON")


@step("plan_begin", "Make a plan's run folder and save the plan", BeginInputs, "file", tool=False)
def plan_begin(inputs: BeginInputs, deps: Deps) -> PlanRun:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = deps.settings.outputs_path / "plan" / f"{stamp}-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    plan = Plan.model_validate(inputs.plan)
    saved = {"request": inputs.request, **plan.model_dump(), "links": plan.links()}
    (run_dir / "plan.json").write_text(json.dumps(saved, indent=2, ensure_ascii=False), encoding="utf-8")
    definition = getattr(deps, "definition", None)
    if definition is not None:
        (run_dir / "plan.yaml").write_text(definition, encoding="utf-8")
    write_status(run_dir, "running")
    _log(run_dir, f"plan of {len(plan.tasks)} task(s) for: {inputs.request}")

    def interrupted() -> None:  # Ctrl-C (procs.run_interrupt_hooks): mark the run, start nothing more
        deps.cancelled.set()
        write_status(run_dir, "interrupted", error="interrupted (Ctrl-C)")
        _log(run_dir, "interrupted (Ctrl-C); the finished tasks are kept")

    deps.interrupt_token = on_interrupt(interrupted)
    return PlanRun(run_dir=str(run_dir))


# --- one task -------------------------------------------------------------------------------------


class TaskInputs(StepInputs):
    run_dir: str
    number: int
    tool: str
    args: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict, description="task number -> its record (${outputs.task_N})")


def _resolve(args: dict[str, str], inputs: dict[str, TaskRecord], tool: str, run_dir: Path) -> dict[str, Any]:
    fields = get_step(tool).input_model.model_fields
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name == "path" and value.strip() and not REF.search(value):
            out[name] = str(run_dir / value.strip())  # a file a task writes goes in the run folder
            continue
        whole = REF.fullmatch(value.strip())
        if whole:
            rec = inputs[whole.group(1)]
            annotation = str(fields[name].annotation) if name in fields else ""
            typed = "ReportTable" in annotation or "Chart" in annotation  # the typed output itself
            out[name] = rec.output if typed else rec.value
        else:
            out[name] = REF.sub(lambda m: inputs[m.group(1)].value, value)
    return out


@step("plan_task", "Run one task of a plan and record it in the run folder", TaskInputs, "check", tool=False)
def plan_task(inputs: TaskInputs, deps: Deps) -> TaskRecord:
    run_dir = Path(inputs.run_dir)
    done = {k: v if isinstance(v, TaskRecord) else TaskRecord.model_validate(v) for k, v in inputs.inputs.items()}
    base = {"number": inputs.number, "tool": inputs.tool, "kind": get_step(inputs.tool).output}
    failed = [f"task {k}" for k, r in done.items() if r.status != "ok"]
    t0 = time.perf_counter()
    if deps.cancelled.is_set():
        rec = TaskRecord(**base, args=dict(inputs.args), status="skipped", error="skipped: the run was interrupted")
    elif failed:
        rec = TaskRecord(
            **base, args=dict(inputs.args), status="skipped", error=f"skipped: {', '.join(failed)} did not run"
        )
    else:
        args: dict[str, Any] = dict(inputs.args)
        try:
            args = _resolve(inputs.args, done, inputs.tool, run_dir)
            deps.step(f"task {inputs.number}: {inputs.tool}")
            out = call_step(inputs.tool, args, deps)
            fields = out.result_fields() if isinstance(out, StepOutput) else {"text": str(out)}
            text = str(fields.get("text", ""))
            dumped = out.model_dump(mode="json") if isinstance(out, BaseModel) else {}
            value = out.plan_value() if isinstance(out, StepOutput) else text
            status = "failed" if fields.get("status") == "abstained" else "ok"
            rec = TaskRecord(
                **base, args=args, status=status, text=text, value=value, output=dumped,
                citations=fields.get("citations") or [], seconds=round(time.perf_counter() - t0, 3),
                error=f"abstained: {fields.get('reason', '')}" if status == "failed" else "",
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - any step error (a plug-in's too) is recorded; its dependants are skipped
            msg = str(e).splitlines()[0] if str(e) else ""
            why = msg if isinstance(e, MMCrewError | ValueError) else f"{type(e).__name__}: {msg}"
            rec = TaskRecord(**base, args=args, status="failed", error=why, seconds=round(time.perf_counter() - t0, 3))
    path = run_dir / f"task-{inputs.number}.json"
    path.write_text(rec.model_dump_json(indent=2), encoding="utf-8")
    _log(run_dir, f"task {inputs.number} {inputs.tool}: {rec.status} {rec.error}".rstrip())
    return rec


# --- compile --------------------------------------------------------------------------------------


def compile_plan(plan: Plan, request: str, name: str = "plan_run") -> dict[str, Any]:
    """The ``crewai.flow/v1`` definition that runs ``plan`` (built in code, never by the model)."""
    methods: dict[str, Any] = {
        "begin": {"start": True, "do": {"call": "code", "ref": "multimodal_crew.steps:plan_begin",
                                         "with": {"request": request, "plan": plan.model_dump()}}},
    }  # fmt: skip
    used: set[int] = set()
    for i, task in enumerate(plan.tasks, start=1):
        ups = plan.deps(i)
        used.update(ups)
        listen: Any = (
            "begin" if not ups else (f"task_{ups[0]}" if len(ups) == 1 else {"and": [f"task_{n}" for n in ups]})
        )
        methods[f"task_{i}"] = {
            "listen": listen,
            "do": {"call": "code", "ref": "multimodal_crew.steps:plan_task", "with": {
                "run_dir": "${outputs.begin.run_dir}", "number": i, "tool": task.tool, "args": dict(task.args),
                "inputs": {str(n): f"${{outputs.task_{n}}}" for n in ups},
            }},
        }  # fmt: skip
    sinks = [f"task_{i}" for i in range(1, len(plan.tasks) + 1) if i not in used]
    methods["respond"] = {
        "listen": sinks[0] if len(sinks) == 1 else {"and": sinks},
        "do": {"call": "code", "ref": "multimodal_crew.steps:plan_respond", "with": {
            "run_dir": "${outputs.begin.run_dir}", "request": request,
            "records": {str(i): f"${{outputs.task_{i}}}" for i in range(1, len(plan.tasks) + 1)},
        }},
    }  # fmt: skip
    methods["finish"] = {
        "listen": "respond",
        "do": {"call": "code", "ref": "multimodal_crew.steps:finish", "with": {"flow": "plan", "result_of": "plan_respond"}},
    }  # fmt: skip
    return {
        "schema": "crewai.flow/v1",
        "name": name,
        "description": f"A plan for: {request[:100]}",
        "state": {"type": "pydantic", "ref": "multimodal_crew.flows.inputs:PlanRunInputs", "default": {}},
        "config": {"suppress_flow_events": True, "tracing": False},
        "methods": methods,
    }


# --- respond --------------------------------------------------------------------------------------


class RespondInputs(StepInputs):
    run_dir: str
    request: str
    records: dict[str, Any] = Field(..., description="task number -> its record (${outputs.task_N})")


class PlanAnswer(BaseModel):
    answer: str = Field(..., min_length=1, max_length=1500, description="the answer to the request")


class PlanResult(StepOutput):
    request: str
    answer: str
    run_dir: str
    tasks: list[TaskRecord]
    unsupported: str = ""

    def result_fields(self) -> dict[str, Any]:
        if self.unsupported:
            return {"text": self.answer, "status": "abstained", "reason": self.unsupported}
        bad = [t for t in self.tasks if t.status != "ok"]
        fields: dict[str, Any] = {
            "text": self.answer, "output_dir": self.run_dir,
            "citations": [c for t in self.tasks for c in t.citations],
        }  # fmt: skip
        if bad:
            fields["status"] = "incomplete"
            fields["reason"] = "; ".join(f"task {t.number} ({t.tool}) {t.status}: {t.error}" for t in bad)
        return fields


RESPOND_SYSTEM = (
    "You answer a request from the results of the tools that were run for it. Use only facts and numbers "
    "that appear in the results, copied exactly; never compute a number yourself. Answer in JSON."
)


def _allowed(records: list[TaskRecord]) -> set[float]:
    from ..numbers import NUMBER

    values: set[float] = set()
    for r in records:
        for text in (r.text, r.value, json.dumps(r.args, ensure_ascii=False)):
            for tok in NUMBER.findall(text):
                try:
                    values.add(float(tok.replace(",", "")))
                except ValueError:
                    pass
    return values


@step("plan_respond", "Write a plan's answer from its task outputs, every number checked", RespondInputs, "text",
      tool=False)  # fmt: skip
def plan_respond(inputs: RespondInputs, deps: Deps) -> PlanResult:
    from ..models.structured import ValidationFailed, structured
    from ..numbers import unsupported_numbers

    run_dir = Path(inputs.run_dir)
    if deps.cancelled.is_set():  # Ctrl-C: no answer from a plan cut short (the folder says interrupted)
        raise InterruptedError("the plan was interrupted")
    records = sorted(
        (v if isinstance(v, TaskRecord) else TaskRecord.model_validate(v) for v in inputs.records.values()),
        key=lambda r: r.number,
    )
    ok = [r for r in records if r.status == "ok"]
    if not ok:
        answer = "No task of the plan succeeded, so there is no answer."
    elif len(records) == 1:
        answer = ok[0].text  # one tool: its own answer, no model call
    else:
        deps.step("writing the answer from the task outputs")
        allowed = _allowed(ok)
        results = "\n\n".join(f"[task {r.number}: {r.tool}]\n{r.text[:1500]}" for r in ok)

        def numbers_from_results(a: PlanAnswer) -> None:
            bad = unsupported_numbers(a.answer, allowed)
            if bad:
                raise ValidationFailed(f"the answer states {', '.join(bad)}, which no tool result contains")

        got = structured(
            deps.model,
            [{"role": "system", "content": RESPOND_SYSTEM},
             {"role": "user", "content": f"Request: {inputs.request}\n\nTool results:\n{results}"}],
            PlanAnswer, validators=[numbers_from_results], max_retries=deps.settings.max_retries,
        )  # fmt: skip
        answer = got.answer
    result = PlanResult(request=inputs.request, answer=answer, run_dir=str(run_dir), tasks=records)
    (run_dir / "answer.md").write_text(answer + "\n", encoding="utf-8")
    failed = [r for r in records if r.status != "ok"]
    write_status(run_dir, "incomplete" if failed else "done", failed=[r.number for r in failed])
    _log(run_dir, f"answer written ({'incomplete' if failed else 'done'})")
    return result


# --- execute ----------------------------------------------------------------------------------------


def execute_plan(plan: Plan, request: str, deps: Deps) -> PlanResult:
    """Compile ``plan`` to YAML, check it, and run it on CrewAI's declarative runtime with ``deps``."""
    import yaml
    from crewai.flow.flow_definition import FlowDefinition

    from ..flow_class import flow_class
    from . import attach_deps
    from .definitions import check_definition

    text = yaml.safe_dump(compile_plan(plan, request), sort_keys=False, allow_unicode=True, width=100)
    definition = FlowDefinition.from_declaration(contents=text)
    check_definition(definition, "the compiled plan")  # a compiler bug shows here, before anything runs
    child = Deps(settings=deps.settings, model=deps.model, retriever=deps._retriever, progress=deps.progress)
    child.definition = text  # plan_begin saves it as plan.yaml
    flow = flow_class().from_declaration(contents=definition, suppress_flow_events=True, tracing=False)
    attach_deps(flow, child)
    try:
        flow.kickoff(inputs={})
    except BaseException as e:  # Ctrl-C, kill by the scheduler, a model that never answers ...
        begun = child.outputs.get("plan_begin")
        if begun is not None:
            state = "interrupted" if isinstance(e, KeyboardInterrupt | InterruptedError) else "failed"
            write_status(Path(begun.run_dir), state, error=str(e)[:300])
            _log(Path(begun.run_dir), f"{state}: {type(e).__name__} {str(e)[:200]}")
        raise
    finally:
        drop_interrupt(getattr(child, "interrupt_token", 0))
        for name, seconds in child.timings.items():
            deps.record(name, seconds)
    result = child.outputs.get("plan_respond")
    if not isinstance(result, PlanResult):
        raise MMCrewError("the compiled plan ended without an answer (plan_respond did not run)")
    return result


class RunPlanInputs(StepInputs):
    planned: PlanOutput = Field(..., description="the output of make_plan")


@step("run_plan", "Run a validated plan as a YAML flow and answer from its outputs", RunPlanInputs, "text",
      tool=False)  # fmt: skip
def run_plan(inputs: RunPlanInputs, deps: Deps) -> PlanResult:
    plan, request = inputs.planned.plan, inputs.planned.request
    if not plan.tasks:  # no tool serves it: the model's explanation, and nothing runs
        return PlanResult(request=request, answer=f"No registered tool can serve this request: {plan.unsupported}",
                          run_dir="", tasks=[], unsupported=plan.unsupported)  # fmt: skip
    return execute_plan(plan, request, deps)
