"""Report by exception: deadbands, always-sent changes and the maximum interval."""

from __future__ import annotations

from typing import Any

from edge.pipeline.deadband import Deadband
from edge.pipeline.harmonizer import Item, Tag


def make_tag(index: int = 0, kind: str = "analog", *, band: float = 0.0, pct: float = 0.0, every: float = 60.0) -> Tag:
    return Tag(
        index=index,
        path=f"e/s/a/l/c/t{index}",
        line="e/s/a/l",
        unit="",
        kind=kind,
        analog=kind == "analog",
        scale=1.0,
        offset=0.0,
        deadband_abs=band,
        deadband_pct=pct,
        max_interval_s=every,
    )


def reported(deadband: Deadband, tag: Tag, steps: list[tuple[float, Any, str]]) -> list[Any]:
    """The values reported for (now, value, quality) steps of one tag."""
    sent = []
    for now, value, quality in steps:
        item: Item = (tag, value, quality, now)
        sent += [value for _, value, *_ in deadband.select([item], now)]
    return sent


def test_the_first_value_is_always_reported() -> None:
    tag = make_tag(band=100.0)
    assert reported(Deadband([tag]), tag, [(0.0, 5.0, "good")]) == [5.0]


def test_absolute_deadband_reports_moves_beyond_the_band_from_the_last_report() -> None:
    tag = make_tag(band=0.5)
    steps = [(0, 10.0, "good"), (1, 10.5, "good"), (2, 9.5, "good"), (3, 10.51, "good"), (4, 10.2, "good")]
    # 10.5 and 9.5 are exactly on the band (suppressed); 10.51 is beyond; 10.2 is within 0.5 of 10.51.
    assert reported(Deadband([tag]), tag, [(float(t), v, q) for t, v, q in steps]) == [10.0, 10.51]


def test_suppressed_values_do_not_move_the_reference() -> None:
    tag = make_tag(band=1.0)
    steps = [(0.0, 0.0, "good"), (1.0, 0.9, "good"), (2.0, 1.8, "good")]
    # 1.8 is within 1.0 of the suppressed 0.9, but 1.8 away from the reported 0.0.
    assert reported(Deadband([tag]), tag, steps) == [0.0, 1.8]


def test_percent_deadband_scales_with_the_last_reported_value() -> None:
    tag = make_tag(pct=0.02)
    steps = [(0.0, 100.0, "good"), (1.0, 101.9, "good"), (2.0, 102.1, "good"), (3.0, 100.1, "good")]
    # After 102.1 the band is 2.042: 100.1 is 2.0 away, within it.
    assert reported(Deadband([tag]), tag, steps) == [100.0, 102.1]


def test_with_both_bands_the_wider_one_applies() -> None:
    tag = make_tag(band=0.5, pct=0.01)
    near_zero = [(0.0, 0.0, "good"), (1.0, 0.4, "good"), (2.0, 0.6, "good")]
    assert reported(Deadband([tag]), tag, near_zero) == [0.0, 0.6]
    large = [(0.0, 1000.0, "good"), (1.0, 1009.0, "good"), (2.0, 1011.0, "good")]
    assert reported(Deadband([tag]), tag, large) == [1000.0, 1011.0]


def test_without_a_band_every_change_is_reported() -> None:
    tag = make_tag()
    steps = [(0.0, 1.0, "good"), (1.0, 1.0, "good"), (2.0, 1.0000001, "good")]
    assert reported(Deadband([tag]), tag, steps) == [1.0, 1.0000001]


def test_counters_and_states_report_every_change_and_only_changes() -> None:
    counter, state = make_tag(0, "counter"), make_tag(1, "state")
    deadband = Deadband([counter, state])
    assert reported(deadband, counter, [(0.0, 7, "good"), (1.0, 7, "good"), (2.0, 8, "good")]) == [7, 8]
    steps = [(0.0, "running", "good"), (1.0, "running", "good"), (2.0, "down", "good"), (3.0, "running", "good")]
    assert reported(deadband, state, steps) == ["running", "down", "running"]


def test_a_quality_change_is_always_reported() -> None:
    tag = make_tag(band=10.0)
    steps = [(0.0, 5.0, "good"), (1.0, 5.0, "bad"), (2.0, 5.0, "bad"), (3.0, 5.1, "good")]
    assert reported(Deadband([tag]), tag, steps) == [5.0, 5.0, 5.1]


def test_the_maximum_interval_reports_an_unchanged_value_anyway() -> None:
    tag = make_tag(band=10.0, every=5.0)
    steps = [(0.0, 1.0, "good"), (4.9, 1.0, "good"), (5.0, 1.0, "good"), (9.0, 2.0, "good"), (10.0, 1.0, "good")]
    assert reported(Deadband([tag]), tag, steps) == [1.0, 1.0, 1.0]


def test_due_lists_tags_whose_interval_passed() -> None:
    fast, slow = make_tag(0, every=5.0), make_tag(1, every=60.0)
    deadband = Deadband([fast, slow])
    assert deadband.due(0.0) == [0, 1]  # never reported
    deadband.select([(fast, 1.0, "good", 0.0), (slow, 1.0, "good", 0.0)], 0.0)
    assert deadband.due(4.9) == []
    assert deadband.due(5.0) == [0]
    assert deadband.due(60.0) == [0, 1]
