"""Checks of a YAML flow before anything runs, each failing with one line naming the file,
the method and the problem: unknown steps, ``${state.x}`` / ``${outputs.m}`` references that
cannot resolve, listens to nothing, cycles, and unknown ``crewai run --inputs`` keys.

CrewAI checks the YAML's shape and CEL syntax when it loads a definition; these are the
checks it does not make.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import FlowDefinitionError, InputError

__all__ = ["check_definition", "check_cli_inputs", "state_fields", "step_refs"]

_STEPS_MODULE = "multimodal_crew.steps"
CONFIGURED_REF = "config.llms.CONFIGURED"  # config/llms.py: the model the settings select
TOOLS_REF = "multimodal_crew.steps.tools:"  # + a registered step: that step as an agent's tool
_REF = re.compile(r"\b(state|outputs)\.([A-Za-z_]\w*)")
_TEMPLATE = re.compile(r"\$\{(.*?)\}")


def state_fields(definition: Any) -> set[str] | None:
    """The flow's input names, from its state model or JSON schema (None: not known)."""
    state = definition.state
    if state is None:
        return None
    if getattr(state, "type", "") == "pydantic" and getattr(state, "ref", None):
        from crewai.utilities.declarative_refs import resolve_ref

        model = resolve_ref(state.ref, field="state.ref")
        return {f for f in model.model_fields if f != "id"}
    schema = getattr(state, "json_schema", None) or {}
    props = schema.get("properties")
    return set(props) if isinstance(props, dict) else None


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def listened(condition: Any) -> set[str]:
    """Method or event names a ``listen`` condition waits for."""
    if condition is None:
        return set()
    if isinstance(condition, str):
        return {condition}
    if hasattr(condition, "model_dump"):
        condition = condition.model_dump()
    return {s for s in _strings(condition) if re.fullmatch(r"[A-Za-z_]\w*", s) and s not in ("OR", "AND", "or", "and")}


def step_refs(definition: Any) -> dict[str, str]:
    """Method name -> registered step name, for every ``call: code`` into ``multimodal_crew.steps``."""
    out = {}
    for name, method in definition.methods.items():
        ref = getattr(method.do, "ref", None)
        if getattr(method.do, "call", "") == "code" and isinstance(ref, str) and ref.startswith(_STEPS_MODULE + ":"):
            out[name] = ref.split(":", 1)[1]
    return out


def _expressions(method: Any) -> list[str]:
    do = method.do
    found: list[str] = []
    for attr in ("with_", "inputs"):
        value = getattr(do, attr, None)
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        for s in _strings(value):
            found += _TEMPLATE.findall(s)
    expr = getattr(do, "expr", None)
    if isinstance(expr, str):
        found.append(expr)
    return found


def _agents(do: Any) -> list[tuple[str, dict]]:
    """(agent name, its definition) for each agent a `call: agent` or inline `call: crew` action defines."""
    call = getattr(do, "call", "")
    if call not in ("agent", "crew") or getattr(do, "with_", None) is None:
        return []
    data = do.with_.model_dump(exclude_none=True) if hasattr(do.with_, "model_dump") else dict(do.with_)
    agents = {"agent": data} if call == "agent" else data.get("agents") or {}
    if isinstance(agents, list):
        agents = {str(a.get("name", i)): a for i, a in enumerate(agents)}
    return list(agents.items())


def check_definition(definition: Any, path: Path | str | None = None) -> None:
    """Raise ``FlowDefinitionError`` for the first problem of a loaded ``crewai.flow/v1`` definition."""
    from .registry import all_steps

    where = str(path or getattr(definition, "source_path", None) or definition.name)

    def fail(method: str | None, problem: str) -> None:
        raise FlowDefinitionError(f"{where}: " + (f"method {method!r}: " if method else "") + problem)

    methods = definition.methods
    starts = [n for n, m in methods.items() if m.is_start]
    if len(starts) != 1:
        fail(None, f"a flow needs exactly one method with `start: true`; found {len(starts)}")
    registered = all_steps()
    refs = step_refs(definition)
    for method, name in refs.items():
        if name not in registered:
            fail(method, f"unknown step {name!r}; registered steps: {', '.join(sorted(registered))}")
        model = registered[name].input_model
        given = getattr(methods[method].do, "with_", None) or {}
        known = [f for f in model.model_fields if f != "id"]
        for key in given:
            if key not in model.model_fields:
                fail(method, f"step {name!r} has no input {key!r}; its inputs are: {', '.join(known)}")
        for key, info in model.model_fields.items():
            if info.is_required() and key not in given:
                fail(method, f"step {name!r} needs the input {key!r} under `with:`")
    # events: router emits name the branches; a listen must name a method or an emitted event
    emitted: dict[str, str] = {}
    for name, m in methods.items():
        for event in m.emit or []:
            emitted[event] = name
    parents: dict[str, set[str]] = {}
    for name, m in methods.items():
        ups = set()
        for target in listened(m.listen):
            if target in methods:
                ups.add(target)
            elif target in emitted:
                ups.add(emitted[target])
            else:
                fail(name, f"listens to {target!r}, which is neither a method nor an event a router emits")
        parents[name] = ups
    # cycles
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            loop = trail[trail.index(n) :] + [n]
            fail(n, "the methods listen to each other in a cycle: " + " -> ".join(loop))
        state[n] = 1
        for p in sorted(parents[n]):
            visit(p, [*trail, n])
        state[n] = 2

    for n in methods:
        visit(n, [])

    def ancestors(n: str) -> set[str]:
        seen: set[str] = set()
        todo = list(parents[n])
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo += parents[p]
        return seen

    for name, m in methods.items():
        for agent, a in _agents(m.do):
            if (a.get("llm") or (a.get("settings") or {}).get("llm")) in (None, "", {}):
                fail(name, f"agent {agent!r} names no llm, so CrewAI would use its default OpenAI model; "
                     f"set `settings: {{llm: {{python: {CONFIGURED_REF}}}}}` (the configured model)")  # fmt: skip
            for ref in a.get("tools") or []:
                tool = ref.removeprefix(TOOLS_REF) if isinstance(ref, str) and ref.startswith(TOOLS_REF) else None
                if tool is not None and not (tool in all_steps() and all_steps()[tool].tool):
                    offered = ", ".join(sorted(n for n, st in all_steps().items() if st.tool))
                    fail(name, f"agent {agent!r}: tool {ref!r} is not a registered tool step (tools: {offered})")

    ends = [n for n in methods if not any(n in parents[m] for m in methods)]
    if ends and not all(refs.get(n) == "finish" for n in ends):
        bad = next(n for n in ends if refs.get(n) != "finish")
        fail(bad, "a flow ends with the `finish` step (the one result shape); this method runs last but is not it")
    for name in ends:
        result_of = (getattr(methods[name].do, "with_", None) or {}).get("result_of")
        upstream = {refs.get(a) for a in ancestors(name)}
        if isinstance(result_of, str) and "${" not in result_of and result_of not in upstream:
            fail(
                name,
                f"result_of {result_of!r} is no step that runs before it ({', '.join(sorted(x for x in upstream if x))})",
            )

    fields = state_fields(definition)
    for name, m in methods.items():
        ups = ancestors(name)
        for expr in _expressions(m):
            for root, key in _REF.findall(expr):
                if root == "state" and fields is not None and key not in fields and key != "id":
                    fail(
                        name,
                        f"${{state.{key}}}: the flow has no input {key!r}; its inputs are: {', '.join(sorted(fields))}",
                    )
                if root == "outputs" and key not in ups:
                    why = (
                        "no method has that name" if key not in methods else "that method does not run before this one"
                    )
                    fail(name, f"${{outputs.{key}}}: {why}")


def check_cli_inputs(definition: Any, argv: list[str]) -> None:
    """Under ``crewai run --inputs JSON``, CrewAI warns of an unknown key and drops it; a typo then
    runs the flow on its defaults. Refuse it instead."""
    raw = next((a.split("=", 1)[1] for a in argv if a.startswith("--inputs=")), None)
    if raw is None:
        if "--inputs" not in argv[:-1]:
            return
        raw = argv[argv.index("--inputs") + 1]
    try:
        given = json.loads(raw)
    except json.JSONDecodeError:
        return  # CrewAI has refused it already
    fields = state_fields(definition)
    if not isinstance(given, dict) or fields is None:
        return
    unknown = sorted(k for k in given if k not in fields and k != "id")
    if unknown:
        raise InputError(
            f"flow {definition.name!r} has no input {unknown[0]!r}; its inputs are: {', '.join(sorted(fields))}"
        )
