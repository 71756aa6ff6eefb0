"""Argument checks shared by the metric modules; every error message names the offending argument."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def as_1d(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a one-dimensional numpy array.

    Raises
    ------
    ValueError
        If the array is not one-dimensional (the message names ``name``).
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    return arr


def check_same_length(reference: tuple[str, np.ndarray], *others: tuple[str, np.ndarray]) -> None:
    """Raise ``ValueError`` unless every array of ``others`` is as long as ``reference``.

    The message reads e.g. ``"pred_score: length 5 != pred_item length 6"``.
    """
    ref_name, ref = reference
    for name, arr in others:
        if len(arr) != len(ref):
            raise ValueError(f"{name}: length {len(arr)} != {ref_name} length {len(ref)}")


def as_float(values: npt.ArrayLike, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """Return a 1-d float64 array, rejecting non-numeric input and (unless allowed) NaN."""
    arr = as_1d(values, name)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN")
    return arr


def as_probabilities(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Return a 1-d float64 array of probabilities, all in ``[0, 1]``."""
    arr = as_float(values, name)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name}: probabilities must lie in [0, 1], got range [{arr.min()}, {arr.max()}]")
    return arr


def as_binary(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Return a 1-d float64 array of labels, each exactly 0 or 1 (booleans accepted)."""
    arr = as_float(values, name)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name}: labels must be 0 or 1")
    return arr


def as_bool(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Return a 1-d boolean array; accepts booleans or integers that are 0 or 1."""
    arr = as_1d(values, name)
    if arr.dtype.kind == "b":
        return arr
    return as_binary(arr, name).astype(bool)


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) ``>= 1``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
    return int(value)


def check_ids(values: npt.ArrayLike, name: str) -> np.ndarray:
    """Return a 1-d array of ids (integers or strings); floats with NaN are rejected."""
    arr = as_1d(values, name)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name}: ids contain NaN")
    if arr.dtype.kind not in "biufUSO":
        raise ValueError(f"{name}: ids must be integers or strings, got dtype {arr.dtype}")
    return arr


def id_family(arr: np.ndarray) -> str:
    """Return ``"number"`` or ``"string"``: ids of different families never match each other."""
    return "number" if arr.dtype.kind in "biuf" else "string"
