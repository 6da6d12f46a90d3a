"""Tests of saematch's linear assignment against SciPy's
``scipy.optimize.linear_sum_assignment``, plus an independent check of the
dual certificate the solver returns.

The certificate (see include/saematch/lap/assignment.hpp): when minimising,
``cost[i, j] - u[i] - v[j] >= 0`` on every allowed pair and ``== 0`` on the
matching; for a non-square matrix the larger side's duals are ``<= 0`` and
exactly ``0`` where unmatched. When maximising every inequality flips. Hence
``u.sum() + v.sum()`` equals the objective.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import saematch as sm

scipy_optimize = pytest.importorskip("scipy.optimize")
scipy_lsa = scipy_optimize.linear_sum_assignment


# --------------------------------------------------------------------------
# Helpers written independently of the library.
# --------------------------------------------------------------------------


def _forbidden_value(maximize: bool) -> float:
    return -np.inf if maximize else np.inf


def _matched_sum(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    return float(np.asarray(cost, dtype=np.float64)[rows, cols].sum())


def _objective_tol(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """Absolute tolerance for "same objective to 1e-9 relative": relative to the
    sum of the magnitudes of the matched entries (so that an objective near 0
    made of large terms is not held to an impossible standard)."""
    terms = np.abs(np.asarray(cost, dtype=np.float64)[rows, cols])
    return 1e-9 * float(terms.sum())


def assert_valid_matching(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray, maximize: bool) -> None:
    n, m = cost.shape
    k = min(n, m)
    assert rows.dtype == np.int64, rows.dtype
    assert cols.dtype == np.int64, cols.dtype
    assert rows.shape == (k,) and cols.shape == (k,), (rows.shape, cols.shape, cost.shape)
    assert np.all(np.diff(rows) > 0), "row_ind must be strictly increasing"
    assert np.all((rows >= 0) & (rows < n))
    assert np.all((cols >= 0) & (cols < m))
    assert np.unique(cols).size == k, "a column is assigned twice"
    if k:
        chosen = np.asarray(cost, dtype=np.float64)[rows, cols]
        assert np.all(np.isfinite(chosen)), "the matching uses a forbidden entry"


def assert_certificate(cost, rows, cols, u, v, objective, maximize: bool) -> None:
    """Verify (u, v) is a dual certificate of optimality for (rows, cols)."""
    c = np.asarray(cost, dtype=np.float64)
    n, m = c.shape
    u = np.asarray(u)
    v = np.asarray(v)
    assert u.shape == (n,) and v.shape == (m,), (u.shape, v.shape, c.shape)
    assert u.dtype == np.float64 and v.dtype == np.float64
    assert np.all(np.isfinite(u)) and np.all(np.isfinite(v)), "duals must be finite"

    allowed = np.isfinite(c)
    scale = max(
        np.finfo(np.float64).tiny,
        float(np.abs(c[allowed]).max()) if allowed.any() else 0.0,
        float(np.abs(u).max()) if n else 0.0,
        float(np.abs(v).max()) if m else 0.0,
    )
    tol = 1e-9 * scale
    reduced = c - u[:, None] - v[None, :]

    # Dual feasibility on every allowed pair.
    if maximize:
        worst = reduced[allowed].max() if allowed.any() else -np.inf
        assert worst <= tol, f"reduced cost {worst} > 0 on an allowed pair (maximising)"
    else:
        worst = reduced[allowed].min() if allowed.any() else np.inf
        assert worst >= -tol, f"reduced cost {worst} < 0 on an allowed pair (minimising)"

    # Complementary slackness on the matching.
    if rows.size:
        on_match = np.abs(reduced[rows, cols]).max()
        assert on_match <= tol, f"reduced cost {on_match} != 0 on the matching"

    # Larger side: sign-constrained, zero where unmatched.
    if n != m:
        if n < m:
            larger, matched = v, cols
        else:
            larger, matched = u, rows
        if maximize:
            assert np.all(larger >= -tol), "larger-side duals must be >= 0 when maximising"
        else:
            assert np.all(larger <= tol), "larger-side duals must be <= 0 when minimising"
        unmatched = np.ones(larger.size, dtype=bool)
        unmatched[matched] = False
        assert np.all(larger[unmatched] == 0.0), "larger-side duals must be exactly 0 where unmatched"

    # Strong duality.
    total = float(u.sum() + v.sum())
    obj_tol = max(_objective_tol(c, rows, cols), 1e-9 * (np.abs(u).sum() + np.abs(v).sum()))
    assert abs(total - objective) <= obj_tol, f"sum(u)+sum(v) = {total} != objective {objective}"


def compare_with_scipy(cost, maximize: bool, *, exact: bool = False, label: str = "") -> None:
    """Solve with both libraries and check shapes, dtypes, objective and the
    certificate. ``exact``: the costs are small integers, so the objectives
    must agree exactly."""
    c64 = np.asarray(cost, dtype=np.float64)
    ref_rows, ref_cols = scipy_lsa(c64, maximize=maximize)
    rows, cols = sm.linear_sum_assignment(cost, maximize=maximize)

    assert rows.shape == ref_rows.shape and cols.shape == ref_cols.shape, label
    assert_valid_matching(c64, rows, cols, maximize)
    if c64.shape[0] <= c64.shape[1]:
        np.testing.assert_array_equal(rows, ref_rows, err_msg=label)

    ref_obj = _matched_sum(c64, ref_rows, ref_cols)
    ours = _matched_sum(c64, rows, cols)
    if exact:
        assert ours == ref_obj, f"{label}: objective {ours} != SciPy's {ref_obj}"
    else:
        tol = _objective_tol(c64, ref_rows, ref_cols)
        assert abs(ours - ref_obj) <= tol, f"{label}: objective {ours} != SciPy's {ref_obj}"

    res = sm.solve_assignment(cost, maximize=maximize)
    np.testing.assert_array_equal(res.row_ind, rows, err_msg=label)
    np.testing.assert_array_equal(res.col_ind, cols, err_msg=label)
    assert abs(res.objective - ours) <= _objective_tol(c64, rows, cols), label
    assert_certificate(c64, res.row_ind, res.col_ind, res.row_duals, res.col_duals, res.objective, maximize)


# --------------------------------------------------------------------------
# Random cost matrices.
# --------------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_cost(kind: str, shape: tuple[int, int], rng: np.random.Generator, maximize: bool) -> np.ndarray:
    n, m = shape
    if kind == "uniform":
        return rng.random(shape)
    if kind == "signed":  # negative and positive, wide magnitude range
        return rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 4)
    if kind == "integer":  # many ties
        hi = int(rng.choice([2, 3, 5, 10, 100]))
        return rng.integers(0, hi, size=shape).astype(np.float64)
    if kind == "cosine":
        d = int(rng.integers(4, 33))
        a = _unit_rows(rng.standard_normal((n, d)))
        b = _unit_rows(rng.standard_normal((m, d)))
        k = int(rng.integers(0, min(n, m) + 1))
        src = rng.permutation(n)[:k]
        dst = rng.permutation(m)[:k]
        noise = rng.uniform(0.0, 0.5)
        b[dst] = _unit_rows(a[src] + noise * rng.standard_normal((k, d)))
        sim = a @ b.T
        return sim if maximize else 1.0 - sim
    if kind == "forbidden":
        base = rng.random(shape) if rng.random() < 0.5 else rng.integers(0, 4, size=shape).astype(np.float64)
        p = rng.choice([0.2, 0.5, 0.8, 0.95])
        forbidden = rng.random(shape) < p
        # Keep one complete matching of the smaller side allowed.
        k = min(n, m)
        if n <= m:
            forbidden[np.arange(n), rng.permutation(m)[:k]] = False
        else:
            forbidden[rng.permutation(n)[:k], np.arange(m)] = False
        base[forbidden] = _forbidden_value(maximize)
        return base
    raise AssertionError(kind)


def random_shape(rng: np.random.Generator) -> tuple[int, int]:
    r = rng.random()
    hi = 12 if r < 0.4 else 60 if r < 0.8 else 160 if r < 0.95 else 500
    n = int(rng.integers(1, hi + 1))
    m = int(rng.integers(1, hi + 1))
    mode = rng.random()
    if mode < 0.3:
        m = n  # square
    return n, m


KINDS = ["uniform", "signed", "integer", "cosine", "forbidden"]


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("kind", KINDS)
def test_random_matrices_match_scipy(kind, maximize):
    """40 matrices per kind and direction (400 in all), square and
    rectangular both ways, up to 500 on a side."""
    rng = np.random.default_rng([KINDS.index(kind), int(maximize), 12345])
    shapes_seen = set()
    for t in range(40):
        shape = random_shape(rng)
        shapes_seen.add((shape[0] < shape[1]) - (shape[0] > shape[1]))
        cost = make_cost(kind, shape, rng, maximize)
        exact = kind == "integer"
        compare_with_scipy(cost, maximize, exact=exact, label=f"{kind} #{t} shape={shape} maximize={maximize}")
    assert shapes_seen == {-1, 0, 1}, "the generator must cover wide, tall and square"


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("shape", [(500, 500), (350, 500), (500, 350), (1, 500), (500, 1)], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_large_matrices_match_scipy(kind, shape, maximize):
    rng = np.random.default_rng([KINDS.index(kind), shape[0], shape[1], int(maximize)])
    cost = make_cost(kind, shape, rng, maximize)
    compare_with_scipy(cost, maximize, exact=kind == "integer", label=f"{kind} {shape} maximize={maximize}")


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
def test_random_forbidden_feasible_or_both_raise(maximize):
    """Forbidden entries with no guarantee of feasibility: either both
    libraries raise ValueError, or both solve with the same objective."""
    rng = np.random.default_rng([777, int(maximize)])
    outcomes = set()
    for t in range(80):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        cost = rng.random(shape)
        cost[rng.random(shape) < rng.uniform(0.4, 0.9)] = _forbidden_value(maximize)
        label = f"#{t} shape={shape}"
        try:
            scipy_lsa(cost, maximize=maximize)
        except ValueError as e:
            assert "infeasible" in str(e)
            with pytest.raises(ValueError, match="cost matrix is infeasible"):
                sm.linear_sum_assignment(cost, maximize=maximize)
            outcomes.add("infeasible")
            continue
        compare_with_scipy(cost, maximize, label=label)
        outcomes.add("feasible")
    assert outcomes == {"feasible", "infeasible"}, "both outcomes must be exercised"


def test_maximize_equals_minimize_of_negation():
    rng = np.random.default_rng(5)
    for _ in range(20):
        cost = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40))))
        r1, c1 = sm.linear_sum_assignment(cost, maximize=True)
        r2, c2 = sm.linear_sum_assignment(-cost)
        assert cost[r1, c1].sum() == pytest.approx(cost[r2, c2].sum(), rel=1e-12, abs=1e-12)


def test_known_small_example():
    # SciPy's docstring example.
    cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    rows, cols = sm.linear_sum_assignment(cost)
    np.testing.assert_array_equal(rows, [0, 1, 2])
    np.testing.assert_array_equal(cols, [1, 0, 2])
    assert cost[rows, cols].sum() == 5
    rows, cols = sm.linear_sum_assignment(cost, True)  # maximize positionally, like SciPy
    assert cost[rows, cols].sum() == 11


def _edge_cases():
    rng = np.random.default_rng(31)
    cases = {}
    for mx in (False, True):
        f = _forbidden_value(mx)
        tag = "max" if mx else "min"
        cases[f"1x1-{tag}"] = (rng.random((1, 1)), mx)
        cases[f"constant-{tag}"] = (np.full((6, 6), 2.5), mx)
        cases[f"negative-zero-{tag}"] = (np.full((4, 4), -0.0), mx)
        cases[f"huge-{tag}"] = (rng.random((40, 40)) * 1e300, mx)
        cases[f"tiny-denormal-{tag}"] = (rng.random((30, 30)) * 1e-310, mx)
        big_m = rng.random((40, 40))
        big_m[big_m < 0.5] = -1e15 if mx else 1e15
        cases[f"big-M-{tag}"] = (big_m, mx)
        diag = np.full((30, 45), f)
        diag[np.arange(30), np.arange(30)] = 1.0
        cases[f"diagonal-only-wide-{tag}"] = (diag, mx)
        wide = rng.random((3, 6))
        wide[:, 4] = f  # a column that can stay unmatched
        cases[f"forbidden-column-wide-{tag}"] = (wide, mx)
        tall = rng.random((6, 3))
        tall[4, :] = f  # a row that can stay unmatched
        cases[f"forbidden-row-tall-{tag}"] = (tall, mx)
        cases[f"large-int64-{tag}"] = (rng.integers(-(2**40), 2**40, (25, 25)), mx)
    return cases


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_match_scipy(name):
    cost, maximize = EDGE_CASES[name]
    compare_with_scipy(cost, maximize, label=name)


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_is_not_modified(dtype, maximize):
    rng = np.random.default_rng(4)
    cost = rng.random((50, 70)).astype(dtype)
    cost[rng.random(cost.shape) < 0.3] = _forbidden_value(maximize)
    before = cost.copy()
    sm.solve_assignment(cost, maximize)
    sm.linear_sum_assignment(cost.T, maximize, return_duals=True)
    np.testing.assert_array_equal(cost, before)


def test_concurrent_calls_from_python_threads():
    """The GIL is released while solving; concurrent calls must not interfere."""
    rng = np.random.default_rng(9)
    costs = [rng.random((int(rng.integers(50, 200)), int(rng.integers(50, 200)))) for _ in range(16)]
    costs += [c.astype(np.float32) for c in costs[:4]]
    serial = [sm.solve_assignment(c) for c in costs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(sm.solve_assignment, costs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.col_ind, b.col_ind)
        np.testing.assert_array_equal(a.row_duals, b.row_duals)
        np.testing.assert_array_equal(a.col_duals, b.col_duals)


# --------------------------------------------------------------------------
# Duals.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("shape", [(7, 7), (4, 9), (9, 4)], ids=str)
def test_return_duals(shape, maximize):
    rng = np.random.default_rng([shape[0], shape[1], int(maximize)])
    cost = rng.random(shape)
    out = sm.linear_sum_assignment(cost, maximize, return_duals=True)
    assert isinstance(out, tuple) and len(out) == 4
    rows, cols, u, v = out
    rows2, cols2 = sm.linear_sum_assignment(cost, maximize)
    np.testing.assert_array_equal(rows, rows2)
    np.testing.assert_array_equal(cols, cols2)
    assert u.shape == (shape[0],) and v.shape == (shape[1],)
    assert_certificate(cost, rows, cols, u, v, cost[rows, cols].sum(), maximize)
    res = sm.solve_assignment(cost, maximize)
    np.testing.assert_array_equal(res.row_duals, u)
    np.testing.assert_array_equal(res.col_duals, v)
    assert isinstance(res, sm.AssignmentResult)
    assert set(res.stats) >= {"free_rows_after_init", "augmenting_row_steps", "shortest_path_rows"}


def test_certificate_checker_rejects_wrong_duals():
    """The test's own certificate check must be able to fail."""
    rng = np.random.default_rng(1)
    cost = rng.random((6, 9))
    res = sm.solve_assignment(cost)
    assert_certificate(cost, res.row_ind, res.col_ind, res.row_duals, res.col_duals, res.objective, False)
    bad_u = res.row_duals.copy()
    bad_u[0] += 0.1
    with pytest.raises(AssertionError):
        assert_certificate(cost, res.row_ind, res.col_ind, bad_u, res.col_duals, res.objective, False)
    # Shifting u up and v down keeps feasibility and slackness on a square
    # matrix but breaks the sign/zero conditions of the larger side here.
    with pytest.raises(AssertionError):
        assert_certificate(
            cost, res.row_ind, res.col_ind, res.row_duals + 1.0, res.col_duals - 1.0, res.objective, False
        )


# --------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------


def _nan_matrix():
    c = np.ones((3, 4))
    c[1, 2] = np.nan
    return c


def _inf_matrix(sign):
    c = np.ones((4, 3))
    c[2, 1] = sign * np.inf
    return c


INVALID_CASES = [
    pytest.param(_nan_matrix(), False, id="nan-min"),
    pytest.param(_nan_matrix(), True, id="nan-max"),
    pytest.param(_nan_matrix().astype(np.float32), False, id="nan-float32"),
    pytest.param(_inf_matrix(-1), False, id="neg-inf-min"),
    pytest.param(_inf_matrix(+1), True, id="pos-inf-max"),
    pytest.param(_inf_matrix(-1).astype(np.float32), False, id="neg-inf-min-float32"),
    pytest.param(_inf_matrix(+1).astype(np.float32), True, id="pos-inf-max-float32"),
]


@pytest.mark.parametrize("cost, maximize", INVALID_CASES)
def test_invalid_entries_raise_like_scipy(cost, maximize):
    with pytest.raises(ValueError, match="invalid numeric entries"):
        scipy_lsa(cost, maximize=maximize)
    with pytest.raises(ValueError, match="matrix contains invalid numeric entries"):
        sm.linear_sum_assignment(cost, maximize=maximize)
    with pytest.raises(ValueError, match="matrix contains invalid numeric entries"):
        sm.solve_assignment(cost, maximize=maximize)


def test_right_signed_infinities_are_allowed():
    c = np.array([[np.inf, 1.0], [2.0, 3.0]])
    rows, cols = sm.linear_sum_assignment(c)
    np.testing.assert_array_equal(cols, [1, 0])
    rows, cols = sm.linear_sum_assignment(-c, maximize=True)
    np.testing.assert_array_equal(cols, [1, 0])


INF = np.inf
INFEASIBLE_CASES = [
    pytest.param(np.array([[INF, INF], [1.0, 2.0]]), False, id="empty-row"),
    pytest.param(np.array([[INF, 1.0], [INF, 2.0]]), False, id="empty-col"),
    pytest.param(np.array([[1.0, INF, INF], [2.0, INF, INF], [3.0, 4.0, 5.0]]), False, id="hall-violation"),
    pytest.param(np.array([[INF, 1.0, INF, INF], [INF, 2.0, INF, INF]]), False, id="wide"),
    pytest.param(np.array([[INF, 1.0], [INF, 2.0], [INF, 3.0]]), False, id="tall"),
    pytest.param(-np.array([[1.0, INF, INF], [2.0, INF, INF], [3.0, 4.0, 5.0]]), True, id="hall-violation-max"),
    pytest.param(np.full((3, 3), INF), False, id="all-forbidden"),
    pytest.param(np.full((2, 5), -INF, dtype=np.float32), True, id="all-forbidden-max-float32"),
]


@pytest.mark.parametrize("cost, maximize", INFEASIBLE_CASES)
def test_infeasible_raises_like_scipy(cost, maximize):
    with pytest.raises(ValueError, match="infeasible"):
        scipy_lsa(cost, maximize=maximize)
    with pytest.raises(ValueError, match="cost matrix is infeasible"):
        sm.linear_sum_assignment(cost, maximize=maximize)


@pytest.mark.parametrize(
    "cost",
    [
        pytest.param(np.arange(3.0), id="1-D"),
        pytest.param(np.ones((2, 2, 2)), id="3-D"),
        pytest.param([1.0, 2.0, 3.0], id="1-D-list"),
        pytest.param(np.float64(3.0), id="0-D"),
        pytest.param(np.ones((2, 2, 2), dtype=np.float32), id="3-D-float32"),
    ],
)
def test_non_2d_raises_like_scipy(cost):
    with pytest.raises(ValueError, match=r"expected a matrix \(2-D array\)"):
        scipy_lsa(cost)
    with pytest.raises(ValueError, match=r"expected a matrix \(2-D array\)"):
        sm.linear_sum_assignment(cost)
    with pytest.raises(ValueError, match=r"expected a matrix \(2-D array\)"):
        sm.solve_assignment(cost)


def test_non_2d_torch_tensor_raises():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"expected a matrix \(2-D array\)"):
        sm.linear_sum_assignment(torch.ones(3))


# --------------------------------------------------------------------------
# Empty shapes.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_empty_shapes(shape, dtype):
    cost = np.zeros(shape, dtype=dtype)
    ref = scipy_lsa(cost)
    out = sm.linear_sum_assignment(cost)
    assert len(out) == 2
    for ours, theirs in zip(out, ref):
        assert ours.dtype == np.int64
        assert ours.shape == theirs.shape == (0,)
    rows, cols, u, v = sm.linear_sum_assignment(cost, return_duals=True)
    assert u.shape == (shape[0],) and v.shape == (shape[1],)
    assert np.all(u == 0) and np.all(v == 0)
    res = sm.solve_assignment(cost, maximize=True)
    assert res.objective == 0.0 and res.row_ind.size == 0 and res.col_ind.size == 0


# --------------------------------------------------------------------------
# Input types and layouts.
# --------------------------------------------------------------------------


def _reference(cost64, maximize=False):
    r, c = scipy_lsa(cost64, maximize=maximize)
    return cost64[r, c].sum()


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda rng, s: rng.random(s), id="float64"),
        pytest.param(lambda rng, s: rng.random(s).astype(np.float32), id="float32"),
        pytest.param(lambda rng, s: rng.integers(-50, 50, s), id="int64"),
        pytest.param(lambda rng, s: rng.integers(-50, 50, s).astype(np.int32), id="int32"),
        pytest.param(lambda rng, s: rng.integers(0, 255, s).astype(np.uint8), id="uint8"),
        pytest.param(lambda rng, s: rng.random(s) < 0.5, id="bool"),
        pytest.param(lambda rng, s: rng.random(s).astype(np.float16), id="float16"),
        pytest.param(lambda rng, s: rng.random(s).astype(">f8"), id="big-endian-float64"),
        pytest.param(lambda rng, s: rng.random(s).tolist(), id="list-of-lists"),
        pytest.param(lambda rng, s: rng.integers(0, 9, s).tolist(), id="int-list-of-lists"),
        pytest.param(lambda rng, s: [[bool(x) for x in row] for row in rng.random(s) < 0.5], id="bool-list"),
    ],
)
@pytest.mark.parametrize("shape", [(13, 13), (9, 17), (17, 9)], ids=str)
def test_input_dtypes(make, shape, maximize):
    rng = np.random.default_rng([shape[0], shape[1], 99])
    cost = make(rng, shape)
    c64 = np.asarray(cost).astype(np.float64)
    rows, cols = sm.linear_sum_assignment(cost, maximize=maximize)
    ref_rows, ref_cols = scipy_lsa(cost, maximize=maximize)
    assert rows.shape == ref_rows.shape and cols.shape == ref_cols.shape
    assert_valid_matching(c64, rows, cols, maximize)
    assert c64[rows, cols].sum() == pytest.approx(c64[ref_rows, ref_cols].sum(), rel=1e-9, abs=1e-9)
    res = sm.solve_assignment(cost, maximize=maximize)
    assert_certificate(c64, res.row_ind, res.col_ind, res.row_duals, res.col_duals, res.objective, maximize)


def _views(base):
    return {
        "transposed": base.T,
        "stepped": base[::2, ::3],
        "negative-strides": base[::-1, ::-1],
        "negative-col-stride": base[:, ::-2],
        "transposed-reversed": base.T[::-3, 1::2],
        "fortran-order": np.asfortranarray(base[:40, :50]),
        "column-slice": base[5:40, 7:9],
        "row-slice": base[3:4, :],
        "broadcast-row": np.broadcast_to(base[0, :30], (25, 30)),  # zero row stride, read-only
        "broadcast-col": np.broadcast_to(base[:30, :1], (30, 20)),  # zero column stride
    }


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "name",
    [
        "transposed",
        "stepped",
        "negative-strides",
        "negative-col-stride",
        "transposed-reversed",
        "fortran-order",
        "column-slice",
        "row-slice",
        "broadcast-row",
        "broadcast-col",
    ],
)
def test_non_contiguous_views(name, dtype, maximize):
    rng = np.random.default_rng(2024)
    base = rng.random((61, 83)).astype(dtype)
    view = _views(base)[name]
    copy = np.ascontiguousarray(view)
    rows_v, cols_v, u_v, v_v = sm.linear_sum_assignment(view, maximize, return_duals=True)
    rows_c, cols_c, u_c, v_c = sm.linear_sum_assignment(copy, maximize, return_duals=True)
    np.testing.assert_array_equal(rows_v, rows_c)
    np.testing.assert_array_equal(cols_v, cols_c)
    np.testing.assert_array_equal(u_v, u_c)
    np.testing.assert_array_equal(v_v, v_c)
    c64 = copy.astype(np.float64)
    assert c64[rows_v, cols_v].sum() == pytest.approx(_reference(c64, maximize), rel=1e-9, abs=1e-9)
    assert_certificate(c64, rows_v, cols_v, u_v, v_v, c64[rows_v, cols_v].sum(), maximize)


def test_view_with_unaligned_stride_like_scipy():
    """A float64 field of a packed structured array has a 12-byte stride, not
    a whole number of elements. SciPy accepts it (it copies); as a drop-in,
    saematch should give the same objective."""
    rng = np.random.default_rng(3)
    rec = np.zeros((6, 7), dtype=[("a", "<f8"), ("b", "<f4")])
    rec["a"] = rng.random((6, 7))
    view = rec["a"]
    assert view.strides[1] == 12
    ref_rows, ref_cols = scipy_lsa(view)
    rows, cols = sm.linear_sum_assignment(view)
    np.testing.assert_array_equal(rows, ref_rows)
    assert view[rows, cols].sum() == pytest.approx(view[ref_rows, ref_cols].sum(), rel=1e-12)


def test_misaligned_float64_view():
    """A float64 field at byte offset 4 of a 16-byte record: whole-element
    strides but a misaligned address. Run in a subprocess so that a crash
    (e.g. an aligned vector load) fails this test instead of the session."""
    code = textwrap.dedent(
        """
        import numpy as np, saematch as sm
        from scipy.optimize import linear_sum_assignment
        dt = np.dtype({"names": ["b", "a"], "formats": ["<f4", "<f8"], "offsets": [0, 4], "itemsize": 16})
        rng = np.random.default_rng(0)
        for shape in [(7, 7), (120, 90), (90, 120)]:
            rec = np.zeros(shape, dtype=dt)
            rec["a"] = rng.random(shape)
            view = rec["a"]
            assert not view.flags.aligned
            r, c = sm.linear_sum_assignment(view)
            r2, c2 = linear_sum_assignment(view)
            assert abs(view[r, c].sum() - view[r2, c2].sum()) < 1e-9, shape
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("maximize", [False, True], ids=["min", "max"])
@pytest.mark.parametrize("tdtype", ["float32", "float64", "int64", "int32", "float16", "bool"])
@pytest.mark.parametrize("shape", [(20, 20), (12, 30), (30, 12)], ids=str)
def test_torch_tensors_match_numpy(tdtype, shape, maximize):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng([shape[0], shape[1], 7])
    if tdtype in ("int64", "int32"):
        arr = rng.integers(-20, 20, shape).astype(tdtype)
    elif tdtype == "bool":
        arr = rng.random(shape) < 0.5
    else:
        arr = rng.random(shape).astype(tdtype)
    tensor = torch.from_numpy(arr)
    assert tensor.dtype == getattr(torch, tdtype)
    rows_t, cols_t, u_t, v_t = sm.linear_sum_assignment(tensor, maximize, return_duals=True)
    rows_n, cols_n, u_n, v_n = sm.linear_sum_assignment(arr, maximize, return_duals=True)
    assert isinstance(rows_t, np.ndarray) and rows_t.dtype == np.int64 and cols_t.dtype == np.int64
    np.testing.assert_array_equal(rows_t, rows_n)
    np.testing.assert_array_equal(cols_t, cols_n)
    np.testing.assert_array_equal(u_t, u_n)
    np.testing.assert_array_equal(v_t, v_n)
    c64 = arr.astype(np.float64)
    assert c64[rows_t, cols_t].sum() == pytest.approx(_reference(c64, maximize), rel=1e-9, abs=1e-9)


def test_torch_non_contiguous_and_grad_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    arr = rng.random((40, 25))
    t = torch.tensor(arr, dtype=torch.float32, requires_grad=True)
    a32 = arr.astype(np.float32)
    for view, ref in [(t, a32), (t.T, a32.T), (t[::2, 3:20], a32[::2, 3:20]), (t.T[::3], a32.T[::3])]:
        assert view.dim() == 2
        rows, cols = sm.linear_sum_assignment(view)
        rows_n, cols_n = sm.linear_sum_assignment(np.ascontiguousarray(ref))
        np.testing.assert_array_equal(rows, rows_n)
        np.testing.assert_array_equal(cols, cols_n)
    res = sm.solve_assignment(t.detach().double().T, maximize=True)
    c64 = arr.astype(np.float32).astype(np.float64).T
    assert res.objective == pytest.approx(_reference(c64, True), rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_argument(dtype):
    rng = np.random.default_rng(8)
    cost = rng.random((30, 30))
    res = sm.solve_assignment(cost, dtype=dtype)
    c = cost.astype(dtype).astype(np.float64)
    assert res.objective == pytest.approx(_reference(c), rel=1e-9)
    rows, cols = sm.linear_sum_assignment(cost.tolist(), dtype=dtype)
    np.testing.assert_array_equal(rows, res.row_ind)
    np.testing.assert_array_equal(cols, res.col_ind)
    with pytest.raises(ValueError):
        sm.solve_assignment(cost, dtype=np.int64)


# --------------------------------------------------------------------------
# Memory: float32 is read in place.
# --------------------------------------------------------------------------


def _traced_peak(fn) -> int:
    """Peak bytes allocated (as seen by tracemalloc, which NumPy reports its
    array buffers to) while ``fn`` runs, above what was live before."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peak - before


def test_float32_is_not_upcast():
    n = 2000
    rng = np.random.default_rng(0)
    cost = rng.random((n, n), dtype=np.float32)
    float64_copy = 8 * n * n

    # The measurement can see a copy: forcing float64 makes one.
    forced = _traced_peak(lambda: sm.linear_sum_assignment(cost, dtype=np.float64))
    assert forced >= float64_copy, f"dtype=float64 should copy ({float64_copy} bytes); traced peak {forced}"

    in_place = _traced_peak(lambda: sm.linear_sum_assignment(cost))
    assert in_place < float64_copy // 10, f"float32 input allocated {in_place} bytes (a float64 copy is {float64_copy})"
    in_place = _traced_peak(lambda: sm.solve_assignment(cost, dtype=np.float32))
    assert in_place < float64_copy // 10, f"float32 input allocated {in_place} bytes (a float64 copy is {float64_copy})"

    # Strided float32 views are read in place too.
    strided = _traced_peak(lambda: sm.linear_sum_assignment(cost.T[::-1]))
    assert strided < float64_copy // 10, f"float32 view allocated {strided} bytes"


# --------------------------------------------------------------------------
# Threads.
# --------------------------------------------------------------------------


def _crowded(rng, shape, integer):
    """All rows (or columns) want the same few cheap entries: many Dijkstra
    scans over a long side (>= 16384 so that the scans run in parallel)."""
    n, m = shape
    if n <= m:
        cost = rng.random(m)[None, :] + 1e-3 * rng.random(shape)
    else:
        cost = rng.random(n)[:, None] + 1e-3 * rng.random(shape)
    return np.round(cost * 50) if integer else cost


@pytest.mark.parametrize(
    "shape, integer, maximize",
    [
        ((40, 20000), False, False),
        ((40, 20000), True, False),
        ((20000, 40), False, True),
        ((60, 20000), True, True),
        ((300, 300), False, False),
    ],
    ids=["wide", "wide-ties", "tall-max", "wide-ties-max", "square"],
)
def test_thread_counts_give_identical_results(shape, integer, maximize):
    rng = np.random.default_rng([shape[0], shape[1], int(integer)])
    cost = _crowded(rng, shape, integer)
    r1 = sm.solve_assignment(cost, maximize, threads=1)
    r2 = sm.solve_assignment(cost, maximize, threads=2)
    r0 = sm.solve_assignment(cost, maximize)
    assert r1.stats["shortest_path_rows"] > 0, "the test should exercise the shortest-path scans"
    for r in (r2, r0):
        np.testing.assert_array_equal(r.row_ind, r1.row_ind)
        np.testing.assert_array_equal(r.col_ind, r1.col_ind)
        np.testing.assert_array_equal(r.row_duals, r1.row_duals)
        np.testing.assert_array_equal(r.col_duals, r1.col_duals)
        assert r.objective == r1.objective
        assert r.stats == r1.stats
    assert_certificate(cost, r1.row_ind, r1.col_ind, r1.row_duals, r1.col_duals, r1.objective, maximize)
    assert r1.objective == pytest.approx(_reference(cost, maximize), rel=1e-9)
