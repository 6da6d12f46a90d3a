// One SAE on disk: a folder with cfg.json and a safetensors file, in the
// layout of the library that defines the architecture.
//
//   topk, batchtopk   sparsify's: sae.safetensors with encoder.weight [n, d],
//                     encoder.bias [n], W_dec [n, d], b_dec [d] (batchtopk adds
//                     its inference threshold [1]); cfg.json with activation,
//                     num_latents, k, d_in, expansion_factor, normalize_decoder.
//   archetypal        sparsify's names and layout (sparsify cannot load it),
//                     plus archetypal.weights [n, m], archetypal.relaxation
//                     [n, d] and archetypal.points [m, d]; W_dec is the
//                     realised W C + Λ, so readers of W_dec need nothing else.
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
// read_sae_folder also reads folders sparsify and SAELens wrote: cfg.json
// strictly (cfg_json.hpp), every tensor's shape before its values
// (folder_tensors.hpp), SAELens's flags (saelens_cfg.hpp, folds.hpp).
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
#include "saematch/io/array.hpp"
#include "saematch/io/cfg_json.hpp"
#include "saematch/io/folder_tensors.hpp"
#include "saematch/io/folds.hpp"
#include "saematch/io/saelens_cfg.hpp"
#include "saematch/io/safetensors.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::io {

struct SaeFolder {
    sae::SaeConfig config;
    Parameters parameters;  // read_sae_folder: in the file's order; look them up by name
    // e.g. the seed and step; read_sae_folder adds "layout", "stored_dtype",
    // "folded" (what was folded into the weights) and "notes".
    std::map<std::string, std::string> metadata;
    // Set by read_sae_folder when the folder's cfg asks for something
    // saematch's SAEs do not compute (saelens_cfg.hpp): the directions are
    // right, the function is not, and building an SAE from it must refuse.
    std::string unsupported;

    const Array& parameter(const std::string& name) const {
        for (const auto& [n, a] : parameters)
            if (n == name) return a;
        throw std::invalid_argument("SAE folder has no parameter '" + name + "'");
    }
};

namespace detail {

inline bool sparsify_layout(sae::Architecture a) { return sparsify_names(a); }

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
            {"multi_topk", c.multi_topk},
            {"archetypal_points", c.archetypal_points},
            {"archetypal_delta", c.archetypal_delta},
            {"archetypal_init", c.archetypal_init}};
}

inline sae::SaeConfig config_from_json(const nlohmann::json& j, const std::filesystem::path& file) {
    sae::SaeConfig c;
    try {
        c.architecture = sae::parse_architecture(json_field<std::string>(j, "architecture", file));
    } catch (const std::invalid_argument& e) {
        cfg_error(file, e.what());
    }
    c.d_in = json_field<std::int64_t>(j, "d_in", file);
    c.num_latents = json_field<std::int64_t>(j, "num_latents", file);
    c.k = json_field<std::int64_t>(j, "k", file);
    c.sparsity_coefficient = json_field<double>(j, "sparsity_coefficient", file);
    c.jumprelu_init_threshold = json_field<double>(j, "jumprelu_init_threshold", file);
    c.jumprelu_bandwidth = json_field<double>(j, "jumprelu_bandwidth", file);
    c.batchtopk_threshold_momentum = json_field<double>(j, "batchtopk_threshold_momentum", file);
    if (j.contains("auxk_alpha")) c.auxk_alpha = json_field<double>(j, "auxk_alpha", file);
    if (j.contains("multi_topk")) c.multi_topk = json_field<bool>(j, "multi_topk", file);
    // Absent from folders written before the archetypal architecture: the defaults.
    if (j.contains("archetypal_points")) c.archetypal_points = json_field<std::int64_t>(j, "archetypal_points", file);
    if (j.contains("archetypal_delta")) c.archetypal_delta = json_field<double>(j, "archetypal_delta", file);
    if (j.contains("archetypal_init")) c.archetypal_init = json_field<std::string>(j, "archetypal_init", file);
    try {
        c.validate("");  // named below by the file it came from
    } catch (const std::invalid_argument& e) {
        cfg_error(file, e.what());
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
                                    sae::architecture_name(c.architecture) + " SAE (topk, batchtopk, archetypal only)");
    if (layout == Layout::saelens &&
        (c.architecture == sae::Architecture::batchtopk || c.architecture == sae::Architecture::archetypal))
        throw std::invalid_argument(std::string("a ") + sae::architecture_name(c.architecture) +
                                    " SAE is written in sparsify's layout only");
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

// Every tensor of the file as float32, NaN and infinity refused.
inline Parameters read_all(const SafetensorsFile& file) {
    Parameters out;
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

// sparsify's cfg.json (no "saematch" section); the sizes come from
// encoder.weight, which cfg.json's d_in must agree with.
inline sae::SaeConfig sparsify_config(const nlohmann::json& cfg, const std::filesystem::path& cfg_path,
                                      const SafetensorsFile& file) {
    sae::SaeConfig c;
    const auto activation =
        cfg.contains("activation") ? json_field<std::string>(cfg, "activation", cfg_path) : std::string("topk");
    if (activation != "topk" && activation != "batchtopk")
        cfg_error(cfg_path, "sparsify activation '" + activation + "' is not supported (topk, batchtopk)");
    for (const char* key : {"skip_connection", "transcode"})
        if (cfg.contains(key) && json_field<bool>(cfg, key, cfg_path))
            cfg_error(cfg_path, std::string("a sparsify ") + key + " model is not an autoencoder saematch can load");
    c.architecture = sae::parse_architecture(activation);
    if (!file.contains("encoder.weight")) throw SafetensorsError(file.path(), "has no tensor 'encoder.weight'");
    const auto& enc = file.at("encoder.weight");
    if (enc.shape.size() != 2)
        throw SafetensorsError(file.path(), "tensor 'encoder.weight' has shape " + shape_text(enc.shape) +
                                                ", expected (num_latents, d_in)");
    c.num_latents = enc.shape[0];
    c.d_in = enc.shape[1];
    if (cfg.contains("d_in") && json_field<std::int64_t>(cfg, "d_in", cfg_path) != c.d_in)
        cfg_error(cfg_path, "d_in " + cfg["d_in"].dump() + " but encoder.weight has rows of width " +
                                std::to_string(c.d_in));
    if (cfg.contains("num_latents") && json_field<std::int64_t>(cfg, "num_latents", cfg_path) != 0 &&
        cfg["num_latents"].get<std::int64_t>() != c.num_latents)
        cfg_error(cfg_path, "num_latents " + cfg["num_latents"].dump() + " but encoder.weight has " +
                                std::to_string(c.num_latents) + " rows");
    c.k = json_field<std::int64_t>(cfg, "k", cfg_path);
    if (cfg.contains("multi_topk")) c.multi_topk = json_field<bool>(cfg, "multi_topk", cfg_path);
    return c;
}

}  // namespace detail

// Reads one SAE folder: saematch's own (cfg.json with a "saematch" section),
// sparsify's (sae.safetensors) or SAELens's (sae_weights.safetensors). Weights
// of any float dtype come out float32, every matrix one row per latent, named
// as in sae/*.hpp. Every tensor's name and shape is checked against cfg.json
// first (folder_tensors.hpp). An SAELens SAE with flags that change its
// function (saelens_cfg.hpp) has them folded into the weights where that
// gives the same function, and is marked `unsupported` otherwise.
inline SaeFolder read_sae_folder(const std::filesystem::path& dir) {
    const auto cfg_path = dir / "cfg.json";
    if (!std::filesystem::exists(cfg_path))
        throw std::invalid_argument(printable(dir.string() + ": no cfg.json (not an SAE folder)"));
    const nlohmann::json cfg = detail::read_cfg(cfg_path);
    const bool ours = cfg.contains("saematch") && cfg["saematch"].is_object();
    const bool sparsify = std::filesystem::exists(dir / "sae.safetensors");
    const bool saelens = !sparsify && std::filesystem::exists(dir / "sae_weights.safetensors");
    if (!sparsify && !saelens)
        throw std::invalid_argument(printable(
            dir.string() + ": neither sae.safetensors (sparsify) nor sae_weights.safetensors (SAELens)"));
    SaeFolder out;
    auto& c = out.config;
    detail::SaelensFunction fn;
    if (ours) c = detail::config_from_json(cfg["saematch"], cfg_path);  // before the weights: report cfg errors first
    if (!ours && saelens) c = detail::saelens_config(cfg, cfg_path, fn);
    const SafetensorsFile file(dir / (sparsify ? "sae.safetensors" : "sae_weights.safetensors"));
    if (!ours && sparsify) c = detail::sparsify_config(cfg, cfg_path, file);
    try {
        c.validate("");
    } catch (const std::invalid_argument& e) {
        detail::cfg_error(cfg_path, e.what());
    }
    detail::check_tensors(file, saelens, c);

    auto all = detail::read_all(file);
    out.metadata = file.metadata();
    out.metadata.erase("format");
    // What the weights were stored as (they are read as float32).
    for (const auto& t : file.tensors())
        if (t.name == "W_dec") out.metadata["stored_dtype"] = dtype_name(t.dtype);
    out.metadata["layout"] = sparsify ? "sparsify" : "saelens";

    // To the in-memory names and orientation.
    for (auto& [name, a] : all) {
        std::string n = name;
        if (saelens && n == "scaling_factor") {
            // SAELens < 6 stored a fine-tuning factor; all ones (what it wrote
            // for a while regardless) is no factor, as SAELens reads it too.
            for (float v : a.values)
                if (v != 1.0f) {
                    fn.unsupported.push_back(
                        "tensor 'scaling_factor' (a fine-tuning factor of SAELens < 6) is not all ones: "
                        "saematch's SAEs do not scale activations");
                    break;
                }
            continue;
        }
        if (saelens && n == "W_enc") a = detail::transposed(a);  // SAELens stores (d_in, d_sae)
        if (saelens && n == "threshold" && c.architecture == sae::Architecture::jumprelu) {
            n = "log_threshold";
            for (auto& v : a.values) {
                if (!(v > 0.0f)) throw SafetensorsError(file.path(), "a jumprelu threshold is not positive");
                v = std::log(v);
            }
        }
        if (saelens && c.architecture == sae::Architecture::topk) {  // SAELens topk: sparsify's names
            if (n == "W_enc") n = "encoder.weight";
            if (n == "b_enc") n = "encoder.bias";
        }
        out.parameters.emplace_back(n, std::move(a));
    }

    std::vector<std::string> folded;
    if (saelens && !ours && !fn.subtract_b_dec) {
        fold_b_dec_into_biases(out.parameters, c.architecture);
        folded.push_back("apply_b_dec_to_input = false (W_enc b_dec added to the encoder biases)");
    }
    if (saelens && !ours && fn.rescale_by_decoder_norm) {
        fold_decoder_norms(out.parameters, c.architecture);
        folded.push_back("rescale_acts_by_decoder_norm (decoder rows unit length, encoder rows and biases scaled)");
    }
    const auto joined = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
        return s;
    };
    // Folding multiplies and adds stored values, which can overflow float32
    // even when each of them is finite (found by the fuzzer): such weights
    // describe no function saematch can compute.
    if (!folded.empty())
        for (const auto& [name, a] : out.parameters)
            for (std::size_t i = 0; i < a.values.size(); ++i)
                if (!std::isfinite(a.values[i]))
                    throw std::invalid_argument(printable(
                        file.path().string() + ": tensor '" + name + "' overflows float32 at element " +
                        std::to_string(i) + " once SAELens's " + joined(folded) +
                        " is folded in: the weights are too large"));
    if (!folded.empty()) out.metadata["folded"] = joined(folded);
    if (!fn.notes.empty()) out.metadata["notes"] = joined(fn.notes);
    if (!fn.unsupported.empty()) out.unsupported = printable(cfg_path.string() + ": " + joined(fn.unsupported));
    return out;
}

}  // namespace saematch::io
