// One SAE on disk: a folder with cfg.json and a safetensors file, in the
// layout of the library that defines the architecture.
//
//   topk, batchtopk   sparsify's: sae.safetensors with encoder.weight [n, d],
//                     encoder.bias [n], W_dec [n, d], b_dec [d] (batchtopk adds
//                     its inference threshold [1]); cfg.json with activation,
//                     num_latents, k, d_in, expansion_factor, normalize_decoder.
//   relu, gated,      SAELens's: sae_weights.safetensors with W_enc [d, n]
//   jumprelu          (transposed), b_enc / b_gate, r_mag, b_mag, W_dec [n, d],
//                     b_dec, and threshold = exp(log_threshold) for jumprelu;
//                     cfg.json with architecture ("standard", "gated",
//                     "jumprelu"), d_in, d_sae.
//
// In memory every matrix is one row per latent and parameters carry the
// names of sae/*.hpp; this file does the renaming and transposing both
// ways. Torch-free: arrays are float32 vectors. cfg.json also records
// saematch's own config under "saematch", so a round trip is exact.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/io/safetensors.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::io {

struct Array {
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // row-major
};

// Parameters by their in-memory name (sae/*.hpp).
using Parameters = std::vector<std::pair<std::string, Array>>;

struct SaeFolder {
    sae::SaeConfig config;
    Parameters parameters;  // read_sae_folder: in the file's order; look them up by name
    std::map<std::string, std::string> metadata;  // e.g. the seed

    const Array& parameter(const std::string& name) const {
        for (const auto& [n, a] : parameters)
            if (n == name) return a;
        throw std::invalid_argument("SAE folder has no parameter '" + name + "'");
    }
};

namespace detail {

inline bool sparsify_layout(sae::Architecture a) {
    return a == sae::Architecture::topk || a == sae::Architecture::batchtopk;
}

inline const char* weights_file(sae::Architecture a) {
    return sparsify_layout(a) ? "sae.safetensors" : "sae_weights.safetensors";
}

inline const char* saelens_architecture(sae::Architecture a) {
    return a == sae::Architecture::relu ? "standard" : sae::architecture_name(a);
}

inline Array transposed(const Array& a) {
    Array t{{a.shape.at(1), a.shape.at(0)}, std::vector<float>(a.values.size())};
    const auto rows = a.shape[0], cols = a.shape[1];
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
            t.values[static_cast<std::size_t>(c * rows + r)] = a.values[static_cast<std::size_t>(r * cols + c)];
    return t;
}

inline nlohmann::json config_json(const sae::SaeConfig& c) {
    return {{"architecture", sae::architecture_name(c.architecture)},
            {"d_in", c.d_in},
            {"num_latents", c.num_latents},
            {"k", c.k},
            {"sparsity_coefficient", c.sparsity_coefficient},
            {"jumprelu_init_threshold", c.jumprelu_init_threshold},
            {"jumprelu_bandwidth", c.jumprelu_bandwidth},
            {"batchtopk_threshold_momentum", c.batchtopk_threshold_momentum},
            {"auxk_alpha", c.auxk_alpha},
            {"multi_topk", c.multi_topk}};
}

template <class T>
T json_field(const nlohmann::json& j, const char* key, const std::filesystem::path& file) {
    if (!j.contains(key)) throw std::invalid_argument(file.string() + ": cfg.json lacks \"" + key + "\"");
    try {
        return j.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument(file.string() + ": cfg.json field \"" + key + "\" has the wrong type (" +
                                    j.at(key).dump() + ")");
    }
}

inline sae::SaeConfig config_from_json(const nlohmann::json& j, const std::filesystem::path& file) {
    sae::SaeConfig c;
    c.architecture = sae::parse_architecture(json_field<std::string>(j, "architecture", file));
    c.d_in = json_field<std::int64_t>(j, "d_in", file);
    c.num_latents = json_field<std::int64_t>(j, "num_latents", file);
    c.k = json_field<std::int64_t>(j, "k", file);
    c.sparsity_coefficient = json_field<double>(j, "sparsity_coefficient", file);
    c.jumprelu_init_threshold = json_field<double>(j, "jumprelu_init_threshold", file);
    c.jumprelu_bandwidth = json_field<double>(j, "jumprelu_bandwidth", file);
    c.batchtopk_threshold_momentum = json_field<double>(j, "batchtopk_threshold_momentum", file);
    if (j.contains("auxk_alpha")) c.auxk_alpha = json_field<double>(j, "auxk_alpha", file);
    if (j.contains("multi_topk")) c.multi_topk = json_field<bool>(j, "multi_topk", file);
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(file.string() + ": " + e.what());
    }
    return c;
}

inline void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
    const auto temp = std::filesystem::path(path.string() + ".tmp");
    {
        std::ofstream out(temp, std::ios::trunc);
        out << text;
        if (!out) throw std::runtime_error("cannot write " + temp.string());
    }
    std::filesystem::rename(temp, path);
}

}  // namespace detail

// Writes `folder` into `dir` (created if needed), files replaced atomically.
inline void write_sae_folder(const std::filesystem::path& dir, const SaeFolder& folder) {
    const auto& c = folder.config;
    c.validate();
    std::filesystem::create_directories(dir);
    std::vector<std::pair<std::string, Array>> on_disk;
    for (const auto& [name, array] : folder.parameters) {
        if (detail::sparsify_layout(c.architecture)) {
            on_disk.emplace_back(name, array);
        } else if (name == "W_enc") {
            on_disk.emplace_back(name, detail::transposed(array));
        } else if (name == "log_threshold") {
            Array t = array;
            for (auto& v : t.values) v = std::exp(v);
            on_disk.emplace_back("threshold", std::move(t));
        } else {
            on_disk.emplace_back(name, array);
        }
    }
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, array] : on_disk) tensors.push_back({name, Dtype::f32, array.shape, array.values.data()});
    auto metadata = folder.metadata;
    metadata["format"] = "pt";
    write_safetensors(dir / detail::weights_file(c.architecture), tensors, metadata);

    nlohmann::ordered_json cfg;
    if (detail::sparsify_layout(c.architecture)) {
        cfg["activation"] = sae::architecture_name(c.architecture);
        cfg["expansion_factor"] = c.num_latents / c.d_in;
        cfg["normalize_decoder"] = true;
        cfg["num_latents"] = c.num_latents;
        cfg["k"] = c.k;
        cfg["multi_topk"] = c.multi_topk;
        cfg["skip_connection"] = false;
        cfg["transcode"] = false;
        cfg["d_in"] = c.d_in;
    } else {
        cfg["architecture"] = detail::saelens_architecture(c.architecture);
        cfg["d_in"] = c.d_in;
        cfg["d_sae"] = c.num_latents;
        cfg["dtype"] = "float32";
        cfg["device"] = "cpu";
        cfg["apply_b_dec_to_input"] = true;
        cfg["normalize_activations"] = "none";
    }
    cfg["saematch"] = detail::config_json(c);
    detail::write_text_atomically(dir / "cfg.json", cfg.dump(2) + "\n");
}

// Reads a folder that write_sae_folder wrote (other libraries' folders:
// issue 5's readers).
inline SaeFolder read_sae_folder(const std::filesystem::path& dir) {
    const auto cfg_path = dir / "cfg.json";
    std::ifstream in(cfg_path);
    if (!in) throw std::invalid_argument(cfg_path.string() + ": cannot open");
    nlohmann::json cfg;
    try {
        cfg = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(cfg_path.string() + ": not valid JSON: " + e.what());
    }
    if (!cfg.is_object() || !cfg.contains("saematch") || !cfg["saematch"].is_object())
        throw std::invalid_argument(cfg_path.string() + ": not written by saematch (no \"saematch\" section)");
    SaeFolder out;
    out.config = detail::config_from_json(cfg["saematch"], cfg_path);
    const auto& c = out.config;
    const SafetensorsFile file(dir / detail::weights_file(c.architecture));
    out.metadata = file.metadata();
    out.metadata.erase("format");
    for (const auto& t : file.tensors()) {
        if (t.dtype != Dtype::f32) throw SafetensorsError(file.path(), "tensor '" + t.name + "' is not F32");
        Array a{t.shape, std::vector<float>(static_cast<std::size_t>(t.elements()))};
        std::memcpy(a.values.data(), t.bytes.data(), t.bytes.size());
        for (float v : a.values)
            if (!std::isfinite(v)) throw SafetensorsError(file.path(), "tensor '" + t.name + "' holds NaN or infinity");
        std::string name = t.name;
        if (!detail::sparsify_layout(c.architecture)) {
            if (name == "W_enc") a = detail::transposed(a);
            if (name == "threshold") {
                name = "log_threshold";
                for (auto& v : a.values) v = std::log(v);
            }
        }
        out.parameters.emplace_back(name, std::move(a));
    }
    for (const auto& [name, a] : out.parameters) {
        const bool matrix = name == "encoder.weight" || name == "W_enc" || name == "W_dec";
        if (matrix && (a.shape.size() != 2 || a.shape[0] != c.num_latents || a.shape[1] != c.d_in))
            throw SafetensorsError(file.path(), "tensor '" + name + "' does not have the (num_latents, d_in) = (" +
                                                    std::to_string(c.num_latents) + ", " + std::to_string(c.d_in) +
                                                    ") shape cfg.json gives");
    }
    return out;
}

}  // namespace saematch::io
