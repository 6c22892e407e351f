"""Bad settings, an unusable state folder, a bad ``-k`` and an image URL: one line and an exit code.

A setting with an invalid value is a ``ConfigError`` (exit 3) naming the variable, the value and
what is allowed, from every command; ``mmcrew doctor`` shows every problem as a FAIL row and
never a traceback. The CLI cases run the real ``mmcrew`` console script in a subprocess.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import typer

from multimodal_crew import doctor
from multimodal_crew.errors import ConfigError
from multimodal_crew.settings import Settings, ensure_dir, get_settings, state_folder_error
from multimodal_crew.vision.images import ImageError, load_image
from tests.fakes import FakeOpenAIServer, assert_one_line_error, mmcrew

ROOT = Path(__file__).resolve().parents[2]
WIDE = {"COLUMNS": "300"}  # doctor's table on one line per row


# --- settings ------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ("MMCREW_TOP_K", "abc", "a whole number from 1 to 50"),
    ("MMCREW_TOP_K", "0", "a whole number from 1 to 50"),
    ("MMCREW_N_CTX", "abc", "a whole number from 512 to 32768"),
    ("MMCREW_CHUNK_SIZE", "1", "a whole number from 200 to 8000"),
    ("MMCREW_MAX_FILE_MB", "-1", "a number greater than 0"),
    ("MMCREW_CHUNK_OVERLAP", "500", "less than half of MMCREW_CHUNK_SIZE=1000, at most 499"),
    ("MMCREW_CHUNK_OVERLAP", "-1", "a whole number, 0 or more"),
    ("MMCREW_N_THREADS", "-2", "a whole number, 0 or more"),
    ("MMCREW_MAX_RETRIES", "-1", "a whole number from 0 to 10"),
    ("MMCREW_MAX_TOKENS", "0", "a whole number, 1 or more"),
    ("MMCREW_REQUEST_TIMEOUT", "0", "a number greater than 0"),
    ("MMCREW_TEMPERATURE", "-0.5", "a number from 0 to 2"),
    ("EMBEDDED_MODEL", "qwen-huge", "one of: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"),
    ("MMCREW_TOOLS_BEFORE_ANSWER", "maybe", "true or false"),
]


@pytest.mark.parametrize("name, value, allowed", BAD_SETTINGS)
def test_a_bad_setting_is_one_config_error_line(monkeypatch, name, value, allowed):
    with monkeypatch.context() as m, pytest.raises(ConfigError) as info:  # undone before conftest re-reads
        m.setenv(name, value)
        get_settings(refresh=True)
    msg = str(info.value)
    assert "\n" not in msg and info.value.exit_code == 3
    assert f"{name}={value} is not allowed" in msg and allowed in msg, msg
    assert "pydantic" not in msg and "validation error" not in msg
    assert info.value.__suppress_context__  # no pydantic traceback chained under it


def test_the_first_problem_is_reported_when_there_are_several(monkeypatch):
    with monkeypatch.context() as m, pytest.raises(ConfigError, match=r"^MMCREW_N_CTX=abc is not") as info:
        m.setenv("MMCREW_TOP_K", "abc")
        m.setenv("MMCREW_N_CTX", "abc")
        get_settings(refresh=True)
    assert "\n" not in str(info.value)


def test_overlap_just_under_half_a_chunk_is_allowed(monkeypatch):
    monkeypatch.setenv("MMCREW_CHUNK_SIZE", "1000")
    monkeypatch.setenv("MMCREW_CHUNK_OVERLAP", "499")
    assert get_settings(refresh=True).chunk_overlap == 499


def test_the_defaults_in_env_example_are_valid(monkeypatch):
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.M))
    for k, v in values.items():
        if k != "MMCREW_HOME":  # the tests' own state folder stays
            monkeypatch.setenv(k, v)
    s = Settings(_env_file=None)
    assert (s.top_k, s.chunk_size, s.chunk_overlap, s.max_file_mb) == (5, 1000, 150, 100.0)


# --- the state folder -----------------------------------------------------------------------------


def test_a_home_under_a_regular_file_is_a_config_error_naming_the_file(tmp_path, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MMCREW_HOME", str(blocker / "x"))
    s = get_settings(refresh=True)
    with pytest.raises(ConfigError) as info:
        ensure_dir(s.outputs_path / "eval")
    msg = str(info.value)
    assert "\n" not in msg and f"MMCREW_HOME={blocker / 'x'}" in msg and f"{blocker} is a file, not a folder" in msg
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        ensure_dir(blocker)  # the folder itself is a file


def test_an_os_error_inside_the_home_becomes_a_config_error_and_others_do_not(tmp_path, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    monkeypatch.setenv("MMCREW_HOME", str(blocker / "x"))
    get_settings(refresh=True)
    inside = NotADirectoryError(20, "Not a directory", str(blocker / "x" / "knowledge" / "store"))
    assert isinstance(state_folder_error(inside), ConfigError)
    elsewhere = NotADirectoryError(20, "Not a directory", "/somewhere/else")
    assert state_folder_error(elsewhere) is None
    assert state_folder_error(ValueError("x")) is None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write to any folder")
def test_an_unwritable_home_is_a_config_error(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("MMCREW_HOME", str(locked))
    try:
        with pytest.raises(ConfigError, match="MMCREW_HOME=.*cannot be used"):
            ensure_dir(get_settings(refresh=True).home_path)
    finally:
        locked.chmod(0o700)


# --- what the user sees ----------------------------------------------------------------------------


def _commands() -> list[list[str]]:
    """Every command of the CLI (except doctor) with placeholder values for what it requires."""
    from multimodal_crew.cli import app

    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    found: list[list[str]] = []

    def walk(cmd, path):
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])
            return
        args = list(path)
        for p in cmd.params:
            if p.required:
                args += [p.opts[0], "x.jsonl"] if p.param_type_name == "option" else ["x"]
        found.append(args)

    walk(root, [])
    return [c for c in found if c != ["doctor"]]


COMMANDS = _commands()
# the reported cases, spread over the commands (each command gets one)
REPORTED = [
    ("MMCREW_TOP_K", "abc", "1 to 50"),
    ("MMCREW_N_CTX", "abc", "512 to 32768"),
    ("MMCREW_CHUNK_SIZE", "1", "200 to 8000"),
    ("MMCREW_MAX_FILE_MB", "-1", "greater than 0"),
    ("MMCREW_CHUNK_OVERLAP", "600", "less than half of MMCREW_CHUNK_SIZE"),
]


def test_the_command_list_is_complete():
    names = {" ".join(c[:2]) if c[0] in ("model", "eval", "schedule") else c[0] for c in COMMANDS}
    assert {"run", "see", "ingest", "kb", "search", "ask", "research", "flows", "model list", "model fetch",
            "eval rag", "schedule start", "schedule list"} <= names  # fmt: skip


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_reports_a_bad_setting_in_one_line_with_exit_3(args, state_home):
    name, value, allowed = REPORTED[COMMANDS.index(args) % len(REPORTED)]
    proc = mmcrew(*args, env={name: value}, timeout=60)
    assert_one_line_error(proc, 3, f"{name}={value} is not allowed", allowed)
    assert not state_home.exists()  # nothing was started


@pytest.fixture
def bad_home(tmp_path, monkeypatch) -> Path:
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file")
    home = blocker / "x"
    monkeypatch.setenv("MMCREW_HOME", str(home))
    get_settings(refresh=True)
    return home


@pytest.mark.parametrize(
    "args",
    [
        ["kb"],
        ["search", "anything"],
        ["ingest"],
        ["eval", "vision", "--limit", "1"],
        ["schedule", "history"],
        ["model", "fetch"],
    ],
    ids=" ".join,
)
def test_an_unusable_home_is_one_config_error_line(args, bad_home):
    # model fetch: the models folder follows MMCREW_HOME, and fails before any download
    proc = mmcrew(*args, env={"MMCREW_HOME": str(bad_home), "MMCREW_MODELS_DIR": ""})
    assert_one_line_error(proc, 3, "MMCREW_HOME", str(bad_home))


def test_a_flow_with_an_unusable_home_is_one_config_error_line(bad_home):
    reply = '{"summary": "Berlin had the largest total, 127072 active users, in January 2024.", "top_city": "Berlin"}'
    with FakeOpenAIServer([reply]) as srv:
        proc = mmcrew("run", "report", env={"MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1"})
    assert_one_line_error(proc, 3, f"MMCREW_HOME={bad_home} cannot be used", "is a file, not a folder")


def _doctor_rows(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[1] in ("ok", "FAIL", "info"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def _doctor(env: dict, tmp_path: Path) -> dict[str, tuple[str, str]]:
    # an empty models folder: doctor stops at "model file not fetched yet" instead of loading the model
    proc = mmcrew("doctor", env={**WIDE, "MMCREW_MODELS_DIR": str(tmp_path / "no-models"), **env})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr and not proc.stderr.strip(), proc.stderr
    return _doctor_rows(proc.stdout)


def test_doctor_shows_a_bad_home_as_failed_rows(bad_home, tmp_path):
    rows = _doctor({"MMCREW_HOME": str(bad_home)}, tmp_path)
    assert rows["storage writable"][0] == "FAIL" and "is a file, not a folder" in rows["storage writable"][1]
    assert rows["knowledge index"][0] == "FAIL" and str(bad_home) in rows["knowledge index"][1]
    assert rows["config/schedules.yaml"] == ("ok", "parses")  # the other checks still ran
    assert rows["config/flows/ask.yaml"][0] == "ok" and "check out" in rows["config/flows/ask.yaml"][1]


def test_doctor_shows_a_bad_setting_as_a_failed_row(tmp_path):
    rows = _doctor({"MMCREW_TOP_K": "abc"}, tmp_path)
    assert rows["settings"] == ("FAIL", "MMCREW_TOP_K=abc is not allowed: use a whole number from 1 to 50 "
                                        "(set in the environment or in .env)")  # fmt: skip


def _corrupt_catalog(home: Path) -> Path:
    from multimodal_crew.knowledge.ingest import embedder_name_for
    from multimodal_crew.knowledge.store import store_dir

    s = get_settings(refresh=True)
    folder = store_dir(s.index_path, embedder_name_for(s))
    folder.mkdir(parents=True)
    (folder / "catalog.sqlite").write_bytes(b"\x00garbage, not sqlite\xff" * 256)
    return folder


def test_doctor_shows_a_corrupt_knowledge_catalog_as_a_failed_row(state_home, tmp_path):
    _corrupt_catalog(state_home)
    rows = _doctor({}, tmp_path)
    assert rows["knowledge index"][0] == "FAIL", rows
    assert rows["storage writable"][0] == "ok"


def test_doctor_turns_any_exception_of_a_check_into_a_failed_row(state_home, monkeypatch):
    import sqlite3

    from multimodal_crew.knowledge import ingest

    def boom(s):
        raise RuntimeError("boom\non two lines")

    def damaged(s=None):  # the store as it was: sqlite's own error, not a ConfigError
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(doctor, "_data_rows", boom)
    monkeypatch.setattr(ingest, "open_store", damaged)
    monkeypatch.setattr(doctor, "_embedded_rows", lambda s, load: [])
    monkeypatch.setattr(doctor, "_vision_rows", lambda s, load: [])
    rows = {name: (ok, detail) for name, ok, detail in doctor.run_checks(load_model=False)}
    assert rows["report data"] == (False, "RuntimeError: boom on two lines")
    assert rows["knowledge index"] == (False, "DatabaseError: file is not a database")
    assert rows["config/schedules.yaml"] == (True, "parses")  # the checks after them still ran


@pytest.mark.parametrize("k", ["0", "-3", "51"])
def test_search_k_out_of_range_is_a_usage_error(k, state_home):
    proc = mmcrew("search", "anything", "-k", k)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Invalid value for '-k'" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert not proc.stdout.strip()  # no hits were shown


def test_an_image_url_is_refused_as_given(state_home):
    url = "http://127.0.0.1:9/chart.png"
    assert_one_line_error(mmcrew("see", url, "what does it show?"), 2, url, "URLs are not supported", "local path")
    with pytest.raises(ImageError, match=re.escape("image https://example.com/a.png is a URL")):
        load_image("https://example.com/a.png")


def test_image_messages_name_the_file_as_given(tmp_path):
    given = f"{tmp_path}//none.png"
    with pytest.raises(ImageError) as info:
        load_image(given)
    assert str(info.value) == f"image {given} does not exist"


# -- the storage rows: where the catalog, history and vectors live, and whether their servers answer --
def _storage_doctor(monkeypatch) -> dict:
    monkeypatch.setattr(doctor, "_embedded_rows", lambda s, load: [])
    monkeypatch.setattr(doctor, "_vision_rows", lambda s, load: [])
    get_settings(refresh=True)
    return {name: (ok, detail) for name, ok, detail in doctor.run_checks(load_model=False)}


def test_doctor_says_the_storage_is_local_by_default(state_home, monkeypatch):
    rows = _storage_doctor(monkeypatch)
    assert rows["database"][0] is None and "SQLite" in rows["database"][1] and str(state_home) in rows["database"][1]
    assert rows["vector store"][0] is None and "Chroma folder" in rows["vector store"][1]


def test_doctor_shows_unreachable_database_and_chroma_servers_as_failed_rows(state_home, monkeypatch):
    from tests.fakes import free_port

    db_port, chroma_port = free_port(), free_port()
    monkeypatch.setenv("MMCREW_DATABASE_URL", f"postgresql://mmcrew:s3cret@127.0.0.1:{db_port}/mmcrew")
    monkeypatch.setenv("MMCREW_CHROMA_URL", f"http://127.0.0.1:{chroma_port}")
    rows = _storage_doctor(monkeypatch)
    ok, detail = rows["database"]
    assert ok is False and f"127.0.0.1:{db_port}" in detail and "cannot be used" in detail and "s3cret" not in detail
    ok, detail = rows["vector store"]
    assert ok is False and f"127.0.0.1:{chroma_port}" in detail and "cannot be used" in detail
    assert "\n" not in detail
