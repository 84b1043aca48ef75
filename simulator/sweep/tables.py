"""Concatenating chunk tables (shared by the in-memory sweep and the outputs)."""

from __future__ import annotations

import pandas as pd

__all__ = ["concat_chunks"]


def concat_chunks(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate chunk tables, keeping Categorical columns categorical.

    ``pandas.concat`` turns a Categorical column into plain objects when the chunks list
    different categories (one chunk saw an accelerator's ``bound`` values, another did
    not); here their categories are first united, in order of first appearance.

    Examples
    --------
    >>> a = pd.DataFrame({"x": pd.Categorical(["p"])})
    >>> b = pd.DataFrame({"x": pd.Categorical(["q", "p"])})
    >>> table = concat_chunks([a, b])
    >>> table["x"].tolist(), list(table["x"].cat.categories)
    (['p', 'q', 'p'], ['p', 'q'])
    """
    if not frames:
        return pd.DataFrame()
    if len(frames) > 1:
        for column in frames[0].columns:
            if not all(isinstance(f[column].dtype, pd.CategoricalDtype) for f in frames):
                continue
            names = list(dict.fromkeys(c for f in frames for c in f[column].cat.categories))
            frames = [f.assign(**{column: f[column].cat.set_categories(names)})
                      if list(f[column].cat.categories) != names else f for f in frames]
    return pd.concat(frames, ignore_index=True)
