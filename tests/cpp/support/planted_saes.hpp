// Pairs of SAEs with a known answer: B is built from A's directions so that
// which latents are shared, under each rule, is known by construction.
#pragma once

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "saematch/lap/matrix_view.hpp"

namespace saematch_test {

struct PlantedSae {
    std::ptrdiff_t latents = 0, d = 0;
    std::vector<float> encoder, decoder;  // latents x d, row-major

    saematch::lap::MatrixView<float> encoder_view() const {
        return saematch::lap::MatrixView<float>::row_major(encoder.data(), latents, d);
    }
    saematch::lap::MatrixView<float> decoder_view() const {
        return saematch::lap::MatrixView<float>::row_major(decoder.data(), latents, d);
    }
};

inline std::vector<float> random_direction(std::mt19937_64& rng, std::ptrdiff_t d) {
    std::normal_distribution<double> normal;
    std::vector<double> x(static_cast<std::size_t>(d));
    double norm = 0;
    for (double& v : x) {
        v = normal(rng);
        norm += v * v;
    }
    std::vector<float> out(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) out[k] = static_cast<float>(x[k] / std::sqrt(norm));
    return out;
}

struct PlantedPair {
    PlantedSae a, b;
    // Expected shared counts over A's latents for t = 0.7.
    std::ptrdiff_t shared_paper = 0, shared_separate = 0, shared_decoder = 0, agree = 0;
};

// Latent kinds, `per_kind` latents each (an even number):
//  same      B holds A's encoder and decoder unchanged: shared under every rule;
//  swapped   pairs (i, i') of A become B latents (e_i, d_i') and (e_i', d_i):
//            both cosines are 1 but the partners differ: separate and
//            decoder, not paper;
//  decoder   B holds A's decoder with a fresh encoder: decoder rule only;
//  fresh     B holds fresh random directions: shared under no rule.
// B's latents are shuffled and B gets `extra_b` fresh latents on top. With
// d >= 64, fresh directions have cosines far below 0.7 with everything.
inline PlantedPair make_planted_pair(std::ptrdiff_t per_kind, std::ptrdiff_t d, std::ptrdiff_t extra_b,
                                     std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::ptrdiff_t na = 4 * per_kind;
    PlantedPair p;
    p.a = {na, d, {}, {}};
    std::vector<std::vector<float>> ae, ad, be, bd;
    for (std::ptrdiff_t i = 0; i < na; ++i) {
        ae.push_back(random_direction(rng, d));
        ad.push_back(random_direction(rng, d));
    }
    for (std::ptrdiff_t i = 0; i < na; ++i) {
        const std::ptrdiff_t kind = i / per_kind;
        const auto u = static_cast<std::size_t>(i);
        if (kind == 0) {
            be.push_back(ae[u]);
            bd.push_back(ad[u]);
        } else if (kind == 1) {
            const bool first = (i - per_kind) % 2 == 0;
            const auto partner = static_cast<std::size_t>(first ? i + 1 : i - 1);
            be.push_back(ae[u]);
            bd.push_back(ad[partner]);
        } else if (kind == 2) {
            be.push_back(random_direction(rng, d));
            bd.push_back(ad[u]);
        } else {
            be.push_back(random_direction(rng, d));
            bd.push_back(random_direction(rng, d));
        }
    }
    for (std::ptrdiff_t e = 0; e < extra_b; ++e) {
        be.push_back(random_direction(rng, d));
        bd.push_back(random_direction(rng, d));
    }
    std::vector<std::size_t> order(be.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::shuffle(order.begin(), order.end(), rng);
    p.b = {static_cast<std::ptrdiff_t>(be.size()), d, {}, {}};
    for (std::ptrdiff_t i = 0; i < na; ++i) {
        p.a.encoder.insert(p.a.encoder.end(), ae[static_cast<std::size_t>(i)].begin(), ae[static_cast<std::size_t>(i)].end());
        p.a.decoder.insert(p.a.decoder.end(), ad[static_cast<std::size_t>(i)].begin(), ad[static_cast<std::size_t>(i)].end());
    }
    for (std::size_t k : order) {
        p.b.encoder.insert(p.b.encoder.end(), be[k].begin(), be[k].end());
        p.b.decoder.insert(p.b.decoder.end(), bd[k].begin(), bd[k].end());
    }
    p.shared_paper = per_kind;
    p.shared_separate = 2 * per_kind;
    p.shared_decoder = 3 * per_kind;
    p.agree = per_kind;  // "same" latents; others agree only by chance (checked loosely)
    return p;
}

}  // namespace saematch_test
