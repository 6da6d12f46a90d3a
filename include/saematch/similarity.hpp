// Cosine similarity of two sets of latent directions without the n x m
// matrix: unit rows, the streamed top-k candidate pass and exact per-pair
// values. Torch-free; the optional LibTorch backend for a GPU is
// saematch/similarity/aten/device_backend.hpp, included on its own.
//
//   unit_rows(view, name)        normalised rows, dead (zero) rows counted
//   top_candidates(a, b, opts)   each row's and column's k best partners
//   accurate_dot, exact_cosine_matrix   the reference value of a pair
#pragma once

#include "saematch/similarity/accurate_dot.hpp"
#include "saematch/similarity/bf16_gemm.hpp"
#include "saematch/similarity/candidate_pools.hpp"
#include "saematch/similarity/candidates.hpp"
#include "saematch/similarity/eigen.hpp"
#include "saematch/similarity/exact_cosines.hpp"
#include "saematch/similarity/gemm.hpp"
#include "saematch/similarity/list_ranking.hpp"
#include "saematch/similarity/parallel.hpp"
#include "saematch/similarity/rows.hpp"
#include "saematch/similarity/screened_candidates.hpp"
#include "saematch/similarity/screened_rows.hpp"
#include "saematch/similarity/tile_buffer.hpp"
#include "saematch/similarity/tile_scan.hpp"
#include "saematch/similarity/unit_rows.hpp"
