"""Exploration-σ schedules against hand-computed values (DrQ-v2's utils.schedule)."""

import pytest

from dormant.exploration import parse_schedule, schedule


def test_constant_number_and_string():
    assert schedule("0.2", 0) == pytest.approx(0.2)
    assert schedule("0.2", 10**9) == pytest.approx(0.2)
    assert schedule(0.5, 123) == pytest.approx(0.5)
    assert parse_schedule(" 1e-1 ").value(7) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 1.0),  # mix = 0 → init
        (25_000, 0.775),  # mix = 0.25: 0.75·1.0 + 0.25·0.1 = 0.775
        (50_000, 0.55),  # mix = 0.5: 0.5·1.0 + 0.5·0.1 = 0.55
        (100_000, 0.1),  # mix = 1 → final
        (250_000, 0.1),  # clip(step/duration) = 1 after the duration
        (-10, 1.0),  # clip at 0 before the start
    ],
)
def test_linear(step, expected):
    assert schedule("linear(1.0,0.1,100000)", step) == pytest.approx(expected)


def test_linear_tolerates_spaces():
    # 0.5·1.0 + 0.5·0.1 = 0.55
    assert schedule(" linear( 1.0 , 0.1 , 100000 ) ", 50_000) == pytest.approx(0.55)


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 1.0),  # phase 1, mix 0
        (50, 0.75),  # phase 1, mix 0.5: 0.5·1.0 + 0.5·0.5 = 0.75
        (100, 0.5),  # end of phase 1 (step ≤ duration1) → final1
        (200, 0.3),  # phase 2, mix (200−100)/200 = 0.5: 0.5·0.5 + 0.5·0.1 = 0.3
        (250, 0.2),  # mix 0.75: 0.25·0.5 + 0.75·0.1 = 0.2
        (300, 0.1),  # mix 1 → final2
        (10_000, 0.1),  # clipped after phase 2
    ],
)
def test_step_linear(step, expected):
    assert schedule("step_linear(1.0,0.5,100,0.1,200)", step) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "cosine(1.0,0.1,100)",
        "linar(1,0.1,100)",
        "abc",
        "",
        "linear(1.0,0.1)",
        "linear(1.0,0.1,100,5)",
        "step_linear(1.0,0.5,100,0.1)",
        "linear(a,b,c)",
        "linear(1,0.1,)",
    ],
)
def test_bad_schedules_raise_helpful_value_error(text):
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    message = str(info.value)
    # the message names the accepted forms so the user can fix the string
    assert "linear(init,final,duration)" in message
    assert "step_linear" in message


@pytest.mark.parametrize(
    "text",
    ["linear(1.0,0.1,0)", "linear(1.0,0.1,-5)", "step_linear(1.0,0.5,0,0.1,200)", "step_linear(1.0,0.5,100,0.1,0)"],
)
def test_non_positive_duration_raises(text):
    with pytest.raises(ValueError, match="durations must be > 0"):
        parse_schedule(text)
