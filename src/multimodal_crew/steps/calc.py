"""``calculate``: arithmetic evaluated in code, never by the model.

Small models get sums wrong; an agent or a plan hands the expression to this step instead.
The expression is parsed with :mod:`ast` and only numbers, ``+ - * / // % **``, parentheses,
unary plus and minus, and the functions ``round min max abs sum`` are evaluated; anything else
(names, attributes, strings, comparisons, ...) is refused with one line saying what was found.
Sizes are bounded so that no expression can hang or exhaust the process.

>>> evaluate("(1200 + 300) * 2 / 3")
1000.0
>>> evaluate("round(100 * 37 / 142, 1)")
26.1
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

from pydantic import Field

from ..errors import InputError
from .registry import Deps, StepInputs, step
from .results import StepOutput

__all__ = ["Number", "CalcInputs", "evaluate", "MAX_CHARS"]

MAX_CHARS = 500  # of an expression
MAX_NODES = 200  # of its syntax tree
MAX_EXPONENT = 1000  # |b| in a ** b
MAX_DIGITS = 4300  # of an integer result (Python's own int/str conversion limit)

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


def _sum(*args: Any) -> Any:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    if any(isinstance(v, list) for v in values):
        raise ValueError("sum() takes numbers, or one list of numbers")
    return sum(values)


def _minmax(fn):
    def call(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values or any(isinstance(v, list) for v in values):
            raise ValueError(f"{fn.__name__}() takes numbers, or one list of numbers")
        return fn(values)

    call.__name__ = fn.__name__
    return call


_FUNCTIONS = {"round": round, "min": _minmax(min), "max": _minmax(max), "abs": abs, "sum": _sum}


def _fail(expression: str, why: str) -> InputError:
    return InputError(f"cannot calculate {expression!r}: {why}")


def _check_size(value: Any, expression: str) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise _fail(expression, f"the result has more than {MAX_DIGITS} digits")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(expression, "the result is too large (not a finite number)")
    return value


def _eval(node: ast.AST, expression: str) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, expression)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _fail(expression, f"{node.value!r} is not a number")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, expression))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, expression), _eval(node.right, expression)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right, expression)
        try:
            return _check_size(_BINARY[type(node.op)](left, right), expression)
        except ZeroDivisionError:
            raise _fail(expression, "division by zero") from None
        except OverflowError:
            raise _fail(expression, "the result is too large") from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise _fail(expression, f"{node.func.id}() takes no named arguments")
        args = [_arg(a, expression) for a in node.args]
        if node.func.id in ("abs", "round") and any(isinstance(a, list) for a in args):
            raise _fail(expression, f"{node.func.id}() takes a number, not a list")
        if node.func.id == "round" and (not 1 <= len(args) <= 2 or (len(args) == 2 and args[1] != int(args[1]))):
            raise _fail(expression, "round() takes a number and optionally a whole number of decimals")
        if node.func.id == "round" and len(args) == 2:
            args[1] = int(args[1])
        if node.func.id == "abs" and len(args) != 1:
            raise _fail(expression, "abs() takes one number")
        try:
            return _check_size(_FUNCTIONS[node.func.id](*args), expression)
        except ValueError as e:  # min(), sum([1, [2]])
            raise _fail(expression, str(e)) from None
    return _fail_on(node, expression)


def _arg(node: ast.AST, expression: str) -> Any:
    """A function's argument: a number, or a list of numbers (``min([1, 2])``, ``sum((1, 2))``)."""
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, expression) for e in node.elts]
    return _eval(node, expression)


def _check_power(base: Any, exponent: Any, expression: str) -> None:
    """Refuse a power before computing it when its result would be huge (``9 ** 9 ** 9``)."""
    if abs(exponent) > MAX_EXPONENT:
        raise _fail(expression, f"the exponent {exponent} is larger than {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and base.bit_length() * exponent > MAX_DIGITS * 3.33:
        raise _fail(expression, f"the result has more than {MAX_DIGITS} digits")
    if base < 0 and exponent != int(exponent):
        raise _fail(expression, "a negative number to a fractional power is not a real number")


def _fail_on(node: ast.AST, expression: str) -> Any:
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise _fail(expression, f"the function {name!r} is not allowed; allowed: {', '.join(_FUNCTIONS)}")
    if isinstance(node, ast.Name):
        raise _fail(expression, f"{node.id!r} is not a number (names are not allowed)")
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        raise _fail(expression, f"the operator {ast.unparse(node)!r} is not allowed; allowed: + - * / // % **")
    raise _fail(expression, f"{ast.unparse(node)!r} is not arithmetic (a {type(node).__name__} expression)")


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, or ``InputError`` saying what is not allowed."""
    text = expression.strip()
    if not text:
        raise InputError("cannot calculate an empty expression")
    if len(text) > MAX_CHARS:
        raise _fail(text[:40] + "…", f"the expression is longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError as e:
        raise _fail(text, f"not a valid expression ({e.msg})") from None
    except (ValueError, RecursionError):
        raise _fail(text, "not a valid expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise _fail(text, f"the expression has more than {MAX_NODES} parts")
    value = _eval(tree, text)
    if isinstance(value, list):
        raise _fail(text, "the result is a list, not a number")
    return value


class CalcInputs(StepInputs):
    expression: str = Field(..., description="arithmetic, e.g. (127072 - 98311) / 98311 * 100; + - * / // % ** ( )")


class Number(StepOutput):
    expression: str
    value: int | float

    def result_fields(self) -> dict[str, Any]:
        return {"text": f"{self.expression} = {self.value}"}

    def plan_value(self) -> str:
        return str(self.value)


@step(
    "calculate",
    "Evaluate an arithmetic expression exactly (+ - * / // % ** parentheses, round min max abs sum); "
    "use it for every sum, difference, ratio or percentage",
    CalcInputs,
    "number",
)
def calculate(inputs: CalcInputs, deps: Deps) -> Number:
    return Number(expression=inputs.expression.strip(), value=evaluate(inputs.expression))
