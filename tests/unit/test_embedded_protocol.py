"""The embedded model's tool-step protocol, without loading a model."""

import json

from multimodal_crew.models.embedded import EmbeddedLLM, render_messages, tool_step_schema

TOOL = {
    "type": "function",
    "function": {
        "name": "report_query",
        "description": "q",
        "parameters": {"type": "object", "properties": {"start_date": {"type": "string"}}, "required": ["start_date"]},
    },
}


def test_before_any_tool_result_only_tool_calls_are_allowed():
    schema = tool_step_schema([TOOL], allow_final=False)
    assert schema["properties"]["tool"] == {"const": "report_query"}
    assert "final_answer" not in json.dumps(schema)


def test_after_a_tool_result_the_final_answer_is_offered():
    schema = tool_step_schema([TOOL], allow_final=True)
    kinds = [set(o["required"]) for o in schema["anyOf"]]
    assert kinds == [{"tool", "arguments"}, {"final_answer"}]


def test_tool_history_is_rendered_as_plain_turns():
    history = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "report_query", "arguments": '{"start_date": "x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "report_query", "content": "| a |"},
        {"role": "user", "content": "go on"},
    ]
    out = render_messages(history)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert json.loads(out[2]["content"]) == {"tool": "report_query", "arguments": {"start_date": "x"}}
    assert out[3]["content"].startswith("Result of report_query:\n| a |") and out[3]["content"].endswith("go on")


class _Recorder(EmbeddedLLM):
    """EmbeddedLLM with generate() replaced: records the schema, returns a scripted step."""

    def generate(self, messages, *, schema=None, max_tokens=None, temperature=None, stop=None):
        from multimodal_crew.models.embedded import Completion

        self.__dict__.setdefault("_log", []).append((messages, schema))
        reply = self.__dict__["_replies"].pop(0)
        return Completion(reply, 1, 1, 0.01)


def _llm(*replies):
    llm = _Recorder(model="embedded/test", model_path="/nonexistent.gguf")
    llm.__dict__["_replies"] = list(replies)
    return llm


def test_call_returns_openai_style_tool_calls_then_the_final_answer():
    llm = _llm('{"tool": "report_query", "arguments": {"start_date": "2024-01-01"}}', '{"final_answer": "done"}')
    first = llm.call([{"role": "user", "content": "task"}], tools=[TOOL])
    assert first[0]["type"] == "function" and first[0]["function"]["name"] == "report_query"
    assert json.loads(first[0]["function"]["arguments"]) == {"start_date": "2024-01-01"}
    history = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": None, "tool_calls": first},
        {"role": "tool", "tool_call_id": first[0]["id"], "content": "rows"},
    ]
    assert llm.call(history, tools=[TOOL]) == "done"
    first_schema, second_schema = llm.__dict__["_log"][0][1], llm.__dict__["_log"][1][1]
    assert "anyOf" not in first_schema and "anyOf" in second_schema


SEARCH = {
    "type": "function",
    "function": {
        "name": "knowledge_search",
        "description": "Search the documents.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "what to look for, in a few words"}},
            "required": ["query"],
        },
    },
}
RESULT = [
    {"role": "user", "content": "task"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "knowledge_search", "arguments": "{}"}}],
    },  # fmt: skip
    {"role": "tool", "tool_call_id": "c1", "content": "passages"},
]


def test_a_copied_argument_description_is_sent_back_once():
    llm = _llm(
        '{"tool": "knowledge_search", "arguments": {"query": "What to look for, in a few words."}}',
        '{"tool": "knowledge_search", "arguments": {"query": "roof drains"}}',
    )
    out = llm.call([{"role": "user", "content": "task"}], tools=[SEARCH])
    assert json.loads(out[0]["function"]["arguments"]) == {"query": "roof drains"}
    feedback = llm.__dict__["_log"][1][0][-1]["content"]
    assert "description of query" in feedback
    assert "query (string, required): what to look for" in llm.__dict__["_log"][0][0][0]["content"]


def test_a_cut_off_step_is_sampled_once_more_then_fails_loudly():
    import pytest

    from multimodal_crew.errors import ModelBehaviorError

    llm = _llm('{"final_answer": "loop loop loop', '{"final_answer": "short"}')
    assert llm.call(RESULT, tools=[SEARCH]) == "short"
    llm = _llm('{"final_answer": "loop', '{"final_answer": "loop')
    with pytest.raises(ModelBehaviorError, match="broke its tool-step grammar twice"):
        llm.call(RESULT, tools=[SEARCH])


def test_a_task_output_model_becomes_the_final_answer_schema():
    from pydantic import BaseModel

    class Item(BaseModel):
        page: int

    class Items(BaseModel):
        items: list[Item]

    class Task:
        output_pydantic = Items

    llm = _llm('{"final_answer": {"items": [{"page": 2}]}}')
    assert json.loads(llm.call(RESULT, tools=[SEARCH], from_task=Task())) == {"items": [{"page": 2}]}
    schema = llm.__dict__["_log"][0][1]
    assert "Item" in schema["$defs"] and schema["anyOf"][1]["properties"]["final_answer"]["properties"]["items"]
