"""Small numpy/pandas helpers for the materialised views (coverage, clusters and funding cells)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted.

    Sort-based: ``np.unique`` without ``return_*`` goes through a hash table in numpy 2.x, which was
    ~50x slower on the millions of composite keys a full rebuild counts.
    """
    if not len(values):
        return values
    s = np.sort(values, kind="stable")
    return s[np.r_[True, s[1:] != s[:-1]]]


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames' rows, one after the other (empty frames left out: they would change the column types)."""
    kept = [f for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else frames[0].iloc[0:0].reset_index(drop=True)


class DisjointSets:
    """Union-find over 0..n-1 in which a set is named by its smallest member (so by its first item in order)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

