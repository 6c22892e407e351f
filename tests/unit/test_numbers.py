import doctest

import multimodal_crew.numbers as numbers
from multimodal_crew.numbers import derived_values, unsupported_numbers


def test_doctests():
    assert doctest.testmod(numbers).failed == 0


def test_dates_and_thousands_separators():
    allowed = {2024, 1, 31, 127072}
    assert unsupported_numbers("From 2024-01-01 to 2024-01-31 Berlin had 127,072 users.", allowed) == []


def test_invented_numbers_are_caught():
    assert unsupported_numbers("Berlin had 130,000 users, up 12%.", {127072}) == ["130,000", "12"]


def test_rounded_to_written_precision():
    assert unsupported_numbers("an average of 4099.1 (about 4099)", {4099.13}) == []
    assert unsupported_numbers("an average of 4100", {4099.13}) == ["4100"]


def test_derived_values_include_sum_difference_and_share():
    d = derived_values({"a": 60.0, "b": 40.0}, [60, 40])
    assert {100, 20, 60.0, 1.5, 50.0, 2} <= d
