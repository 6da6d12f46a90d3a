"""Linear assignment: a drop-in for ``scipy.optimize.linear_sum_assignment``
that also returns the optimality certificate (dual variables)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saematch import _core
from saematch._arrays import as_numpy, readable_in_place


@dataclass(frozen=True)
class AssignmentResult:
    """An optimal matching with its certificate.

    ``row_ind``/``col_ind`` are SciPy's return values. When minimising,
    ``cost[i, j] - row_duals[i] - col_duals[j] >= 0`` for every allowed pair and
    ``== 0`` on the matching (``<= 0`` when maximising); for a non-square matrix
    the larger side's duals are ``<= 0`` (``>= 0`` when maximising) and zero
    where unmatched. So ``row_duals.sum() + col_duals.sum() == objective``.
    """

    row_ind: np.ndarray
    col_ind: np.ndarray
    objective: float
    row_duals: np.ndarray
    col_duals: np.ndarray
    stats: dict


def _as_cost_array(cost, dtype) -> np.ndarray:
    array = as_numpy(cost, fallback="float64")
    if array.ndim != 2:
        raise ValueError(f"expected a matrix (2-D array), got a {array.ndim}-D array")
    if dtype is not None:
        target = np.dtype(dtype)
        if target not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {target}")
        array = array.astype(target, copy=False)
    elif array.dtype not in (np.float32, np.float64):
        if array.dtype.kind not in "biuf":
            raise ValueError(f"cost matrix must be real numbers, got dtype {array.dtype}")
        array = array.astype(np.float64)
    return readable_in_place(array)


def solve_assignment(
    cost,
    maximize: bool = False,
    *,
    method: str = "auto",
    candidates_per_row: int = 16,
    dtype=None,
    threads: int | None = None,
) -> AssignmentResult:
    """Solve a dense assignment problem exactly and return the certificate.

    ``cost`` is a 2-D NumPy array, a CPU torch tensor, or anything
    ``np.asarray`` accepts. float32 and float64 are read in place; other
    dtypes are converted to float64. ``dtype`` forces a precision.
    +inf (minimising) or -inf (maximising) marks a forbidden pair.

    ``method``: ``"dense"`` runs Jonker-Volgenant over the whole matrix;
    ``"sparse"`` solves on each row's ``candidates_per_row`` best entries and
    proves the result optimal with the dual certificate, adding entries until
    it holds; ``"auto"`` (default) picks dense below 512 rows or columns.
    Both are exact. ``threads`` caps the OpenMP threads (default: all).
    """
    array = _as_cost_array(cost, dtype)
    result = _core.solve_dense(
        array,
        bool(maximize),
        0 if threads is None else int(threads),
        str(method),
        int(candidates_per_row),
    )
    col_of_row = result["col_of_row"]
    row_ind = np.flatnonzero(col_of_row >= 0).astype(np.int64)
    return AssignmentResult(
        row_ind=row_ind,
        col_ind=col_of_row[row_ind],
        objective=float(result["objective"]),
        row_duals=result["row_duals"],
        col_duals=result["col_duals"],
        stats=dict(result["stats"]),
    )


def linear_sum_assignment(cost_matrix, maximize: bool = False, return_duals: bool = False, *, dtype=None):
    """Drop-in for :func:`scipy.optimize.linear_sum_assignment`.

    Returns ``(row_ind, col_ind)`` as int64 arrays with ``row_ind`` sorted, and
    with ``return_duals=True`` also ``(u, v)``, the dual variables that certify
    optimality (see :class:`AssignmentResult`). Raises ``ValueError`` for
    non-2-D input, NaN or wrongly signed infinities ("matrix contains invalid
    numeric entries") and matrices whose forbidden entries leave no complete
    matching ("cost matrix is infeasible").
    """
    r = solve_assignment(cost_matrix, maximize, dtype=dtype)
    if return_duals:
        return r.row_ind, r.col_ind, r.row_duals, r.col_duals
    return r.row_ind, r.col_ind
