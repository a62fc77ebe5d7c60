"""Reconnect pacing shared by the protocol sources: exponential, jittered, bounded."""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReconnectSettings(BaseModel):
    """How a source waits between connection attempts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_s: float = Field(default=1.0, gt=0, le=60, description="Delay after the first failed attempt.")
    max_s: float = Field(default=60.0, gt=0, le=3600, description="Upper bound of any delay.")

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectSettings:
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s {self.max_s} is below initial_s {self.initial_s}; fix: set max_s >= initial_s")
        return self


class Backoff:
    """Delays of initial, 2x, 4x ... capped at max, each drawn from [d/2, d].

    The jitter keeps a fleet of gateways from reconnecting in lockstep after a
    plant-wide network outage; the lower half bound keeps a flapping PLC from
    being hammered with immediate retries.
    """

    def __init__(self, settings: ReconnectSettings, rand: Callable[[], float] = random.random) -> None:
        self._settings = settings
        self._rand = rand
        self._attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one more failure."""
        ceiling = min(self._settings.max_s, self._settings.initial_s * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)  # 2**32 * initial is far past any max_s
        return ceiling / 2 + self._rand() * ceiling / 2

    def reset(self) -> None:
        """Start again from the initial delay (call after a successful connection)."""
        self._attempt = 0
