"""Simulator source: deterministic, realistic machine signals, strict addresses and settings."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest
from mqtt_peers import run

from edge.readings import Reading
from edge.sources.simulator import SimulatorSettings, SimulatorSource, parse_settings

TS = 1_769_846_400.0
MACHINE = ["state:filler", "good:filler", "total:filler", "analog:filler:mean=65:noise=0.2:drift=1:idle=25:tau_s=1"]
FAST = SimulatorSettings(seed=3, mean_run_s=30, mean_idle_s=5, mean_repair_s=10)


def values(source: SimulatorSource, scans: int) -> list[list[Any]]:
    return [[reading.value for reading in source.scan(TS + k)] for k in range(scans)]


def test_the_same_seed_gives_the_same_values() -> None:
    assert values(SimulatorSource(FAST, MACHINE), 200) == values(SimulatorSource(FAST, MACHINE), 200)
    other = FAST.model_copy(update={"seed": 4})
    assert values(SimulatorSource(other, MACHINE), 200) != values(SimulatorSource(FAST, MACHINE), 200)


def test_readings_come_for_every_address_with_the_scan_timestamp() -> None:
    readings = SimulatorSource(FAST, MACHINE).scan(TS)
    assert [(reading.address, reading.quality, reading.source_ts) for reading in readings] == [
        (address, "good", TS) for address in MACHINE
    ]
    assert isinstance(readings[0], Reading)


def test_counters_only_grow_and_only_while_running() -> None:
    history = values(SimulatorSource(FAST, MACHINE), 3000)
    states = [scan[0] for scan in history]
    assert set(states) == {"running", "idle", "down"}
    for before, after in itertools.pairwise(history):
        state, good, total = after[0], after[1], after[2]
        assert 0 <= good <= total
        assert total >= before[2] and good >= before[1]
        if state != "running":
            assert (good, total) == (before[1], before[2])
    assert history[-1][2] > 0
    assert history[-1][1] < history[-1][2]  # some scrap


def test_analog_signals_follow_their_machine_with_noise() -> None:
    history = values(SimulatorSource(FAST, MACHINE), 3000)
    # Scans whose machine ran (or stood) through the last five scans: the signal has settled (lag 1 scan).
    settled = [
        (scan[0], scan[3])
        for k, scan in enumerate(history[5:], 5)
        if len({h[0] != "running" for h in history[k - 5 : k + 1]}) == 1
    ]
    running = [value for state, value in settled if state == "running"]
    stopped = [value for state, value in settled if state != "running"]
    assert 63 < statistics.mean(running) < 67
    assert 23 < statistics.mean(stopped) < 27
    assert 0.1 < statistics.stdev(running) < 1.5


def test_a_bad_address_names_it_and_the_fix() -> None:
    with pytest.raises(ValueError) as caught:
        SimulatorSource(FAST, ["temp:filler", "analog:filler", "analog:filler:mean=1:noize=2", "state:filler:x=1"])
    assert str(caught.value).splitlines() == [
        "simulator address 'temp:filler' is not <signal>:<machine>[:param=value...] with signal state, good, total "
        "or analog; fix: write e.g. analog:filler:mean=65:noise=0.05, state:filler, good:filler or total:filler",
        "simulator address 'analog:filler' needs mean=<number>; fix: add e.g. :mean=65",
        "simulator address 'analog:filler:mean=1:noize=2': unknown parameter(s) noize; "
        "fix: analog signals take drift, idle, mean, noise, period_s, tau_s",
        "simulator address 'state:filler:x=1': unknown parameter(s) x; fix: state signals take no parameters",
    ]


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError) as caught:
        parse_settings({"seed": 1, "scan_interval_s": 0, "speed": 3})
    assert str(caught.value).splitlines() == [
        "sources.simulator.scan_interval_s: Input should be greater than 0 (got 0); "
        "fix: see SimulatorSettings in edge/sources/simulator.py",
        "sources.simulator.speed: Extra inputs are not permitted (got 3); "
        "fix: see SimulatorSettings in edge/sources/simulator.py",
    ]


def test_readings_run_at_the_scan_interval_until_closed() -> None:
    source = SimulatorSource(SimulatorSettings(scan_interval_s=0.01), MACHINE)

    async def scenario() -> int:
        await source.start()
        scans = 0
        async for readings in source.readings():
            assert len(readings) == len(MACHINE)
            scans += 1
            if scans == 5:
                await source.close()
        return scans

    assert run(scenario, deadline_s=10) == 5
