// Comparing SAEs trained with different seeds: the paper's method. Torch-free.
//
//   sae_directions(enc, dec, name)   an SAE's normalised latents
//   compare_pair(a, b, options)      encoder and decoder matchings, certified
//   compare_many(saes, options)      every pair, then share counts per latent
//   SharedRule / kSharedRules        when a latent counts as shared
//   only_in_base_fraction, ...       the multi-seed statistics (Fig. 2, A1)
#pragma once

#include "saematch/compare/canonical_ties.hpp"
#include "saematch/compare/cosine_source.hpp"
#include "saematch/compare/latent_matching.hpp"
#include "saematch/compare/multi_seed.hpp"
#include "saematch/compare/multi_seed_stats.hpp"
#include "saematch/compare/pair_report.hpp"
#include "saematch/compare/row_settler.hpp"
#include "saematch/compare/screen_backend.hpp"
#include "saematch/compare/shared_rules.hpp"
