"""`--inputs-file` takes a flat file of one flow's inputs, or a file with one section per flow."""

from pathlib import Path

from multimodal_crew.inputs import resolve_inputs

ROOT = Path(__file__).resolve().parents[2]


def test_a_file_with_one_section_per_flow_gives_the_flows_section(tmp_path):
    f = tmp_path / "in.yaml"
    f.write_text("report:\n  start_date: '2024-01-01'\n  end_date: '2024-01-31'\nask:\n  question: Why?\n")
    assert resolve_inputs("report", file=f) == {"start_date": "2024-01-01", "end_date": "2024-01-31"}
    assert resolve_inputs("ask", file=f) == {"question": "Why?"}


def test_a_flat_inputs_file_is_taken_as_it_is(tmp_path):
    f = tmp_path / "in.yaml"
    f.write_text("start_date: '2024-02-01'\nend_date: '2024-02-29'\n")
    assert resolve_inputs("report", file=f) == {"start_date": "2024-02-01", "end_date": "2024-02-29"}
