"""Named fake models that record what they were sent."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from crewai import BaseLLM
from pydantic import PrivateAttr

from multimodal_crew.models.embedded import tool_call


class ScriptedModel:
    """Answers ``complete_json`` with scripted raw outputs, in order (the last one repeats).

    ``requests`` holds (messages, schema, name) for every call.
    """

    def __init__(self, *responses: str | dict):
        self.responses = [r if isinstance(r, str) else json.dumps(r) for r in responses]
        self.requests: list[tuple[list[dict], dict, str]] = []
        self.temperatures: list[float | None] = []

    def complete_json(
        self, messages: list[dict], schema: dict, name: str, output_model: Any = None, temperature: float | None = None
    ) -> str:
        self.requests.append(([dict(m) for m in messages], schema, name))
        self.temperatures.append(temperature)
        i = min(len(self.requests) - 1, len(self.responses) - 1)
        return self.responses[i]

    @property
    def last_messages(self) -> list[dict]:
        return self.requests[-1][0]


class ScriptedToolLLM(BaseLLM):
    """A CrewAI LLM that plays a script of steps: a dict ``{"tool": name, "arguments": {...}}``
    becomes a native tool call, a string is a final answer. Records messages and tools per call."""

    script: list[Any] = []
    _seen: list[dict] = PrivateAttr(default_factory=list)

    def call(
        self,
        messages,
        tools=None,
        callbacks=None,
        available_functions=None,
        from_task=None,
        from_agent=None,
        response_model=None,
    ):
        snapshot = copy.deepcopy(messages)  # CrewAI appends to the same list on later steps
        self._seen.append({"messages": snapshot, "tools": tools, "response_model": response_model,
                           "output": getattr(from_task, "output_pydantic", None)})  # fmt: skip
        step = self.script[min(len(self._seen) - 1, len(self.script) - 1)]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, dict):
            return [tool_call(step["tool"], step["arguments"], f"call_{len(self._seen)}")]
        return step

    def supports_function_calling(self) -> bool:
        return True

    @property
    def seen(self) -> list[dict]:
        return list(self._seen)


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on loopback that records requests.

    ``replies`` are message contents returned in order (the last repeats).
    ``models`` is what ``GET /v1/models`` lists.
    """

    def __init__(self, replies: list[str], models: tuple[str, ...] = ("fake",)):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies = list(replies)
        self.models = models
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                if body.get("model") not in server.models:
                    self._send(404, {"error": {"message": f"model {body.get('model')!r} not found"}})
                    return
                i = min(len(server.requests) - 1, len(server.replies) - 1)
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": server.replies[i]},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HashEmbedder:
    """A named fake embedder: bag of hashed word tokens, normalised (similar texts get similar vectors).

    ``interrupt_after`` raises KeyboardInterrupt once that many texts have been embedded
    (a Ctrl-C in the middle of a file); ``delay`` sleeps per call; ``calls`` records batch sizes.
    """

    name = "fake:hash-embedder"

    def __init__(self, dim: int = 64, interrupt_after: int | None = None, delay: float = 0.0):
        self.dim = dim
        self.interrupt_after = interrupt_after
        self.delay = delay
        self.calls: list[int] = []

    def embed(self, texts: list[str]):
        import hashlib
        import time

        import numpy as np

        from multimodal_crew.knowledge.text import tokenize

        if self.interrupt_after is not None and sum(self.calls) + len(texts) > self.interrupt_after:
            raise KeyboardInterrupt
        if self.delay:
            time.sleep(self.delay)
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for tok in tokenize(t) or ["_"]:
                out[i, int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class ScriptedRuntime(ScriptedModel):
    """A runtime fake: ``complete_json`` answers from its own script (``structured()`` calls), and
    ``.llm`` is a ScriptedToolLLM for the agents of a crew."""

    def __init__(self, llm_script: list, *json_responses: str | dict):
        super().__init__(*json_responses)
        self.llm = ScriptedToolLLM(model="scripted", script=llm_script)


def run_ask(retriever, model, question: str, *, progress=None, settings=None, **inputs):
    """The ``ask`` flow (config/flows/ask.yaml) on a fake model and a given retriever; its CitedAnswer."""
    from multimodal_crew.flows import run_flow
    from multimodal_crew.steps.answer import CitedAnswer

    r = run_flow(
        "ask", {"question": question, **inputs}, model=model, retriever=retriever, progress=progress, settings=settings
    )
    return CitedAnswer.model_validate(r.data)


# -- helpers shared by test files (test files never import each other) -----------------------
ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "knowledge"
BIN = Path(sys.executable).parent
CSV = ROOT / "knowledge" / "daily_active_users.csv"


def make_store(emb):
    """A KnowledgeStore for ``emb`` under the current settings (its index folder, and the shared database
    and Chroma server when MMCREW_DATABASE_URL / MMCREW_CHROMA_URL are set)."""
    from multimodal_crew.knowledge.ingest import open_store
    from multimodal_crew.settings import get_settings

    return open_store(get_settings(refresh=True), emb.name)


def indexed_retriever(folder: Path, extra: dict[str, str] | None = None):
    """A Retriever over a copy of the good fixture documents (plus ``extra`` files: name -> text) in
    ``folder``, ingested with the HashEmbedder into the current settings' index folder."""
    import shutil

    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.knowledge.retrieval import Retriever

    shutil.copytree(FIX / "good", folder)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([folder], embedder=emb, store=store)
    return Retriever(store, emb)


def mmcrew(*args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """The real ``mmcrew`` console script in a subprocess."""
    full = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / "mmcrew"), *args], capture_output=True, text=True, env=full, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for n in needles:
        assert n in lines[0], lines[0]


def expected_totals(start: str, end: str, city: str | None = None) -> dict[str, int]:
    """Active-user totals per city computed from the CSV without the project's code."""
    import csv

    out: dict[str, int] = {}
    with open(CSV, newline="") as f:
        for rec in csv.DictReader(f):
            if start <= rec["date"] <= end and (city is None or rec["city"] == city):
                out[rec["city"]] = out.get(rec["city"], 0) + int(rec["active_users"])
    return out
