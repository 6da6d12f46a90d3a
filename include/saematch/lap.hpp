// Linear assignment, exact and certified: what a user of the solvers
// includes. Torch-free (standard library, Eigen, OpenMP).
//
//   solve_dense(cost, options)          dense Jonker-Volgenant, SciPy's conventions
//   solve_on_candidates(source, ...)    sparse JV on a candidate graph plus the
//                                       dual certificate that proves it optimal
//   check_certificate(cost, a, max)     an independent check of any assignment
#pragma once

#include "saematch/lap/assignment.hpp"
#include "saematch/lap/candidate_graph.hpp"
#include "saematch/lap/candidate_solve.hpp"
#include "saematch/lap/certificate.hpp"
#include "saematch/lap/dense_source.hpp"
#include "saematch/lap/errors.hpp"
#include "saematch/lap/matrix_view.hpp"
#include "saematch/lap/solve_dense.hpp"
#include "saematch/lap/sparse_jv.hpp"
