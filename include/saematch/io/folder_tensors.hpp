// The tensors an SAE folder's weights file may hold, and their shapes, by
// layout and architecture. Checked against the file's header before a value
// is read, so that nothing downstream (bias folding, the transposition,
// torch) ever indexes a tensor of the wrong length: a bias vector shorter
// than the latent count once corrupted the heap in the b_dec fold.
//
//   sparsify's layout   encoder.weight (n, d), encoder.bias (n), W_dec (n, d),
//   (sae.safetensors)   b_dec (d); batchtopk adds threshold (1); archetypal
//                       adds archetypal.weights (n, m), .relaxation (n, d), .points (m, d)
//   SAELens's layout    W_enc (d, n), W_dec (n, d), b_dec (d), and by
//   (sae_weights...)    architecture b_enc (n) [standard, topk, jumprelu],
//                       threshold (n) [jumprelu], b_gate, b_mag, r_mag (n)
//                       [gated]; scaling_factor (n) from SAELens < 6
//
// with n the latent count and d the input width that cfg.json gives. Any
// other tensor is refused: saematch would not know what it computes (a
// sparsify W_skip, for one, adds a skip connection).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "saematch/io/safetensors.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::io::detail {

struct ExpectedTensor {
    std::string name;
    std::vector<std::int64_t> shape;
    std::string dims;  // how cfg.json names them, e.g. "(d_in, d_sae)"
};

inline std::vector<ExpectedTensor> expected_tensors(bool saelens_layout, const sae::SaeConfig& c) {
    const auto n = c.num_latents, d = c.d_in;
    const auto a = c.architecture;
    std::vector<ExpectedTensor> out;
    if (!saelens_layout) {
        out = {{"encoder.weight", {n, d}, "(num_latents, d_in)"},
               {"encoder.bias", {n}, "(num_latents)"},
               {"W_dec", {n, d}, "(num_latents, d_in)"},
               {"b_dec", {d}, "(d_in)"}};
        if (a == sae::Architecture::batchtopk) out.push_back({"threshold", {1}, "(1)"});
        if (a == sae::Architecture::archetypal) {
            const auto m = c.archetypal_points;
            out.push_back({"archetypal.weights", {n, m}, "(num_latents, archetypal_points)"});
            out.push_back({"archetypal.relaxation", {n, d}, "(num_latents, d_in)"});
            out.push_back({"archetypal.points", {m, d}, "(archetypal_points, d_in)"});
        }
        return out;
    }
    out = {{"W_enc", {d, n}, "(d_in, d_sae)"}, {"W_dec", {n, d}, "(d_sae, d_in)"}, {"b_dec", {d}, "(d_in)"}};
    if (a == sae::Architecture::gated) {
        for (const char* name : {"b_gate", "b_mag", "r_mag"}) out.push_back({name, {n}, "(d_sae)"});
    } else {
        out.push_back({"b_enc", {n}, "(d_sae)"});
    }
    if (a == sae::Architecture::jumprelu) out.push_back({"threshold", {n}, "(d_sae)"});
    out.push_back({"scaling_factor", {n}, "(d_sae)"});
    return out;
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Throws a SafetensorsError naming the file, the tensor, and the shape it has
// and should have, for the first tensor that is unknown or of another shape.
inline void check_tensors(const SafetensorsFile& file, bool saelens_layout, const sae::SaeConfig& c) {
    const auto expected = expected_tensors(saelens_layout, c);
    for (const auto& t : file.tensors()) {
        const ExpectedTensor* e = nullptr;
        for (const auto& x : expected)
            if (x.name == t.name) e = &x;
        if (!e) {
            std::string names;
            for (const auto& x : expected) names += (names.empty() ? "" : ", ") + x.name;
            throw SafetensorsError(file.path(), "unexpected tensor '" + t.name + "' for a " +
                                                    sae::architecture_name(c.architecture) + " SAE in " +
                                                    (saelens_layout ? "SAELens's" : "sparsify's") +
                                                    " layout (saematch does not know what it computes; expected " +
                                                    names + ")");
        }
        if (t.shape != e->shape)
            throw SafetensorsError(file.path(), "tensor '" + t.name + "' does not have the shape cfg.json gives: " +
                                                    shape_text(t.shape) + ", expected " + e->dims + " = " +
                                                    shape_text(e->shape));
    }
}

}  // namespace saematch::io::detail
