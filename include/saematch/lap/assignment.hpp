// What an assignment solver takes (options) and gives back (the matching with
// its optimality certificate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace saematch::lap {

// How solve_dense finds the optimum; both are exact.
enum class SolveMethod {
    // `dense` below 512 rows or columns, `sparse` from there on: where
    // sparse overtook dense on uniform and cosine matrices
    // (benchmarks/README.md, "Measurements behind the code").
    automatic,
    // Jonker-Volgenant over the full matrix.
    dense,
    // Jonker-Volgenant on each row's cheapest candidates, then a dual
    // certificate over the full matrix, adding the pairs it shows are
    // missing until the optimum is proven. A few passes over the matrix
    // instead of one scan per search step: much faster on large matrices.
    sparse,
};

struct SolveOptions {
    // Maximise the summed entries instead of minimising them.
    bool maximize = false;
    SolveMethod method = SolveMethod::automatic;
    // Candidates kept per row by the sparse method.
    std::int32_t candidates_per_row = 16;
    // Threads for the shortest-path scans: 0 uses OpenMP's default, 1 runs
    // serially. Results are identical for every thread count.
    int threads = 0;
    // Scans over fewer columns than this run on one thread: below it the
    // cost of synchronising threads exceeds the work they would share.
    std::ptrdiff_t parallel_min_cols = 16384;
};

// Counters that explain where the solver spent its time.
struct SolveStats {
    std::int64_t free_rows_after_init = 0;     // rows left for shortest paths
    std::int64_t augmenting_row_steps = 0;     // augmenting row reduction
    std::int64_t shortest_path_rows = 0;       // rows scanned by Dijkstra
    bool used_sparse = false;                  // which method ran
    std::int64_t certificate_rounds = 0;       // sparse: certificate passes
    std::int64_t candidate_pairs = 0;          // sparse: pairs in the final graph
};

// The optimal matching and its certificate. With n = min(rows, cols), every
// row and column of the smaller side is matched.
//
// Duals (u for rows, v for columns) certify optimality. When minimising,
// c(i, j) − u[i] − v[j] ≥ 0 for every allowed pair and = 0 on the matching;
// when the matrix is not square, the duals of the larger side are ≤ 0 and
// exactly 0 where unmatched. When maximising every inequality flips
// (≤ 0 reduced costs, larger-side duals ≥ 0). Hence sum(u) + sum(v) equals
// the objective, and bounds every other matching's total.
struct Assignment {
    std::vector<std::int64_t> col_of_row;  // −1 for unmatched rows
    std::vector<std::int64_t> row_of_col;  // −1 for unmatched columns
    double objective = 0.0;                // sum of the matched entries
    std::vector<double> row_duals;         // u
    std::vector<double> col_duals;         // v
    SolveStats stats;
};

}  // namespace saematch::lap
