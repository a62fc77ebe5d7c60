"""The scoring stage: deployed models score their machines on a fixed interval; scores are harmonized values.

The pipeline hands the stage every harmonized value (``observe``) and calls ``tick`` a few times
a second. Every ``interval_s`` the stage closes the open interval of its windows and, per model,
scores every machine whose inputs all had a value: one onnxruntime run for all of them, each row
the means of the machine's inputs over the model's window, normalised with the machine's center
and scale. Each score becomes an ordinary item on ``<machine path>/<output_tag>`` (unit empty,
quality the worst of its inputs over the window, timestamp the newest of its inputs) and passes a
deadband like any analog tag's (every change reported, an unchanged score at least every
``SCORE_MAX_INTERVAL_S``), so it travels through batching and the spool like every other value.

``deploy`` replaces the models between two scorings (the event loop runs both): windows carry
over for the inputs both sets share, so a new version scores from the values the old one saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.inference.model import LoadedModel
from edge.inference.windows import Windows
from edge.pipeline.deadband import Deadband
from edge.pipeline.harmonizer import Item, Tag
from envelope.tag_envelope import QUALITIES, line_of

SCORE_MAX_INTERVAL_S = 300.0  # as a tag map's default max_interval_s
SCORE_UNIT = ""  # a score has no unit


class _Scoring:
    """One model's part of the stage: its machines' input columns, window depth and score tags."""

    def __init__(self, model: LoadedModel, windows: Windows, depth: int, tags: list[Tag]) -> None:
        self.model = model
        self.columns = np.array([[windows.column[path] for path in inputs] for inputs in model.inputs], dtype=np.intp)
        self.depth = depth
        self.tags = tags


def score_tags(paths: Sequence[str]) -> list[Tag]:
    """Tags of score paths, indexed from 0 for the stage's own deadband."""
    return [
        Tag(
            index=index,
            path=path,
            line=line_of(path),
            unit=SCORE_UNIT,
            kind="analog",
            analog=True,
            scale=1.0,
            offset=0.0,
            deadband_abs=0.0,
            deadband_pct=0.0,
            max_interval_s=SCORE_MAX_INTERVAL_S,
        )
        for index, path in enumerate(paths)
    ]


class ScoringStage:
    """Scores the deployed models' machines every ``interval_s`` (the pipeline's monotonic clock)."""

    def __init__(self, interval_s: float, models: Sequence[LoadedModel] = ()) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s {interval_s!r} is not positive; fix: pass the scoring interval in seconds")
        self.interval_s = interval_s
        self.scored = 0  # scores computed (before report by exception)
        self.unscored = 0  # machines passed over at a scoring: an input never had a value, or the score was not finite
        self._tags: Sequence[Tag] = ()
        self._next_at = math.nan
        self._windows = Windows((), 1)
        self._scorings: list[_Scoring] = []
        self._deadband = Deadband(())
        self.deploy(models)

    @property
    def models(self) -> tuple[LoadedModel, ...]:
        return tuple(scoring.model for scoring in self._scorings)

    def deploy(self, models: Sequence[LoadedModel]) -> None:
        """Score with ``models`` from now on; windows carry over for the inputs the old and new models share."""
        paths = list(dict.fromkeys(path for model in models for inputs in model.inputs for path in inputs))
        depths = [max(1, math.ceil(model.window_s / self.interval_s)) for model in models]
        self._windows = self._windows.carried_into(paths, max(depths, default=1))
        self._windows.bind(self._tags)
        tags = score_tags([path for model in models for path in model.score_paths])
        scorings, start = [], 0
        for model, depth in zip(models, depths, strict=True):
            count = len(model.score_paths)
            scorings.append(_Scoring(model, self._windows, depth, tags[start : start + count]))
            start += count
        self._scorings = scorings
        self._deadband = Deadband(tags)

    def bind(self, tags: Sequence[Tag]) -> None:
        """Read the values of the pipeline's tags (``Harmonizer.tags``); called by the pipeline that hosts the stage."""
        self._tags = tags
        self._windows.bind(tags)

    def observe(self, items: Sequence[Item]) -> None:
        """Take a scan's harmonized values into the windows."""
        self._windows.observe(items)

    def tick(self, now: float) -> list[Item]:
        """Score if the interval is up; returns the scores report by exception lets through."""
        if math.isnan(self._next_at):
            self._next_at = now + self.interval_s
        if now < self._next_at:
            return []
        self._next_at += self.interval_s
        if self._next_at <= now:  # the loop was held up for more than an interval: keep the cadence from now
            self._next_at = now + self.interval_s
        self._windows.close()
        items: list[Item] = []
        for scoring in self._scorings:
            items += self._score(scoring)
        return self._deadband.select(items, now)

    def _score(self, scoring: _Scoring) -> list[Item]:
        features = self._windows.features(scoring.columns, scoring.depth)
        machines = np.flatnonzero(features.present)
        self.unscored += len(scoring.tags) - len(machines)
        if not len(machines):
            return []
        scores = scoring.model.score(machines, features.values[machines])
        finite = np.isfinite(scores)
        self.unscored += int(len(machines) - finite.sum())
        self.scored += int(finite.sum())
        tags = scoring.tags
        qualities = features.quality.tolist()
        source_ts = features.source_ts.tolist()
        return [
            (tags[machine], score, QUALITIES[qualities[machine]], source_ts[machine])
            for machine, score, ok in zip(machines.tolist(), scores.tolist(), finite.tolist(), strict=True)
            if ok
        ]
