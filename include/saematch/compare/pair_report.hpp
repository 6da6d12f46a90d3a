// Comparing two SAEs: encoder and decoder matchings, and which latents count
// as shared under a rule (shared_rules.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "saematch/compare/latent_matching.hpp"
#include "saematch/compare/shared_rules.hpp"
#include "saematch/lap/matrix_view.hpp"
#include "saematch/similarity/unit_rows.hpp"

namespace saematch::compare {

// An SAE's latent directions, normalised once (encoder rows and decoder
// vectors, both n x d) so a multi-seed comparison reuses them.
struct SaeDirections {
    similarity::UnitRows encoder, decoder;

    std::ptrdiff_t latents() const { return encoder.rows.rows(); }
    std::ptrdiff_t width() const { return encoder.rows.cols(); }
};

// `name` ("a", "saes[3]") appears in error messages.
template <class T>
SaeDirections sae_directions(lap::MatrixView<T> encoder, lap::MatrixView<T> decoder, const std::string& name) {
    if (encoder.rows != decoder.rows || encoder.cols != decoder.cols)
        throw std::invalid_argument(name + ": encoder is " + std::to_string(encoder.rows) + " x " +
                                    std::to_string(encoder.cols) + " but decoder is " + std::to_string(decoder.rows) +
                                    " x " + std::to_string(decoder.cols) + " (both must be n_latents x d)");
    if (encoder.rows == 0 || encoder.cols == 0)
        throw std::invalid_argument(name + ": an SAE needs at least one latent and one input dimension, got " +
                                    std::to_string(encoder.rows) + " x " + std::to_string(encoder.cols));
    return {similarity::unit_rows(encoder, name + " encoder"), similarity::unit_rows(decoder, name + " decoder")};
}

enum class Side { a, b };

struct PairReport {
    LatentMatching encoder, decoder;
    std::int64_t dead_encoder_a = 0, dead_decoder_a = 0, dead_encoder_b = 0, dead_decoder_b = 0;

    std::ptrdiff_t latents(Side side) const {
        return static_cast<std::ptrdiff_t>(side == Side::a ? encoder.partner_a.size() : encoder.partner_b.size());
    }
    const std::vector<std::int32_t>& enc_partner(Side s) const { return s == Side::a ? encoder.partner_a : encoder.partner_b; }
    const std::vector<std::int32_t>& dec_partner(Side s) const { return s == Side::a ? decoder.partner_a : decoder.partner_b; }
    const std::vector<float>& enc_cos(Side s) const { return s == Side::a ? encoder.cos_a : encoder.cos_b; }
    const std::vector<float>& dec_cos(Side s) const { return s == Side::a ? decoder.cos_a : decoder.cos_b; }

    // Same partner in both matchings (a latent left unmatched in both does
    // not agree with anything).
    std::vector<std::uint8_t> agree(Side side) const {
        std::vector<std::uint8_t> out(static_cast<std::size_t>(latents(side)));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = latent(side, i).same_partner();
        return out;
    }

    LatentMatch latent(Side side, std::size_t i) const {
        return {enc_partner(side)[i], dec_partner(side)[i], enc_cos(side)[i], dec_cos(side)[i]};
    }

    std::vector<std::uint8_t> shared(Side side, const SharedRule& rule, double t) const {
        std::vector<std::uint8_t> out(static_cast<std::size_t>(latents(side)));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = rule.is_shared(latent(side, i), t);
        return out;
    }

    double shared_fraction(Side side, const SharedRule& rule, double t) const {
        const auto mask = shared(side, rule, t);
        std::int64_t count = 0;
        for (auto m : mask) count += m;
        return mask.empty() ? 0.0 : static_cast<double>(count) / static_cast<double>(mask.size());
    }
};

// Matches encoders and decoders of two SAEs of the same width.
inline PairReport compare_pair(const SaeDirections& a, const SaeDirections& b, const MatchOptions& options = {}) {
    if (a.width() != b.width())
        throw std::invalid_argument("the SAEs have different input widths: a has d = " + std::to_string(a.width()) +
                                    ", b has d = " + std::to_string(b.width()));
    PairReport r;
    r.encoder = match_latents(a.encoder, b.encoder, options);
    // Where exact duplicates leave the decoder matching a choice, it keeps
    // the encoder's partners (canonical_ties.hpp).
    r.decoder = match_latents(a.decoder, b.decoder, options, r.encoder.partner_a);
    r.dead_encoder_a = a.encoder.dead_count;
    r.dead_decoder_a = a.decoder.dead_count;
    r.dead_encoder_b = b.encoder.dead_count;
    r.dead_decoder_b = b.decoder.dead_count;
    return r;
}

}  // namespace saematch::compare
