// When is a latent "shared" with another SAE? The rules, each a name and a
// predicate over one latent's two matches. This header is their only
// definition: the Python package reads the list and the masks from here
// (saematch._core.shared_rules / shared_mask), and so do the CLI, the plots
// and the reports. A new rule is one more entry in kSharedRules; a caller
// with a rule of its own passes a SharedRule value wherever one is taken.
//
// Every rule reads "at least t" (the paper: "a cosine similarity of 0.7 or
// greater"; the authors' notebook wrote > t, which differs only for a cosine
// exactly equal to t, and never for t = 0.7, which no float cosine equals).
// One comparison everywhere keeps "paper" the strictest rule at every t, and
// lets t = 1 count exact duplicates.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace saematch::compare {

// One latent's partners and matched cosines in the encoder and the decoder
// matching (partner -1: left unmatched, e.g. the larger SAE's extra latents).
struct LatentMatch {
    std::int32_t enc_partner = -1, dec_partner = -1;
    float enc_cos = 0, dec_cos = 0;

    // An unmatched latent is never shared, whatever t: its cosine 0 is no match.
    bool encoder_at_least(double t) const { return enc_partner >= 0 && enc_cos >= t; }
    bool decoder_at_least(double t) const { return dec_partner >= 0 && dec_cos >= t; }
    bool same_partner() const { return enc_partner >= 0 && enc_partner == dec_partner; }
};

struct SharedRule {
    std::string_view name;     // what users type: rule="paper", --rule paper
    std::string_view meaning;  // one line for help texts and reports
    bool (*is_shared)(const LatentMatch& latent, double threshold) = nullptr;

    bool operator==(const SharedRule& other) const { return name == other.name; }

    static const SharedRule paper, separate, decoder;
};

inline constexpr SharedRule SharedRule::paper{
    "paper", "same partner in both matchings and both cosines >= t (the paper's text)",
    [](const LatentMatch& m, double t) { return m.same_partner() && m.encoder_at_least(t) && m.decoder_at_least(t); }};
inline constexpr SharedRule SharedRule::separate{
    "separate", "encoder cosine >= t and decoder cosine >= t, partners may differ (the authors' notebook)",
    [](const LatentMatch& m, double t) { return m.encoder_at_least(t) && m.decoder_at_least(t); }};
inline constexpr SharedRule SharedRule::decoder{
    "decoder", "decoder cosine >= t alone (the paper's architecture and model comparisons)",
    [](const LatentMatch& m, double t) { return m.decoder_at_least(t); }};

// The rules every report computes, in the order reports and plots show them.
inline constexpr std::array<SharedRule, 3> kSharedRules{SharedRule::paper, SharedRule::separate, SharedRule::decoder};

inline std::string rule_names() {
    std::string out;
    for (const auto& rule : kSharedRules) out += (out.empty() ? "'" : ", '") + std::string(rule.name) + "'";
    return out;
}

inline const char* rule_name(const SharedRule& rule) { return rule.name.data(); }

inline const SharedRule& parse_rule(std::string_view name) {
    for (const auto& rule : kSharedRules)
        if (rule.name == name) return rule;
    throw std::invalid_argument("rule must be one of " + rule_names() + ", got '" + std::string(name) + "'");
}

}  // namespace saematch::compare
