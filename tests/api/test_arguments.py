"""Timing arguments are checked when the DAG is parsed: every bad value is refused with a message that
names the argument and the value, before any request."""

from __future__ import annotations

import datetime
from fractions import Fraction

import pytest

from airflow_provider_stitch.api.arguments import MAX_SECONDS, positive_number, seconds
from airflow_provider_stitch.api.retry import RetryPolicy
from airflow_provider_stitch.exceptions import StitchConfigurationError

# --- seconds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (60, 60.0),
        (0.5, 0.5),
        (datetime.timedelta(minutes=5), 300.0),
        (datetime.timedelta(milliseconds=250), 0.25),
        (Fraction(3, 2), 1.5),
        (MAX_SECONDS, float(MAX_SECONDS)),
    ],
)
def test_good_durations_become_floats(value: object, expected: float) -> None:
    result = seconds(value, "poll_interval")
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("inf"), "poll_interval must be a finite number; got inf"),
        (float("-inf"), "poll_interval must be a finite number; got -inf"),
        (float("nan"), "poll_interval must be a number of seconds or a datetime.timedelta; got nan"),
        (
            1e15,
            "poll_interval is too large: 1000000000000000.0 is more than 316224000 seconds \\(about 10 years\\); "
            "a duration this long would overflow date arithmetic",
        ),
        ("60", "poll_interval must be .*, not a string; got '60'. Write the number without quotes"),
        ("60s", "not a string; got '60s'"),
        (None, "poll_interval is required: .*; got None"),
        (True, "poll_interval must be .*, not a bool; got True"),
        (False, "not a bool; got False"),
        (-1, "poll_interval must be a positive duration; got -1"),
        (0, "poll_interval must be a positive duration; got 0"),
        (0.0, "must be a positive duration; got 0.0"),
        (
            datetime.timedelta(seconds=-5),
            "poll_interval must be a positive duration; got datetime.timedelta\\(days=-1, seconds=86395\\) "
            "\\(-5 seconds\\)",
        ),
        (datetime.timedelta(0), "must be a positive duration"),
        ([60], "poll_interval must be a number of seconds or a datetime.timedelta; got list \\[60\\]"),
        (datetime.datetime(2024, 1, 1), "got datetime datetime.datetime\\(2024, 1, 1, 0, 0\\)"),
    ],
)
def test_bad_durations_are_refused_naming_argument_and_value(value: object, message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        seconds(value, "poll_interval")


def test_a_too_large_timedelta_is_refused_too() -> None:
    with pytest.raises(StitchConfigurationError, match="timeout is too large"):
        seconds(datetime.timedelta(days=366 * 11), "timeout")


def test_the_refused_value_would_really_overflow_datetime_arithmetic() -> None:
    # What the maximum protects against: a deadline computed as now + timeout.
    with pytest.raises(OverflowError):
        datetime.datetime.now() + datetime.timedelta(seconds=1e15)
    datetime.datetime.now() + datetime.timedelta(seconds=MAX_SECONDS)


def test_none_is_returned_when_allowed() -> None:
    assert seconds(None, "timeout", allow_none=True) is None
    assert seconds(30, "timeout", allow_none=True) == 30.0
    with pytest.raises(StitchConfigurationError, match="timeout must be a finite number"):
        seconds(float("inf"), "timeout", allow_none=True)


def test_minimum_is_inclusive_and_explained() -> None:
    assert seconds(5, "poke_interval", minimum=5) == 5.0
    with pytest.raises(
        StitchConfigurationError,
        match=r"poke_interval must be at least 5 seconds \(Stitch allows 30 calls per 10 minutes\); got 4.9",
    ):
        seconds(4.9, "poke_interval", minimum=5, why="Stitch allows 30 calls per 10 minutes")
    with pytest.raises(StitchConfigurationError, match=r"at least 5 seconds; got 1$"):
        seconds(1, "poke_interval", minimum=5)


def test_a_minimum_of_zero_allows_zero_but_not_negatives() -> None:
    assert seconds(0, "retry_delay", minimum=0) == 0.0
    with pytest.raises(StitchConfigurationError, match=r"at least 0 seconds; got -0\.1"):
        seconds(-0.1, "retry_delay", minimum=0)


def test_a_custom_maximum() -> None:
    assert seconds(3600, "timeout", maximum=3600) == 3600.0
    with pytest.raises(
        StitchConfigurationError, match="timeout is too large: 3601 is more than 3600 seconds"
    ):
        seconds(3601, "timeout", maximum=3600)


def test_errors_are_value_errors_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError):
        seconds("60", "poll_interval")


# --- positive_number -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(2, 2.0), (0.25, 0.25), (1e6, 1e6)])
def test_good_factors(value: object, expected: float) -> None:
    assert positive_number(value, "time_scale") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "time_scale must be a positive number; got 0"),
        (-2, "time_scale must be a positive number; got -2"),
        (float("nan"), "time_scale must be a positive number; got nan"),
        (float("inf"), "time_scale must be a finite number; got inf"),
        ("2", "time_scale must be a positive number, not a string; got '2'"),
        (True, "not a bool; got True"),
        (None, "time_scale must be a positive number; got NoneType None"),
        (datetime.timedelta(seconds=2), "got timedelta"),
    ],
)
def test_bad_factors_are_refused(value: object, message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        positive_number(value, "time_scale")


# --- RetryPolicy.from_argument ---------------------------------------------------------------------

VALID_KEYS = "max_attempts, initial_delay, max_delay, max_elapsed"


def test_retry_argument_none_means_the_connections_policy() -> None:
    assert RetryPolicy.from_argument(None) is None


def test_retry_argument_policy_is_kept() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert RetryPolicy.from_argument(policy) is policy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, RetryPolicy()),
        ({"max_attempts": 1}, RetryPolicy(max_attempts=1)),
        (
            {"max_attempts": 4, "initial_delay": 0.01, "max_delay": 0.05, "max_elapsed": 5},
            RetryPolicy(max_attempts=4, initial_delay=0.01, max_delay=0.05, max_elapsed=5),
        ),
        (
            {"initial_delay": 0, "max_delay": datetime.timedelta(minutes=2)},
            RetryPolicy(initial_delay=0.0, max_delay=120.0),
        ),
        (RetryPolicy(max_attempts=3).to_dict(), RetryPolicy(max_attempts=3)),
    ],
)
def test_retry_argument_dicts(value: dict[str, object], expected: RetryPolicy) -> None:
    assert RetryPolicy.from_argument(value) == expected


@pytest.mark.parametrize("value", ["fast", ["max_attempts", 3], 3, (("max_attempts", 3),)])
def test_retry_argument_of_another_type_is_refused_listing_the_keys(value: object) -> None:
    with pytest.raises(StitchConfigurationError) as info:
        RetryPolicy.from_argument(value)
    message = str(info.value)
    assert message.startswith("http_retry_policy must be a RetryPolicy or a dict")
    assert VALID_KEYS in message
    assert repr(value) in message


def test_retry_argument_with_unknown_keys_is_refused_listing_the_keys() -> None:
    with pytest.raises(StitchConfigurationError) as info:
        RetryPolicy.from_argument({"retries": 3, "max_attempts": 2, "backoff": 2}, "retry_policy")
    assert str(info.value) == (
        f"retry_policy has unknown key(s) backoff, retries; the valid keys are {VALID_KEYS}"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"max_attempts": 0}, r"http_retry_policy\['max_attempts'\] must be a whole number .* at least 1"),
        ({"max_attempts": 2.5}, r"\['max_attempts'\] must be a whole number .*; got 2.5"),
        ({"max_attempts": "3"}, r"\['max_attempts'\] must be a whole number .*; got '3'"),
        ({"max_attempts": True}, r"\['max_attempts'\] must be a whole number .*; got True"),
        ({"initial_delay": -1}, r"http_retry_policy\['initial_delay'\] must be at least 0 seconds; got -1"),
        ({"max_delay": "60"}, r"\['max_delay'\] must be .*, not a string"),
        ({"max_elapsed": float("inf")}, r"\['max_elapsed'\] must be a finite number"),
        ({"max_elapsed": float("nan")}, r"\['max_elapsed'\] must be a number of seconds"),
        ({"max_elapsed": 1e15}, r"\['max_elapsed'\] is too large"),
        ({"max_delay": None}, r"\['max_delay'\] is required"),
    ],
)
def test_retry_argument_with_bad_values_is_refused(value: dict[str, object], message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        RetryPolicy.from_argument(value)
