"""Reconnect pacing: exponential growth, jitter within [d/2, d], a hard upper bound, reset after success."""

from __future__ import annotations

import random
import re

import pytest
from pydantic import ValidationError

from edge.sources.backoff import Backoff, ReconnectSettings


def test_delays_double_up_to_the_bound_with_jitter_in_the_upper_half() -> None:
    settings = ReconnectSettings(initial_s=1.0, max_s=10.0)
    backoff_low, backoff_high = Backoff(settings, rand=lambda: 0.0), Backoff(settings, rand=lambda: 1.0)
    assert [backoff_low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [backoff_high.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_random_delays_stay_within_bounds_and_differ_between_gateways() -> None:
    settings = ReconnectSettings(initial_s=0.5, max_s=30.0)
    fleet = [Backoff(settings, rand=random.Random(seed).random) for seed in range(20)]
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [backoff.next_delay() for backoff in fleet]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jitter: the fleet does not retry in lockstep


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(ReconnectSettings(initial_s=2.0, max_s=60.0), rand=lambda: 1.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 2.0


def test_the_bound_must_not_be_below_the_first_delay() -> None:
    problem = "max_s 1.0 is below initial_s 5.0; fix: set max_s >= initial_s"
    with pytest.raises(ValidationError, match=re.escape(problem)):
        ReconnectSettings(initial_s=5.0, max_s=1.0)
