"""``calculate``: arithmetic in code, never by the model; everything else refused in one line."""

import doctest
import time

import pytest

import multimodal_crew.steps.calc as calc
from multimodal_crew.errors import InputError
from multimodal_crew.steps import Deps, call_step, get_step
from multimodal_crew.steps.calc import evaluate
from multimodal_crew.steps.tools import as_tool


def test_doctests():
    assert doctest.testmod(calc).failed == 0


@pytest.mark.parametrize(
    "expression, value",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 / 4", 2.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("2 ^ 10", 1024),  # ^ is read as a power, as people write it
        ("-3 ** 2", -9),
        ("-(-4)", 4),
        ("+5", 5),
        ("1.5e3 + .5", 1500.5),
        ("2 ** -2", 0.25),
        ("(127072 - 103188) / 103188 * 100", (127072 - 103188) / 103188 * 100),
        ("round(100 * 37 / 142, 1)", 26.1),
        ("round(2.5)", 2),
        ("min(4, 2, 9)", 2),
        ("max([1, 5, 3])", 5),
        ("sum(1, 2, 3)", 6),
        ("sum((1, 2, 3)) / 3", 2.0),
        ("abs(-3.5)", 3.5),
        ("  12  ", 12),
    ],
)
def test_arithmetic(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("__import__('os').system('true')", "is not allowed; allowed: round, min, max, abs, sum"),
        ("open('/etc/passwd')", "'open' is not allowed"),
        ("(1).__class__", "is not arithmetic"),
        ("x + 1", "'x' is not a number"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("1j * 2", "is not a number"),
        ("1 < 2", "is not arithmetic"),
        ("1 if 2 else 3", "is not arithmetic"),
        ("lambda: 1", "is not arithmetic"),
        ("[i for i in (1, 2)]", "is not arithmetic"),
        ("1 << 40", "operator '1 << 40' is not allowed"),
        ("~1", "is not allowed"),
        ("[1, 2]", "is not arithmetic"),
        ("1 +", "not a valid expression"),
        ("2 +* 3", "not a valid expression"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("9 ** 9 ** 9", "exponent 387420489 is larger than 1000"),
        ("2 ** 1001", "larger than 1000"),
        ("999999 ** 1000", "more than 4300 digits"),
        ("(2 ** 1000) ** 1000", "more than 4300 digits"),
        ("1e308 * 10", "too large"),
        ("10.0 ** 400", "too large"),
        ("(-8) ** (1 / 3)", "not a real number"),
        ("round(1, 2.5)", "whole number of decimals"),
        ("round(1, 2, 3)", "round() takes"),
        ("round([1])", "not a list"),
        ("abs(1, 2)", "abs() takes one number"),
        ("max()", "max() takes numbers"),
        ("sum([1, [2]])", "is not arithmetic"),
        ("min(x=1)", "no named arguments"),
        ("1 + " * 300 + "1", "longer than 500 characters"),
        ("-" * 250 + "1", "more than 200 parts"),
    ],
)
def test_bad_input_is_one_clear_input_error(expression, message):
    with pytest.raises(InputError) as info:
        evaluate(expression)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_huge_numbers_are_refused_quickly():
    t0 = time.perf_counter()
    for e in ("9 ** 9 ** 9", "(10 ** 999) ** 999", "99 ** 999 * 99 ** 999 * 99 ** 999", "((2 ** 999) ** 9) ** 9"):
        with pytest.raises(InputError):
            evaluate(e)
    assert time.perf_counter() - t0 < 1.0


def test_the_step_and_its_tool():
    entry = get_step("calculate")
    assert entry.output == "number" and entry.tool
    out = call_step("calculate", {"expression": "(3 + 4) * 2"}, Deps())
    assert out.value == 14 and out.result_fields()["text"] == "(3 + 4) * 2 = 14"
    tool = as_tool("calculate", Deps())
    assert tool.run(expression="100 * 3 / 4") == "100 * 3 / 4 = 75.0"
    assert tool.run(expression="import os").startswith("Error: cannot calculate 'import os'")
    with pytest.raises(InputError, match="has no input 'expr'; its inputs are: expression"):
        call_step("calculate", {"expr": "1"}, Deps())


def test_mmcrew_step_runs_one_step_from_the_command_line():
    from tests.fakes import assert_one_line_error, mmcrew

    p = mmcrew("step", "calculate", "-i", "expression=(3 + 4) * 2")
    assert p.returncode == 0 and p.stdout.strip() == "(3 + 4) * 2 = 14", p.stderr
    assert '"value": 14' in mmcrew("step", "calculate", "-i", "expression=(3 + 4) * 2", "--json").stdout
    assert_one_line_error(mmcrew("step", "calculate", "-i", "expr=1"), 2, "has no input 'expr'")
    assert_one_line_error(mmcrew("step", "no_such_step"), 2, "unknown step 'no_such_step'")
