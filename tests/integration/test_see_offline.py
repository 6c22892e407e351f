"""The see flow offline, end to end: real OCR on committed images and the embedded model."""

import json
from pathlib import Path

import pytest

from multimodal_crew.flows import run_flow
from multimodal_crew.steps.vision import SeeAnswer

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[2] / "bench/data/vision"
ITEMS = {json.loads(line)["image"]: json.loads(line) for line in (DATA / "items.jsonl").read_text().splitlines()}


@pytest.mark.parametrize("image", ["images/receipt_0.png", "images/receipt_zh_0.png"])
def test_two_stage_answers_a_receipt_in_english_and_chinese(state_home, image):
    item = ITEMS[image]
    result = run_flow("see", {"image": str(DATA / image), "question": item["question"], "choices": item["choices"]})
    r = SeeAnswer.model_validate(result.data)
    assert result.status == "ok" and result.model_calls >= 2
    assert r.backend == "offline" and r.mode == "two_stage" and r.rationale
    assert r.answer in item["choices"] and r.choice_index == item["choices"].index(r.answer)
    assert r.choice_index == item["answer"], (r.answer, r.rationale)
