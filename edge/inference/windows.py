"""Each model input's recent values: sum, count and worst quality per scoring interval, over a window.

The window of a feature is the last ``depth`` scoring intervals (``ceil(window_s / interval_s)``
of them, so a window that is a whole number of intervals is exact at each scoring). Values are
added to the open interval as they are harmonized; each scoring closes it into a ring of closed
intervals, and the feature is the mean of the values in the newest ``depth`` of them: a sum and a
count per interval, not the values themselves, so memory grows with inputs times intervals, never
with the scan rate.

The hot path is ``observe``, once per harmonized value of the gateway: one list look-up for the
tags no model reads, plain list arithmetic for the rest. The ring (numpy) is touched only at
scoring time.

Quality per input over the window: ``bad`` if any value in it was bad or no value arrived in it
(then the feature is the input's last value), else ``uncertain`` if any was uncertain, else
``good``. An input that never had a value has no feature: its machine is not scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.pipeline.harmonizer import Item, Tag
from envelope.tag_envelope import QUALITIES

BAD = QUALITIES.index("bad")
_RANK = {quality: rank for rank, quality in enumerate(QUALITIES)}  # good 0, uncertain 1, bad 2


@dataclass(frozen=True)
class Features:
    """The window's view of some machines: one row per machine, one column per feature."""

    values: NDArray[np.float64]  # [N, F] mean over the window (the last value where the window is empty)
    quality: NDArray[np.int8]  # [N] worst rank of the machine's inputs (index into QUALITIES)
    present: NDArray[np.bool_]  # [N] every input had a value at some time
    source_ts: NDArray[np.float64]  # [N] newest source timestamp among the machine's inputs


class Windows:
    """The windows of a set of input tags (by ISA-95 path), ``depth`` closed intervals long."""

    def __init__(self, paths: Sequence[str], depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth {depth} is not a positive number of intervals; fix: pass at least 1")
        self.paths = tuple(paths)
        self.column = {path: index for index, path in enumerate(self.paths)}
        self.depth = depth
        width = len(self.paths)
        self._sums = np.zeros((depth, width))
        self._counts = np.zeros((depth, width), dtype=np.int64)
        self._worst = np.zeros((depth, width), dtype=np.int8)
        self._newest = 0  # ring row of the newest closed interval
        self._open_interval()
        self._last = [math.nan] * width
        self._last_ts = [-math.inf] * width
        self._watch: list[int] = []  # per pipeline tag index: its column here, or -1

    def _open_interval(self) -> None:
        width = len(self.paths)
        self._sum = [0.0] * width
        self._count = [0] * width
        self._rank = [0] * width

    def bind(self, tags: Sequence[Tag]) -> None:
        """Map the pipeline's tags (``Harmonizer.tags``) to columns; values of other tags are ignored."""
        column = self.column
        self._watch = [column.get(tag.path, -1) for tag in tags]

    def observe(self, items: Sequence[Item]) -> None:
        """Add harmonized values to the open interval (inputs are analog tags: values are finite floats)."""
        watch = self._watch
        sums, counts, ranks, last, last_ts = self._sum, self._count, self._rank, self._last, self._last_ts
        rank_of = _RANK
        for item in items:
            column = watch[item[0].index]
            if column < 0:
                continue  # most values: no model reads them, so the item is not even unpacked
            _, value, quality, source_ts = item
            sums[column] += value
            counts[column] += 1
            rank = rank_of[quality]
            if rank > ranks[column]:
                ranks[column] = rank
            last[column] = value
            if source_ts > last_ts[column]:
                last_ts[column] = source_ts

    def close(self) -> None:
        """End the open interval: it becomes the newest of the ring, the oldest drops out."""
        self._newest = row = (self._newest + 1) % self.depth
        self._sums[row] = self._sum
        self._counts[row] = self._count
        self._worst[row] = self._rank
        self._open_interval()

    def features(self, columns: NDArray[np.intp], depth: int) -> Features:
        """Features of machines whose inputs are ``columns`` ([N, F]) over the newest ``depth`` closed intervals."""
        rows = (self._newest - np.arange(min(depth, self.depth))) % self.depth
        sums = self._sums[rows].sum(axis=0)
        counts = self._counts[rows].sum(axis=0)
        last = np.asarray(self._last)
        seen = counts > 0
        means = np.where(seen, sums / np.maximum(counts, 1), last)
        ranks = np.where(seen, self._worst[rows].max(axis=0), BAD).astype(np.int8)
        return Features(
            values=means[columns],
            quality=ranks[columns].max(axis=1),
            present=~np.isnan(last[columns]).any(axis=1),
            source_ts=np.asarray(self._last_ts)[columns].max(axis=1),
        )

    def carried_into(self, paths: Sequence[str], depth: int) -> Windows:
        """New windows for ``paths``; the paths both hold keep their closed intervals, open interval and last value."""
        new = Windows(paths, depth)
        shared = [path for path in new.paths if path in self.column]
        if not shared:
            return new
        old_columns = np.array([self.column[path] for path in shared], dtype=np.intp)
        new_columns = np.array([new.column[path] for path in shared], dtype=np.intp)
        back = np.arange(min(self.depth, depth))  # intervals ago, newest first
        old_rows, new_rows = (self._newest - back) % self.depth, (new._newest - back) % depth
        for ring in ("_sums", "_counts", "_worst"):
            getattr(new, ring)[np.ix_(new_rows, new_columns)] = getattr(self, ring)[np.ix_(old_rows, old_columns)]
        for old, column in zip(old_columns.tolist(), new_columns.tolist(), strict=True):
            new._sum[column] = self._sum[old]
            new._count[column] = self._count[old]
            new._rank[column] = self._rank[old]
            new._last[column] = self._last[old]
            new._last_ts[column] = self._last_ts[old]
        return new
