"""The planner: a request becomes a task graph over registered tools, validated before anything runs.

HuggingGPT's first stage, made so that an invalid plan cannot reach execution. The model writes
``{"tasks": [{"tool": ..., "args": {...}}]}`` through ``structured()``:

- tool names are schema-constrained to the tools offered (a grammar on the embedded model);
- task ``N`` is the N-th in the list; an argument refers to an earlier task's output as ``<task-N>``,
  and the dependencies are read from those references, never from a field the model fills;
- validators refuse, with the reason fed back for a retry: a reference to a task that does not
  exist or comes later (no cycles by construction), an output kind that does not fit the argument
  (a ``table`` into ``see``), an image that does not exist, an unknown or a missing required
  argument, a file path outside the knowledge and outputs folders, more than ``max_tasks`` tasks.

A plan that never validates raises ``PlanError``; nothing runs. The same code plans over another
tool list (``ToolSpec``), which is how TaskBench is scored (``evals/taskbench.py``).

>>> Plan(tasks=[PlanTask(tool="ask", args={"question": "q"}), PlanTask(tool="summarize", args={"text": "<task-1>"})]).links()
[(1, 2)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from ..errors import InputError, ModelBehaviorError, StructuredOutputError
from ..models.structured import Attempts, ValidationFailed, structured
from .registry import Deps, StepInputs, all_steps, step
from .results import StepOutput

__all__ = [
    "REF", "Plan", "PlanError", "PlanTask", "ToolSpec", "check_plan", "make_plan", "plan_messages", "registry_tools",
    "shortlist",
]  # fmt: skip

REF = re.compile(r"<task-(\d+)>")
# planner tools: never the crews' whole flows or flow wiring; `research`/`workorder` are crews the
# router reaches as flows, not plan steps (a plan step is one call; a crew is many)
# knowledge_search and cited_answer: `ask` is both, with its citations checked
NOT_PLANNED = frozenset({"research", "workorder", "knowledge_search", "cited_answer"})
HIDDEN_ARGS = frozenset({"k", "mode", "cross_lingual"})  # tuning knobs: their defaults serve a plan
# which output kinds fit an argument whose type is ...: `str` takes anything that has a text
_FITS: dict[str, set[str]] = {
    "table": {"table"},  # a report_query output, only by reference
    "chart": {"image"},  # a chart output, only by reference
    "image": {"image", "file"},  # an image file: a chart's, or a path given with the request
}


class PlanError(ModelBehaviorError):
    """The model's plan never validated; nothing ran. ``.reasons`` has the last attempt's problems."""

    def __init__(self, message: str, reasons: Sequence[str] = ()):
        super().__init__(message)
        self.reasons = list(reasons)


class ToolSpec(BaseModel):
    """What the planner knows of a tool: its name, what it does, its arguments and its output kind."""

    name: str
    description: str
    inputs: dict[str, str] = Field(default_factory=dict)  # argument -> its kind ("text", "table", "image", ...)
    required: list[str] = Field(default_factory=list)
    output: str = "text"
    free_args: bool = False  # TaskBench tools: no argument names are known, any may be given

    def line(self) -> str:
        args = ", ".join(f"{a}{'' if a in self.required else '?'}: {k}" for a, k in self.inputs.items())
        return f"- {self.name}({args or '...'}) -> {self.output}: {self.description}"


def _kind_of(annotation: Any) -> str:
    text = str(annotation)
    if "ReportTable" in text:
        return "table"
    if "Chart" in text:
        return "chart"
    if "int" in text or "float" in text:
        return "number"
    if "list" in text:
        return "list"
    return "text"


def registry_tools(names: Sequence[str] | None = None) -> list[ToolSpec]:
    """The registered tool steps as planner tools (all but crews and wiring, or just ``names``)."""
    specs = []
    for name, st in sorted(all_steps().items()):
        if not st.tool or name in NOT_PLANNED or (names is not None and name not in names):
            continue
        fields = st.input_model.model_fields
        inputs = {}
        for arg, info in fields.items():
            if arg in HIDDEN_ARGS:
                continue
            kind = _kind_of(info.annotation)
            if arg in ("image", "images", "path") and name == "see":
                kind = "image"
            inputs[arg] = kind
        required = [a for a, info in fields.items() if info.is_required()]
        specs.append(
            ToolSpec(name=name, description=st.description, inputs=inputs, required=required, output=st.output)
        )
    return specs


class PlanTask(BaseModel):
    # written first: a short rationale for the task, so the tool is chosen for a stated purpose (chain of thought
    # per task); the runner ignores it, the plan's table and plan.json show it
    step: str = Field("", max_length=200, description="what this task does, in a few words")
    tool: str
    args: dict[str, str] = Field(default_factory=dict)

    def refs(self) -> list[int]:
        return [int(n) for v in self.args.values() for n in REF.findall(v)]


class Plan(BaseModel):
    tasks: list[PlanTask]
    unsupported: str = Field("", description="only when no listed tool can serve the request: why (and no tasks)")

    def links(self) -> list[tuple[int, int]]:
        """(source, target) task numbers (1-based), one per distinct reference."""
        out: list[tuple[int, int]] = []
        for i, t in enumerate(self.tasks, start=1):
            for n in dict.fromkeys(t.refs()):
                out.append((n, i))
        return out

    def deps(self, number: int) -> list[int]:
        return list(dict.fromkeys(self.tasks[number - 1].refs()))


def _schema_model(tools: Sequence[ToolSpec], max_tasks: int) -> type[Plan]:
    """``Plan`` with ``tool`` constrained to the offered names (what the grammar enforces)."""
    names = tuple(t.name for t in tools)
    task = create_model(
        "PlanTask", __base__=PlanTask, step=(str, Field(..., max_length=200)), tool=(Literal[names], ...)
    )  # type: ignore[valid-type]
    return create_model(
        "Plan",
        __base__=Plan,
        tasks=(list[task], Field(..., max_length=max_tasks)),  # type: ignore[valid-type]
    )


def check_plan(plan: Plan, tools: Sequence[ToolSpec], *, max_tasks: int, roots: Sequence[Path] = ()) -> list[str]:
    """Every problem of ``plan`` as a sentence the model can act on (empty: valid)."""
    by_name = {t.name: t for t in tools}
    problems: list[str] = []
    if not plan.tasks and not plan.unsupported.strip():
        problems.append("the plan has no tasks; if no listed tool can serve the request, say why in unsupported")
    if len(plan.tasks) > max_tasks:
        problems.append(f"the plan has {len(plan.tasks)} tasks; at most {max_tasks} are allowed")
    for i, task in enumerate(plan.tasks, start=1):
        spec = by_name.get(task.tool)
        if spec is None:
            problems.append(f"task {i}: there is no tool {task.tool!r}")
            continue
        for n in task.refs():
            if n < 1 or n > len(plan.tasks):
                problems.append(f"task {i}: <task-{n}> does not exist (tasks are numbered 1 to {len(plan.tasks)})")
            elif n == i and i == 1:
                problems.append(
                    "task 1: <task-1> is task 1 itself; the first task has no earlier output to use, so write the "
                    "file name or the text from the request"
                )
            elif n >= i:
                problems.append(
                    f"task {i}: <task-{n}> is not an earlier task; task {i} may only use <task-1> to <task-{i - 1}> "
                    "or the request's own files and text"
                )
        if spec.free_args:
            continue
        for arg in task.args:
            if arg not in spec.inputs:
                stem = arg.rstrip("0123456789_")
                again = (f"; for a second {stem}, write a second {spec.name} task and use both outputs as <task-N>"
                         if stem != arg and stem in spec.inputs else "")  # fmt: skip
                problems.append(
                    f"task {i}: {spec.name} has no argument {arg!r} (it takes {', '.join(spec.inputs)}){again}"
                )
        for arg in spec.required:
            if not str(task.args.get(arg, "")).strip():
                problems.append(f"task {i}: {spec.name} needs the argument {arg!r}")
        for arg, value in task.args.items():
            kind = spec.inputs.get(arg)
            if arg == "path" and value.strip() and (Path(value).name != value.strip() or value.strip() in (".", "..")):
                problems.append(
                    f"task {i}: {spec.name}.path must be a plain file name (it is written in the run folder)"
                )
            whole = REF.fullmatch(value.strip())
            if whole and kind in _FITS and 1 <= int(whole.group(1)) < i:
                src = by_name.get(plan.tasks[int(whole.group(1)) - 1].tool)
                if src is not None and src.output not in _FITS[kind]:
                    problems.append(
                        f"task {i}: {spec.name}.{arg} takes a {kind}, but <task-{whole.group(1)}> "
                        f"({src.name}) gives a {src.output}"
                    )
            elif kind in _FITS and not REF.search(value) and value.strip():
                if kind in ("table", "chart"):
                    problems.append(f"task {i}: {spec.name}.{arg} takes a {kind} from an earlier task, as <task-N>")
                elif kind == "image":
                    problems.append(_file_problem(i, spec.name, arg, value, roots))
    return [p for p in problems if p]


def _file_problem(i: int, tool: str, arg: str, value: str, roots: Sequence[Path]) -> str:
    path = Path(value.strip()).expanduser()
    if not path.is_absolute() and roots:
        path = roots[0] / path
    try:
        resolved = path.resolve()
    except OSError:
        return f"task {i}: {tool}.{arg}: {value!r} is not a usable path"
    if roots and not any(resolved.is_relative_to(r.resolve()) for r in roots):
        return f"task {i}: {tool}.{arg}: {value!r} is outside the folders a plan may read"
    if not resolved.is_file():
        return f"task {i}: {tool}.{arg}: there is no file {value!r}"
    return ""


SYSTEM = """You plan how to serve a request with tools.
Reply with JSON: {"tasks": [{"step": ..., "tool": ..., "args": {...}}]}.
Rules:
- One task per thing the request asks for, in the order they must happen. "step" says in a few words what
  the task does; "tool" is the listed tool that does exactly that.
- Use only the tools listed, with their argument names. Arguments marked ? are optional.
- Task N is the N-th task in the list (the first is task 1). When a task works on what an earlier task
  produced, its argument is <task-N>, not the original input (for example "text": "<task-1>", or
  "expression": "<task-1> - <task-2>").
- Do not add a task the request does not ask for: no task just to look at, check or describe an input first.
- Never compute numbers yourself: use a calculate task with <task-N> references.
- Only if no listed tool can serve the request: no tasks, and say why in "unsupported".

Example (with other tools: transcribe(audio), translate(text, language), speak(text)):
Request: Transcribe talk.wav, translate it into French and read the French aloud.
{"tasks": [{"step": "transcribe the recording", "tool": "transcribe", "args": {"audio": "talk.wav"}},
 {"step": "translate the transcript into French", "tool": "translate", "args": {"text": "<task-1>", "language": "French"}},
 {"step": "read the translation aloud", "tool": "speak", "args": {"text": "<task-2>"}}]}"""
# The worked example is in the system text and names made-up tools (never a real one); the rules and the
# example come before the tool list, so every plan shares this prefix (the embedded runtime reuses its cache).
# Measured on TaskBench's HuggingFace domain (mmcrew eval plan): this prompt 63.5 node F1 / 20.5 edge F1;
# the same example given as earlier chat turns instead, 61.1 / 17.2; no example and no "step", 52.8 / 8.6.


def plan_messages(request: str, tools: Sequence[ToolSpec], *, images: Sequence[str] = (), max_tasks: int) -> list[dict]:
    listing = "\n".join(t.line() for t in tools)
    extra = ("\nImages given with the request: " + ", ".join(images)) if images else ""
    user = f"Tools:\n{listing}\n\nAt most {max_tasks} tasks.{extra}\n\nRequest: {request}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def shortlist(request: str, tools: Sequence[ToolSpec], embed: Callable[[list[str]], Any], k: int) -> list[ToolSpec]:
    """The ``k`` tools whose ``name: description`` is nearest the request (cosine, most similar first).

    A long tool list is slow to read and confuses a small model: on UltraTool's 260 tools the 30
    nearest by all-MiniLM-L6-v2 hold 90% of the tools the gold plans use, on TMDB's 46 tools 98%
    (``mmcrew eval plan``). ``embed`` maps texts to vectors (rows)."""
    if len(tools) <= k:
        return list(tools)
    import numpy as np

    vecs = np.asarray(embed([request, *(f"{t.name}: {t.description}" for t in tools)]), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-9
    order = np.argsort(-(vecs[1:] @ vecs[0]), kind="stable")[:k]
    return [tools[int(j)] for j in order]


def make_plan(
    request: str,
    tools: Sequence[ToolSpec],
    model: Any,
    *,
    max_tasks: int = 8,
    max_retries: int = 2,
    images: Sequence[str] = (),
    roots: Sequence[Path] = (),
    on_attempt: Callable[[int, str, str | None], None] | None = None,
) -> Plan:
    """A validated plan for ``request`` over ``tools``, or ``PlanError`` (nothing runs)."""
    if not tools:
        raise PlanError("no tools to plan with")
    schema = _schema_model(tools, max_tasks)
    last: list[str] = []

    def valid(plan: Plan) -> None:
        nonlocal last
        last = check_plan(plan, tools, max_tasks=max_tasks, roots=roots)
        if last:
            raise ValidationFailed("; ".join(last[:5]))

    try:
        got = structured(
            model, plan_messages(request, tools, images=images, max_tasks=max_tasks), schema,
            validators=[valid], max_retries=max_retries, on_attempt=on_attempt,
        )  # fmt: skip
    except StructuredOutputError as e:
        raise PlanError(f"no valid plan after {max_retries + 1} attempt(s): {'; '.join(last[:3]) or e}", last) from e
    tasks = [PlanTask(step=t.step, tool=t.tool, args=dict(t.args)) for t in got.tasks]
    return Plan(tasks=tasks, unsupported="" if tasks else got.unsupported.strip())


# --- the step ---------------------------------------------------------------------------------------


class PlanInputs(StepInputs):
    request: str = Field(..., min_length=1, max_length=2000, description="what the user wants done")
    images: list[str] = Field(default_factory=list, description="image files that come with the request")
    tools: str = Field("", description="only these registered tools, comma-separated (empty: all)")


class PlanOutput(StepOutput):
    request: str
    plan: Plan
    tools: list[str]
    attempts: int

    def result_fields(self) -> dict[str, Any]:
        lines = [f"{i}. {t.tool}({', '.join(f'{k}={v!r}' for k, v in t.args.items())})"
                 for i, t in enumerate(self.plan.tasks, 1)]  # fmt: skip
        return {"text": "\n".join(lines)}


@step("make_plan", "Plan a request as a validated task graph over the registered tools", PlanInputs, "check",
      tool=False)  # fmt: skip
def make_plan_step(inputs: PlanInputs, deps: Deps) -> PlanOutput:
    s = deps.settings
    images = [str(Path(p).expanduser().resolve()) for p in inputs.images]
    missing = [p for p, full in zip(inputs.images, images, strict=True) if not Path(full).is_file()]
    if missing:
        raise InputError(f"no such image: {', '.join(missing)}")
    wanted = [n.strip() for n in inputs.tools.split(",") if n.strip()] or None
    tools = registry_tools(wanted)
    if wanted and len(tools) != len(wanted):
        known = ", ".join(t.name for t in registry_tools())
        raise InputError(f"unknown tool(s) {set(wanted) - {t.name for t in tools}}; the planner's tools: {known}")
    roots = [s.knowledge_path, s.outputs_path, *{Path(p).parent for p in images}]
    attempts = Attempts("plan", deps.step)
    if len(tools) > s.plan_max_tools:  # plug-in tools can make the list long
        from ..knowledge.embedder import get_embedder

        tools = shortlist(inputs.request, tools, get_embedder(s).embed, s.plan_max_tools)

    deps.step("planning")
    plan = make_plan(
        inputs.request, tools, deps.model, max_tasks=s.plan_max_tasks, max_retries=s.max_retries,
        images=images, roots=roots, on_attempt=attempts,
    )  # fmt: skip
    return PlanOutput(request=inputs.request, plan=plan, tools=[t.name for t in tools], attempts=attempts.n)
