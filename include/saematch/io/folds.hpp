// Folds that turn a foreign SAE's function into saematch's form of the same
// function, by changing weights only. They run on in-memory parameters (one
// row per latent, names of sae/*.hpp) whose shapes folder_tensors.hpp has
// checked; a tensor a fold needs but the folder lacks is skipped, since the
// SAE cannot be built without it anyway (loading it names what is missing).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "saematch/io/array.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::io {

namespace detail {

// The architectures whose parameters carry sparsify's names (and are saved
// in its layout): TopK's and those built on its encoder.
inline bool sparsify_names(sae::Architecture a) {
    return a == sae::Architecture::topk || a == sae::Architecture::batchtopk || a == sae::Architecture::archetypal;
}

inline const char* encoder_name(sae::Architecture a) { return sparsify_names(a) ? "encoder.weight" : "W_enc"; }

inline const char* encoder_bias_name(sae::Architecture a) { return sparsify_names(a) ? "encoder.bias" : "b_enc"; }

}  // namespace detail

// An SAE whose encoder reads x where saematch's reads x - b_dec: the same
// function once W_enc b_dec is added to the encoder biases (gated: to both
// paths, the magnitude one scaled by exp(r_mag)).
inline void fold_b_dec_into_biases(Parameters& p, sae::Architecture a) {
    const Array* W = find_parameter(p, detail::encoder_name(a));
    const Array* b_dec = find_parameter(p, "b_dec");
    if (!W || !b_dec) return;
    const auto n = W->shape.at(0), d = W->shape.at(1);
    std::vector<float> shift(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::int64_t c = 0; c < d; ++c)
            s += static_cast<double>(W->values[static_cast<std::size_t>(i * d + c)]) *
                 b_dec->values[static_cast<std::size_t>(c)];
        shift[static_cast<std::size_t>(i)] = static_cast<float>(s);
    }
    const auto add = [&](const char* name, const Array* log_scale) {
        if (Array* b = find_parameter(p, name))
            for (std::int64_t i = 0; i < n; ++i) {
                const auto k = static_cast<std::size_t>(i);
                b->values[k] += shift[k] * (log_scale ? std::exp(log_scale->values[k]) : 1.0f);
            }
    };
    if (a == sae::Architecture::gated) {
        const Array* r_mag = find_parameter(p, "r_mag");
        add("b_gate", nullptr);
        if (r_mag) add("b_mag", r_mag);
    } else {
        add(detail::encoder_bias_name(a), nullptr);
    }
}

// SAELens's rescale_acts_by_decoder_norm (TopK): latent i's pre-activation
// is multiplied by ||W_dec[i]|| before the top-k selection, and its
// activation divided by it again before decoding. The same function: encoder
// row and bias times ||W_dec[i]||, decoder row divided by it. A zero decoder
// row stays zero (its latent contributes nothing either way).
inline void fold_decoder_norms(Parameters& p, sae::Architecture a) {
    Array* W = find_parameter(p, detail::encoder_name(a));
    Array* b = find_parameter(p, detail::encoder_bias_name(a));
    Array* D = find_parameter(p, "W_dec");
    if (!W || !D) return;
    const auto n = D->shape.at(0), d = D->shape.at(1);
    for (std::int64_t i = 0; i < n; ++i) {
        double sq = 0.0;
        for (std::int64_t c = 0; c < d; ++c) {
            const double v = D->values[static_cast<std::size_t>(i * d + c)];
            sq += v * v;
        }
        const double norm = std::sqrt(sq);
        if (norm == 0.0) {
            for (std::int64_t c = 0; c < d; ++c) W->values[static_cast<std::size_t>(i * d + c)] = 0.0f;
            if (b) b->values[static_cast<std::size_t>(i)] = 0.0f;
            continue;
        }
        for (std::int64_t c = 0; c < d; ++c) {
            auto& w = W->values[static_cast<std::size_t>(i * d + c)];
            w = static_cast<float>(w * norm);
            auto& v = D->values[static_cast<std::size_t>(i * d + c)];
            v = static_cast<float>(v / norm);
        }
        if (b) {
            auto& bias = b->values[static_cast<std::size_t>(i)];
            bias = static_cast<float>(bias * norm);
        }
    }
}

}  // namespace saematch::io
