"""Shared input validation and scalar/array output handling.

Validation lives in one place so every routine raises the same ``StatsInputError`` for the same
bad input, before any special function can turn it into NaN.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from nodes.stats.errors import StatsInputError

FloatArray: TypeAlias = NDArray[np.float64]
FloatOrArray: TypeAlias = float | FloatArray


def _fmt(values: FloatArray) -> str:
    """Show the first offending value, which is what a user needs to find the bad row."""
    flat = values.ravel()
    if not flat.size:
        return "[]"
    return show(float(flat[0]))


def show(x: float) -> str:
    """Integral values print like the counts they are (1, not 1.0)."""
    if np.isfinite(x) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def any_true(mask: NDArray[np.bool_] | np.bool_) -> bool:
    """Whether any element is true. A 0-d mask (one look's scalars, the common call) is read
    directly: numpy's ``.any()`` costs microseconds of dispatch, and a look runs dozens of
    checks."""
    return bool(mask) if mask.ndim == 0 else bool(mask.any())


def as_finite(value: ArrayLike, name: str) -> FloatArray:
    """Convert to a float64 array and reject NaN/inf, which would poison every downstream number."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(name, f"must be numeric, got {value!r}") from exc
    if arr.ndim == 0:
        if not math.isfinite(arr.item()):
            raise StatsInputError(name, f"must be finite, got {show(arr.item())}")
        return arr
    bad = ~np.isfinite(arr)
    if bad.any():
        raise StatsInputError(name, f"must be finite, got {_fmt(arr[bad])}")
    return arr


def at_least(value: ArrayLike, name: str, minimum: float) -> FloatArray:
    """Finite values that are all >= ``minimum`` (sample sizes, variances)."""
    arr = as_finite(value, name)
    bad = arr < minimum
    if any_true(bad):
        raise StatsInputError(name, f"must be >= {minimum:g}, got {_fmt(arr[bad])}")
    return arr


def integer_valued(value: ArrayLike, name: str, minimum: float = 0.0) -> FloatArray:
    """Counts: finite, integral and >= ``minimum``."""
    arr = at_least(value, name, minimum)
    bad = arr != np.round(arr)
    if any_true(bad):
        raise StatsInputError(name, f"must be an integer count, got {_fmt(arr[bad])}")
    return arr


def probability(value: Any, name: str) -> float:
    """A scalar strictly inside (0, 1): alpha, power, rates used for planning."""
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(name, f"must be a number in (0, 1), got {value!r}") from exc
    if not (np.isfinite(x) and 0.0 < x < 1.0):
        raise StatsInputError(name, f"must be in (0, 1), got {x!r}")
    return x


def positive_scalar(value: Any, name: str) -> float:
    """A finite scalar > 0 (sd, tau, prior parameters)."""
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(name, f"must be a positive number, got {value!r}") from exc
    if not (np.isfinite(x) and x > 0.0):
        raise StatsInputError(name, f"must be finite and > 0, got {x!r}")
    return x


def broadcast(**arrays: FloatArray) -> list[FloatArray]:
    """Broadcast named inputs together, naming the inputs when their shapes disagree."""
    if all(a.ndim == 0 for a in arrays.values()):  # scalars: nothing to broadcast
        return list(arrays.values())
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError as exc:
        names = ", ".join(arrays)
        shapes = ", ".join(str(np.shape(a)) for a in arrays.values())
        first = next(iter(arrays))
        raise StatsInputError(first, f"shapes of {names} do not broadcast: {shapes}") from exc


def two_arm_summaries(
    n_control: ArrayLike,
    mean_control: ArrayLike,
    var_control: ArrayLike,
    n_candidate: ArrayLike,
    mean_candidate: ArrayLike,
    var_candidate: ArrayLike,
) -> list[FloatArray]:
    """Validated, broadcast (n, mean, sample variance) of both arms. n >= 2 because a sample
    variance needs two points; zero variance in both arms leaves any test undefined."""
    arrays = broadcast(
        n_control=at_least(n_control, "n_control", 2.0),
        mean_control=as_finite(mean_control, "mean_control"),
        var_control=at_least(var_control, "var_control", 0.0),
        n_candidate=at_least(n_candidate, "n_candidate", 2.0),
        mean_candidate=as_finite(mean_candidate, "mean_candidate"),
        var_candidate=at_least(var_candidate, "var_candidate", 0.0),
    )
    if any_true((arrays[2] == 0.0) & (arrays[5] == 0.0)):
        raise StatsInputError(
            "var_control", "zero variance in both arms (var_candidate too); the test is undefined"
        )
    return arrays


def two_arm_counts(
    successes_control: ArrayLike,
    n_control: ArrayLike,
    successes_candidate: ArrayLike,
    n_candidate: ArrayLike,
    *,
    min_n: float = 2.0,
) -> list[FloatArray]:
    """Validated, broadcast (successes, n) of both arms: integers, 0 <= successes <= n,
    n >= ``min_n``."""
    arrays = broadcast(
        successes_control=integer_valued(successes_control, "successes_control", 0.0),
        n_control=integer_valued(n_control, "n_control", min_n),
        successes_candidate=integer_valued(successes_candidate, "successes_candidate", 0.0),
        n_candidate=integer_valued(n_candidate, "n_candidate", min_n),
    )
    for s, n, suffix in ((arrays[0], arrays[1], "control"), (arrays[2], arrays[3], "candidate")):
        bad = s > n
        if any_true(bad):
            raise StatsInputError(
                f"successes_{suffix}",
                f"must be <= n_{suffix}, got {show(float(s[bad][0]))} > {show(float(n[bad][0]))}",
            )
    return arrays


def out(value: FloatArray | np.floating[Any] | float) -> FloatOrArray:
    """Return a Python float for 0-d results so scalar callers never see numpy types."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    return arr


def nct_cdf(df: ArrayLike, nc: ArrayLike, x: ArrayLike) -> FloatArray:
    """Noncentral t CDF; scipy returns NaN deep in a tail (probability < 1e-30), so fill it."""
    r = np.asarray(special.nctdtr(df, nc, x), dtype=np.float64)
    bad = np.isnan(r)
    if bad.any():
        far_low = np.broadcast_to(np.asarray(x) < np.asarray(nc), r.shape)
        r = np.where(bad, np.where(far_low, 0.0, 1.0), r)
    return r
