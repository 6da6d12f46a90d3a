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
// saematch's own config under "saematch", so a round trip is exact;
// read_sae_folder also reads folders sparsify and SAELens wrote.
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

#include "saematch/io/activation_shards.hpp"
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

// On-disk layouts: sparsify's holds topk and batchtopk only; SAELens's all
// but batchtopk. `automatic` picks sparsify's for those two, SAELens's
// otherwise.
enum class Layout { automatic, sparsify, saelens };

// Writes `folder` into `dir` (created if needed), files replaced atomically.
inline void write_sae_folder(const std::filesystem::path& dir, const SaeFolder& folder,
                             Layout layout = Layout::automatic) {
    const auto& c = folder.config;
    c.validate();
    if (layout == Layout::automatic)
        layout = detail::sparsify_layout(c.architecture) ? Layout::sparsify : Layout::saelens;
    if (layout == Layout::sparsify && !detail::sparsify_layout(c.architecture))
        throw std::invalid_argument(std::string("sparsify's layout cannot hold a ") +
                                    sae::architecture_name(c.architecture) + " SAE (topk, batchtopk only)");
    if (layout == Layout::saelens && c.architecture == sae::Architecture::batchtopk)
        throw std::invalid_argument("a batchtopk SAE is written in sparsify's layout only");
    const bool saelens = layout == Layout::saelens;
    std::filesystem::create_directories(dir);
    std::vector<std::pair<std::string, Array>> on_disk;
    for (const auto& [name, array] : folder.parameters) {
        if (!saelens) {
            on_disk.emplace_back(name, array);
        } else if (name == "W_enc" || name == "encoder.weight") {
            on_disk.emplace_back("W_enc", detail::transposed(array));  // SAELens: (d_in, d_sae)
        } else if (name == "encoder.bias") {
            on_disk.emplace_back("b_enc", array);
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
    write_safetensors(dir / (saelens ? "sae_weights.safetensors" : "sae.safetensors"), tensors, metadata);
    // A folder holds one layout: drop the other's weights from an earlier save.
    std::filesystem::remove(dir / (saelens ? "sae.safetensors" : "sae_weights.safetensors"));

    nlohmann::ordered_json cfg;
    if (!saelens) {
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
        if (c.architecture == sae::Architecture::topk) cfg["k"] = c.k;
        cfg["dtype"] = "float32";
        cfg["device"] = "cpu";
        cfg["apply_b_dec_to_input"] = true;
        cfg["normalize_activations"] = "none";
    }
    cfg["saematch"] = detail::config_json(c);
    detail::write_text_atomically(dir / "cfg.json", cfg.dump(2) + "\n");
}

namespace detail {

inline nlohmann::json read_cfg(const std::filesystem::path& cfg_path) {
    std::ifstream in(cfg_path);
    if (!in) throw std::invalid_argument(cfg_path.string() + ": cannot open");
    try {
        auto cfg = nlohmann::json::parse(in);
        if (!cfg.is_object()) throw std::invalid_argument(cfg_path.string() + ": not a JSON object");
        return cfg;
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(cfg_path.string() + ": not valid JSON: " + e.what());
    }
}

// Every tensor of the file as float32, NaN and infinity refused.
inline std::vector<std::pair<std::string, Array>> read_all(const SafetensorsFile& file) {
    std::vector<std::pair<std::string, Array>> out;
    for (const auto& t : file.tensors()) {
        Array a{t.shape, std::vector<float>(static_cast<std::size_t>(t.elements()))};
        const auto* src = t.bytes.data();
        for (std::size_t i = 0; i < a.values.size(); ++i) {
            float v;
            switch (t.dtype) {
                case Dtype::f32: std::memcpy(&v, src + i * 4, 4); break;
                case Dtype::f64: {
                    double w;
                    std::memcpy(&w, src + i * 8, 8);
                    v = static_cast<float>(w);
                    break;
                }
                case Dtype::f16:
                case Dtype::bf16: {
                    std::uint16_t h;
                    std::memcpy(&h, src + i * 2, 2);
                    v = t.dtype == Dtype::f16 ? half_to_float(h) : bf16_to_float(h);
                    break;
                }
                default:
                    throw SafetensorsError(file.path(), "tensor '" + t.name + "' is " + dtype_name(t.dtype) +
                                                            ", not a float type");
            }
            if (!std::isfinite(v))
                throw SafetensorsError(file.path(), "tensor '" + t.name + "' holds NaN or infinity at element " +
                                                        std::to_string(i));
            a.values[i] = v;
        }
        out.emplace_back(t.name, std::move(a));
    }
    return out;
}

inline const Array& named(const std::vector<std::pair<std::string, Array>>& all, const std::string& name,
                          const std::filesystem::path& file) {
    for (const auto& [n, a] : all)
        if (n == name) return a;
    throw SafetensorsError(file, "has no tensor '" + name + "'");
}

inline std::int64_t int_field(const nlohmann::json& cfg, const char* key, const std::filesystem::path& file) {
    return json_field<std::int64_t>(cfg, key, file);
}

}  // namespace detail

// An SAE whose encoder reads x where saematch's reads x − b_dec: the same
// function once W_enc b_dec is added to the encoder biases (gated: to both
// paths, the magnitude one scaled by exp(r_mag)).
inline void fold_b_dec_into_biases(SaeFolder& f, const std::filesystem::path& file) {
    const auto& W = f.parameter(f.config.architecture == sae::Architecture::topk ? "encoder.weight" : "W_enc");
    const auto& b_dec = f.parameter("b_dec");
    const auto n = W.shape[0], d = W.shape[1];
    std::vector<float> shift(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::int64_t c = 0; c < d; ++c)
            s += static_cast<double>(W.values[static_cast<std::size_t>(i * d + c)]) * b_dec.values[static_cast<std::size_t>(c)];
        shift[static_cast<std::size_t>(i)] = static_cast<float>(s);
    }
    const auto add = [&](const std::string& name, const Array* scale_log) {
        for (auto& [n2, a] : f.parameters)
            if (n2 == name)
                for (std::int64_t i = 0; i < n; ++i)
                    a.values[static_cast<std::size_t>(i)] +=
                        shift[static_cast<std::size_t>(i)] *
                        (scale_log ? std::exp(scale_log->values[static_cast<std::size_t>(i)]) : 1.0f);
    };
    switch (f.config.architecture) {
        case sae::Architecture::gated: {
            const Array r_mag = f.parameter("r_mag");
            add("b_gate", nullptr);
            add("b_mag", &r_mag);
            break;
        }
        case sae::Architecture::topk: add("encoder.bias", nullptr); break;
        default: add("b_enc", nullptr); break;
    }
    (void)file;
}

// Reads one SAE folder: saematch's own (cfg.json with a "saematch" section),
// sparsify's (sae.safetensors) or SAELens's (sae_weights.safetensors). Weights
// of any float dtype come out float32, every matrix one row per latent, named
// as in sae/*.hpp. An SAELens SAE that does not subtract b_dec from its input
// has that folded into its encoder biases (the same function).
inline SaeFolder read_sae_folder(const std::filesystem::path& dir) {
    const auto cfg_path = dir / "cfg.json";
    if (!std::filesystem::exists(cfg_path))
        throw std::invalid_argument(dir.string() + ": no cfg.json (not an SAE folder)");
    const nlohmann::json cfg = detail::read_cfg(cfg_path);
    const bool ours = cfg.contains("saematch") && cfg["saematch"].is_object();
    const bool sparsify = std::filesystem::exists(dir / "sae.safetensors");
    const bool saelens = std::filesystem::exists(dir / "sae_weights.safetensors");
    if (!sparsify && !saelens)
        throw std::invalid_argument(dir.string() + ": neither sae.safetensors (sparsify) nor sae_weights.safetensors (SAELens)");
    SaeFolder out;
    auto& c = out.config;
    if (ours) c = detail::config_from_json(cfg["saematch"], cfg_path);  // before the weights: report cfg errors first
    const SafetensorsFile file(dir / (sparsify ? "sae.safetensors" : "sae_weights.safetensors"));
    auto all = detail::read_all(file);
    out.metadata = file.metadata();
    out.metadata.erase("format");
    // What the weights were stored as (they are read as float32).
    for (const auto& t : file.tensors())
        if (t.name == "W_dec") out.metadata["stored_dtype"] = dtype_name(t.dtype);
    out.metadata["layout"] = sparsify ? "sparsify" : "saelens";
    if (!ours && sparsify) {
        const auto activation = cfg.contains("activation") ? detail::json_field<std::string>(cfg, "activation", cfg_path)
                                                           : std::string("topk");
        if (activation != "topk" && activation != "batchtopk")
            throw std::invalid_argument(cfg_path.string() + ": sparsify activation '" + activation +
                                        "' is not supported (topk, batchtopk)");
        for (const char* key : {"skip_connection", "transcode"})
            if (cfg.contains(key) && cfg[key].is_boolean() && cfg[key].get<bool>())
                throw std::invalid_argument(cfg_path.string() + ": a sparsify " + key +
                                            " model is not an autoencoder saematch can load");
        c.architecture = sae::parse_architecture(activation);
        const auto& enc = detail::named(all, "encoder.weight", file.path());
        if (enc.shape.size() != 2) throw SafetensorsError(file.path(), "encoder.weight is not 2-D");
        c.num_latents = enc.shape[0];
        c.d_in = enc.shape[1];
        if (cfg.contains("d_in") && detail::int_field(cfg, "d_in", cfg_path) != c.d_in)
            throw std::invalid_argument(cfg_path.string() + ": d_in " + cfg["d_in"].dump() +
                                        " but encoder.weight has rows of width " + std::to_string(c.d_in));
        c.k = detail::int_field(cfg, "k", cfg_path);
        if (cfg.contains("multi_topk")) c.multi_topk = detail::json_field<bool>(cfg, "multi_topk", cfg_path);
    } else if (!ours) {
        const auto arch = detail::json_field<std::string>(cfg, "architecture", cfg_path);
        if (arch == "standard")
            c.architecture = sae::Architecture::relu;
        else if (arch == "gated" || arch == "jumprelu" || arch == "topk")
            c.architecture = sae::parse_architecture(arch);
        else
            throw std::invalid_argument(cfg_path.string() + ": SAELens architecture '" + arch +
                                        "' is not supported (standard, gated, jumprelu, topk)");
        c.d_in = detail::int_field(cfg, "d_in", cfg_path);
        c.num_latents = detail::int_field(cfg, "d_sae", cfg_path);
        if (c.architecture == sae::Architecture::topk) {
            if (cfg.contains("k"))
                c.k = detail::int_field(cfg, "k", cfg_path);
            else if (cfg.contains("activation_fn_kwargs") && cfg["activation_fn_kwargs"].is_object() &&
                     cfg["activation_fn_kwargs"].contains("k"))
                c.k = detail::int_field(cfg["activation_fn_kwargs"], "k", cfg_path);
            else
                throw std::invalid_argument(cfg_path.string() + ": a topk SAE without \"k\"");
        } else {
            c.k = std::min<std::int64_t>(c.k, c.num_latents);
        }
    }
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(cfg_path.string() + ": " + e.what());
    }

    // To the in-memory names and orientation.
    const bool saelens_names = saelens;
    std::vector<std::pair<std::string, Array>> params;
    for (auto& [name, a] : all) {
        std::string n = name;
        if (saelens_names && n == "W_enc") {
            if (a.shape.size() != 2) throw SafetensorsError(file.path(), "W_enc is not 2-D");
            a = detail::transposed(a);  // SAELens stores (d_in, d_sae)
        }
        if (saelens_names && n == "threshold" && c.architecture == sae::Architecture::jumprelu) {
            n = "log_threshold";
            for (auto& v : a.values) {
                if (!(v > 0.0f)) throw SafetensorsError(file.path(), "a jumprelu threshold is not positive");
                v = std::log(v);
            }
        }
        if (saelens_names && c.architecture == sae::Architecture::topk) {  // SAELens topk: sparsify's names
            if (n == "W_enc") n = "encoder.weight";
            if (n == "b_enc") n = "encoder.bias";
        }
        params.emplace_back(n, std::move(a));
    }
    out.parameters = std::move(params);

    for (const auto& [name, a] : out.parameters) {
        const bool matrix = name == "encoder.weight" || name == "W_enc" || name == "W_dec";
        if (matrix && (a.shape.size() != 2 || a.shape[0] != c.num_latents || a.shape[1] != c.d_in))
            throw SafetensorsError(file.path(), "tensor '" + name + "' does not have the (num_latents, d_in) = (" +
                                                    std::to_string(c.num_latents) + ", " + std::to_string(c.d_in) +
                                                    ") shape cfg.json gives");
        if (name == "b_dec" && (a.shape.size() != 1 || a.shape[0] != c.d_in))
            throw SafetensorsError(file.path(), "b_dec does not have d_in = " + std::to_string(c.d_in) + " entries");
    }
    if (saelens && !ours && cfg.contains("apply_b_dec_to_input") && cfg["apply_b_dec_to_input"].is_boolean() &&
        !cfg["apply_b_dec_to_input"].get<bool>())
        fold_b_dec_into_biases(out, file.path());
    return out;
}

}  // namespace saematch::io
