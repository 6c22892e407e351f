import json

import pytest
from pydantic import BaseModel, Field

from multimodal_crew.errors import StructuredOutputError
from multimodal_crew.models.structured import ValidationFailed, structured
from tests.fakes import ScriptedModel


class City(BaseModel):
    city: str
    users: int = Field(ge=0)


def test_valid_first_answer_is_returned_and_schema_is_sent():
    model = ScriptedModel({"city": "Osaka", "users": 12})
    got = structured(model, "Which city?", City, max_retries=2)
    assert got == City(city="Osaka", users=12)
    messages, schema, name = model.requests[0]
    assert name == "City" and schema == City.model_json_schema()
    assert messages == [{"role": "user", "content": "Which city?"}]


def test_validation_error_is_fed_back_and_retried():
    model = ScriptedModel({"city": "Osaka", "users": -3}, {"city": "Osaka", "users": 3})
    got = structured(model, [{"role": "user", "content": "q"}], City, max_retries=2)
    assert got.users == 3
    second = model.requests[1][0]
    assert second[-2] == {"role": "assistant", "content": json.dumps({"city": "Osaka", "users": -3})}
    assert "users" in second[-1]["content"] and "greater than or equal to 0" in second[-1]["content"]


def test_semantic_validator_message_goes_back_verbatim():
    def only_berlin(c: City):
        if c.city != "Berlin":
            raise ValidationFailed(f"{c.city!r} is not in the table")

    model = ScriptedModel({"city": "Paris", "users": 1}, {"city": "Berlin", "users": 1})
    assert structured(model, "q", City, validators=[only_berlin], max_retries=1).city == "Berlin"
    assert "'Paris' is not in the table" in model.requests[1][0][-1]["content"]


def test_malformed_every_time_raises_typed_error_with_attempts_and_last_raw():
    model = ScriptedModel("not json at all", '{"city": "Osaka"', "{]")
    with pytest.raises(StructuredOutputError) as info:
        structured(model, "q", City, max_retries=2)
    e = info.value
    assert len(e.attempts) == 3 and len(model.requests) == 3
    assert e.last_raw == "{]"
    assert "not valid JSON" in e.attempts[0].error
    assert "after 3 attempt(s)" in str(e) and "\n" not in str(e)


def test_zero_retries_means_one_attempt():
    model = ScriptedModel("nope")
    with pytest.raises(StructuredOutputError):
        structured(model, "q", City, max_retries=0)
    assert len(model.requests) == 1


def test_raw_control_characters_in_strings_are_tolerated():
    # llama.cpp's grammar lets a raw newline into a JSON string
    model = ScriptedModel('{"city": "Os\naka", "users": 1}')
    assert structured(model, "q", City, max_retries=0).city == "Os\naka"


def test_never_returns_none():
    class Maybe(BaseModel):
        value: int

    model = ScriptedModel("null")
    with pytest.raises(StructuredOutputError):
        structured(model, "q", Maybe, max_retries=0)


def test_a_cut_off_reply_is_told_to_be_shorter():
    model = ScriptedModel('{"city": "Osaka osaka osaka osaka', {"city": "Osaka", "users": 1})
    structured(model, "q", City, max_retries=1)
    assert "cut off" in model.requests[1][0][-1]["content"] and "shorter" in model.requests[1][0][-1]["content"]


def test_retries_sample_at_rising_temperature():
    model = ScriptedModel("nope", "nope", {"city": "Osaka", "users": 1})
    structured(model, "q", City, max_retries=2)
    assert model.temperatures == [None, 0.3, 0.6]
