"""The greedy grammar sampler gives exactly what llama-cpp-python's own chain gives."""

import json
from typing import Literal

import pytest
from llama_cpp import Llama, LlamaGrammar
from pydantic import BaseModel

from multimodal_crew.models.runtime import get_runtime

pytestmark = pytest.mark.integration


class Pick(BaseModel):
    reason: str
    colour: Literal["teal", "magenta", "ochre"]
    count: int


PROMPTS = [
    "Pick a colour for a bank logo and say why, with a count of 3.",
    "Reply in prose, not JSON: what is the capital of France?",  # the first choice breaks the grammar
]


def test_same_output_as_the_stock_sampler_and_the_fallback_is_exercised():
    fast = get_runtime().llm._llama()
    stock = Llama(model_path=fast.model_path, n_ctx=2048, n_threads=fast.n_threads, seed=0, verbose=False)
    grammar = LlamaGrammar.from_json_schema(json.dumps(Pick.model_json_schema()), verbose=False)
    full_passes = 0
    for prompt in PROMPTS:
        msgs = [{"role": "user", "content": prompt}]
        kw = dict(messages=msgs, grammar=grammar, temperature=0.0, max_tokens=80, seed=0)
        a = stock.create_chat_completion(**kw)["choices"][0]["message"]["content"]
        b = fast.create_chat_completion(**kw)["choices"][0]["message"]["content"]
        assert a == b
        assert b.lstrip().startswith("{")  # (max_tokens may cut it short; equality is the point)
        full_passes += fast.last_grammar_sampler.full_passes
    stock.close()
    assert full_passes > 0  # the whole-vocabulary path ran and agreed too
