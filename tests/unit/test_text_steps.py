"""summarize and translate: checked in code, retried with the reason fed back, refused after the last try."""

from __future__ import annotations

import pytest

from multimodal_crew.errors import InputError, StructuredOutputError
from multimodal_crew.steps import Deps, call_step
from tests.fakes import ScriptedModel

TEXT = "The contractor must replace the door sensors of elevator B within 30 days of the inspection. " * 3


def test_a_summary_with_an_invented_number_is_sent_back():
    model = ScriptedModel(
        {"text": "Replace the sensors within 45 days."}, {"text": "Replace the sensors within 30 days."}
    )
    out = call_step("summarize", {"text": TEXT}, Deps(model=model))
    assert out.text == "Replace the sensors within 30 days." and out.attempts == 2
    assert "45" in model.requests[1][0][-1]["content"]


def test_a_translation_in_the_wrong_script_is_refused_after_the_last_try():
    model = ScriptedModel({"text": "Replace it within 30 days."})
    with pytest.raises(StructuredOutputError):
        call_step("translate", {"text": TEXT, "language": "Chinese"}, Deps(model=model))
    ok = ScriptedModel({"text": "承包商必须在检查后30天内更换B号电梯的门传感器。"})
    assert call_step("translate", {"text": TEXT, "language": "Chinese"}, Deps(model=ok)).text.startswith("承包商")


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(InputError, match="input 'language' of step 'translate'"):
        call_step("translate", {"text": "x", "language": "Klingon"}, Deps(model=ScriptedModel()))
    with pytest.raises(InputError, match="step 'summarize' has no input 'txt'"):
        call_step("summarize", {"txt": "x"}, Deps(model=ScriptedModel()))
