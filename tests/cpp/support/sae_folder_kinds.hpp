// Valid SAE folders of every layout and architecture the reader accepts, as
// sparsify, SAELens and saematch write them (cfg.json fields and tensor
// names and orientations), with small reproducible weights. The folder
// tests damage them one tensor at a time; the fuzz target's corpus starts
// from them.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "saematch/io/safetensors.hpp"

namespace saematch_test {

struct FolderKind {
    std::string name;
    bool saelens = false;         // sae_weights.safetensors, W_enc (d, n); else sae.safetensors
    std::string architecture;     // saematch's name: topk, batchtopk, relu, gated, jumprelu, archetypal
    bool ours = false;            // cfg.json carries a "saematch" section
    bool apply_b_dec = true;      // SAELens apply_b_dec_to_input
    bool rescale = false;         // SAELens rescale_acts_by_decoder_norm (topk)
};

inline std::vector<FolderKind> all_folder_kinds() {
    std::vector<FolderKind> out = {
        {"sparsify_topk", false, "topk"},
        {"sparsify_batchtopk", false, "batchtopk"},
        {"saematch_topk", false, "topk", true},
        {"saematch_batchtopk", false, "batchtopk", true},
        {"saematch_archetypal", false, "archetypal", true},  // sparsify's names, only saematch writes it
    };
    for (const char* a : {"relu", "gated", "jumprelu", "topk"}) {
        out.push_back({std::string("saelens_") + a, true, a});
        out.push_back({std::string("saelens_") + a + "_no_b_dec", true, a, false, false});
        out.push_back({std::string("saematch_saelens_") + a, true, a, true});
    }
    out.push_back({"saelens_topk_rescaled", true, "topk", false, true, true});
    out.push_back({"saelens_topk_rescaled_no_b_dec", true, "topk", false, false, true});
    return out;
}

struct TensorSpec {
    std::string name;
    std::vector<std::int64_t> shape;
    std::vector<float> values;
};

struct FolderFiles {
    std::string cfg;  // cfg.json's text
    std::string weights_file;
    std::vector<TensorSpec> tensors;
};

// The files of a `kind` folder with d inputs and n latents (k = 2).
inline FolderFiles folder_files(const FolderKind& kind, std::int64_t d = 4, std::int64_t n = 6,
                                std::uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    const auto random = [&](std::vector<std::int64_t> shape) {
        std::int64_t size = 1;
        for (auto s : shape) size *= s;
        std::vector<float> v(static_cast<std::size_t>(size));
        for (auto& x : v) x = normal(rng);
        return TensorSpec{"", std::move(shape), std::move(v)};
    };
    const auto named = [](std::string name, TensorSpec t) {
        t.name = std::move(name);
        return t;
    };
    const auto positive = [](TensorSpec t) {
        for (auto& x : t.values) x = std::fabs(x) + 0.05f;
        return t;
    };
    FolderFiles f;
    nlohmann::ordered_json cfg;
    const std::int64_t k = 2;
    if (!kind.saelens) {
        f.weights_file = "sae.safetensors";
        f.tensors = {named("encoder.weight", random({n, d})), named("encoder.bias", random({n})),
                     named("W_dec", random({n, d})), named("b_dec", random({d}))};
        if (kind.architecture == "batchtopk") f.tensors.push_back(named("threshold", positive(random({1}))));
        if (kind.architecture == "archetypal") {  // 3 candidate points
            f.tensors.push_back(named("archetypal.weights", positive(random({n, 3}))));
            f.tensors.push_back(named("archetypal.relaxation", random({n, d})));
            f.tensors.push_back(named("archetypal.points", random({3, d})));
        }
        cfg = {{"activation", kind.architecture}, {"expansion_factor", 1}, {"normalize_decoder", true},
               {"num_latents", n}, {"k", k}, {"multi_topk", false}, {"skip_connection", false},
               {"transcode", false}, {"d_in", d}};
    } else {
        f.weights_file = "sae_weights.safetensors";
        f.tensors = {named("W_enc", random({d, n})), named("W_dec", random({n, d})), named("b_dec", random({d}))};
        if (kind.architecture == "gated") {
            for (const char* b : {"b_gate", "b_mag", "r_mag"}) f.tensors.push_back(named(b, random({n})));
        } else {
            f.tensors.push_back(named("b_enc", random({n})));
        }
        if (kind.architecture == "jumprelu") f.tensors.push_back(named("threshold", positive(random({n}))));
        cfg = {{"architecture", kind.architecture == "relu" ? "standard" : kind.architecture},
               {"d_in", d}, {"d_sae", n}, {"dtype", "float32"}, {"device", "cpu"},
               {"apply_b_dec_to_input", kind.apply_b_dec}, {"normalize_activations", "none"},
               {"reshape_activations", "none"}};
        if (kind.architecture == "topk") {
            cfg["k"] = k;
            cfg["rescale_acts_by_decoder_norm"] = kind.rescale;
        }
    }
    if (kind.ours)
        cfg["saematch"] = {{"architecture", kind.architecture}, {"d_in", d}, {"num_latents", n}, {"k", k},
                           {"sparsity_coefficient", 1.0}, {"jumprelu_init_threshold", 0.001},
                           {"jumprelu_bandwidth", 0.001}, {"batchtopk_threshold_momentum", 0.01},
                           {"auxk_alpha", 0.0}, {"multi_topk", false}};
    if (kind.ours && kind.architecture == "archetypal") cfg["saematch"]["archetypal_points"] = 3;
    f.cfg = cfg.dump(1);
    return f;
}

inline void write_folder(const std::filesystem::path& dir, const FolderFiles& f) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<saematch::io::TensorToWrite> tensors;
    for (const auto& t : f.tensors) tensors.push_back({t.name, saematch::io::Dtype::f32, t.shape, t.values.data()});
    saematch::io::write_safetensors(dir / f.weights_file, tensors, {{"format", "pt"}});
    std::ofstream(dir / "cfg.json", std::ios::binary | std::ios::trunc) << f.cfg;
}

}  // namespace saematch_test
