"""Simulated machines: realistic tag signals for development, demos and benchmarks.

Each machine runs a small state machine (running -> idle or down -> running,
with exponentially distributed dwell times) and counts the units it makes while
running (cumulative ``good`` and ``total`` counters: they only grow, and only
while running). Analog signals follow their machine: they settle towards
``mean`` while it runs and towards ``idle`` otherwise, with a first-order lag,
a slow sinusoidal drift and Gaussian noise.

Tag map addresses: ``<signal>:<machine>[:<param>=<number>...]``::

    state:filler                     running | idle | down
    good:filler                      cumulative good units
    total:filler                     cumulative units
    analog:filler:mean=65:noise=0.05:drift=0.8:period_s=1800:idle=25:tau_s=120

Settings sit under ``sources.simulator`` of the tag map (``SimulatorSettings``).
The simulated world advances ``scan_interval_s`` per scan, whatever the wall
clock does, so a seed gives the same values scan after scan on any machine;
only the readings' source timestamps come from the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.readings import Reading
from edge.sources.settings import parse_source_settings

_EXAMPLE = "analog:filler:mean=65:noise=0.05, state:filler, good:filler or total:filler"
_ANALOG_PARAMS = {"mean", "noise", "drift", "period_s", "idle", "tau_s"}


class SimulatorSettings(BaseModel):
    """``sources.simulator`` of a tag map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(1, description="Same seed, same values.")
    scan_interval_s: float = Field(1.0, gt=0, le=3600, description="Simulated (and real) time between scans.")
    rate_per_s: float = Field(2.0, gt=0, le=100, description="Units a running machine makes per second.")
    scrap_share: float = Field(0.02, ge=0, lt=1, description="Share of units that are not good.")
    mean_run_s: float = Field(900, gt=0, description="Mean time a machine runs before it stops.")
    mean_idle_s: float = Field(120, gt=0, description="Mean time a stopped machine idles (starved, blocked).")
    mean_repair_s: float = Field(300, gt=0, description="Mean time a broken-down machine stays down.")
    down_share: float = Field(0.3, ge=0, le=1, description="Share of stops that are breakdowns rather than idling.")


def parse_settings(data: Mapping[str, Any]) -> SimulatorSettings:
    """Validate ``sources.simulator``; raises ValueError naming each bad field and its fix."""
    return parse_source_settings(SimulatorSettings, data, source="simulator", module="edge/sources/simulator.py")


class _Machine:
    __slots__ = ("carry", "good", "state", "total")

    def __init__(self) -> None:
        self.state = "running"
        self.good = 0
        self.total = 0
        self.carry = 0.0  # fraction of a unit made but not yet counted


class _Analog:
    __slots__ = ("drift", "idle", "lag", "level", "machine", "mean", "noise", "omega", "phase")

    def __init__(self, machine: _Machine, params: dict[str, float], dt: float, phase: float) -> None:
        self.machine = machine
        self.mean = params["mean"]
        self.idle = params.get("idle", self.mean)
        self.noise = params.get("noise", 0.0)
        self.drift = params.get("drift", 0.0)
        self.omega = 2 * math.pi / params.get("period_s", 3600.0)
        self.lag = 1 - math.exp(-dt / params.get("tau_s", 60.0))  # share of the gap closed per scan
        self.phase = phase
        self.level = self.mean


def _parse(address: str) -> tuple[str, str, dict[str, float]]:
    signal, _, rest = address.partition(":")
    machine, *pairs = rest.split(":")
    if signal not in ("state", "good", "total", "analog") or not machine:
        raise ValueError(
            f"simulator address {address!r} is not <signal>:<machine>[:param=value...] with signal state, good, "
            f"total or analog; fix: write e.g. {_EXAMPLE}"
        )
    params: dict[str, float] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            params[name] = float(text)
        except ValueError:
            raise ValueError(
                f"simulator address {address!r}: parameter {pair!r} is not name=number; fix: write e.g. noise=0.05"
            ) from None
    allowed = _ANALOG_PARAMS if signal == "analog" else set()
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"simulator address {address!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"fix: {signal} signals take {', '.join(sorted(allowed)) or 'no parameters'}"
        )
    if signal == "analog" and "mean" not in params:
        raise ValueError(f"simulator address {address!r} needs mean=<number>; fix: add e.g. :mean=65")
    if params.get("period_s", 1.0) <= 0 or params.get("tau_s", 1.0) <= 0:
        raise ValueError(f"simulator address {address!r}: period_s and tau_s must be > 0; fix: use e.g. period_s=1800")
    return signal, machine, params


class SimulatorSource:
    """A ``Source`` of simulated readings for the given addresses."""

    def __init__(self, settings: SimulatorSettings, addresses: list[str]) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._dt = settings.scan_interval_s
        self._t = 0.0  # simulated seconds since start
        self._machines: dict[str, _Machine] = {}
        # One entry per address, in address order: (address, signal, machine, analog state or None).
        self._signals: list[tuple[str, str, _Machine, _Analog | None]] = []
        problems = []
        for address in addresses:
            try:
                signal, name, params = _parse(address)
            except ValueError as error:
                problems.append(str(error))
                continue
            machine = self._machines.setdefault(name, _Machine())
            analog = (
                _Analog(machine, params, self._dt, self._rng.uniform(0, 2 * math.pi)) if signal == "analog" else None
            )
            self._signals.append((address, signal, machine, analog))
        if problems:
            raise ValueError("\n".join(problems))
        self._closed = asyncio.Event()

    def scan(self, source_ts: float) -> list[Reading]:
        """Advance the simulated world by one scan interval and read every address."""
        self._t += self._dt
        for machine in self._machines.values():
            self._step(machine)
        rng = self._rng
        t = self._t
        readings = []
        for address, signal, machine, analog in self._signals:
            value: float | int | str
            if analog is not None:
                target = analog.mean if machine.state == "running" else analog.idle
                analog.level += (target - analog.level) * analog.lag
                value = analog.level + analog.drift * math.sin(analog.omega * t + analog.phase)
                if analog.noise:
                    value += rng.gauss(0.0, analog.noise)
            elif signal == "state":
                value = machine.state
            elif signal == "good":
                value = machine.good
            else:
                value = machine.total
            readings.append(Reading(address, value, "good", source_ts))
        return readings

    def _step(self, machine: _Machine) -> None:
        settings = self.settings
        rng = self._rng
        if machine.state == "running":
            if rng.random() < 1 - math.exp(-self._dt / settings.mean_run_s):
                machine.state = "down" if rng.random() < settings.down_share else "idle"
        else:
            mean = settings.mean_repair_s if machine.state == "down" else settings.mean_idle_s
            if rng.random() < 1 - math.exp(-self._dt / mean):
                machine.state = "running"
        if machine.state == "running":
            machine.carry += settings.rate_per_s * self._dt
            made = int(machine.carry)
            machine.carry -= made
            scrap = sum(1 for _ in range(made) if rng.random() < settings.scrap_share)
            machine.total += made
            machine.good += made - scrap

    async def start(self) -> None:
        """Nothing to connect to: the machines are in memory."""
        self._closed.clear()

    async def readings(self) -> AsyncIterator[list[Reading]]:
        """One scan every ``scan_interval_s`` of wall time until ``close``."""
        next_at = time.monotonic()
        while not self._closed.is_set():
            yield self.scan(time.time())
            next_at = max(next_at + self._dt, time.monotonic())  # fell behind: scan at once, then keep the pace
            with contextlib.suppress(TimeoutError):  # the usual case: not closed during the wait
                await asyncio.wait_for(self._closed.wait(), timeout=next_at - time.monotonic())

    async def close(self) -> None:
        self._closed.set()
