// What an SAELens cfg.json says about the function its weights compute
// (SAELens 6: SAEConfig and the per-architecture configs, which its
// load_from_disk fills from cfg.json, ignoring fields a class lacks).
//
// Every flag that changes SAELens's encode or decode is either reproduced
// with saematch's architectures or named as unsupported:
//
//   apply_b_dec_to_input = false   the encoder reads x, not x - b_dec: folded
//                                  into the encoder biases (sae_folder.hpp)
//   rescale_acts_by_decoder_norm   (topk) pre-activations times ||W_dec[i]||,
//                                  decoded through W_dec[i] / ||W_dec[i]||:
//                                  folded into the weights (decoder_norms.hpp)
//   normalize_activations          "none", and "expected_average_only_in"
//                                  (its factor is not in the folder; SAELens's
//                                  own forward does not apply it either): the
//                                  same function. "layer_norm" and
//                                  "constant_norm_rescale" normalise each token
//                                  at run time; "covariance_whitening" needs a
//                                  whitening matrix the folder lacks: unsupported
//   reshape_activations = "hook_z" (..., heads, d_head) inputs flattened to
//                                  d_in: saematch takes them flattened already
//   activation_fn (SAELens < 6)    anything but relu for "standard" (tanh-relu)
//                                  is unsupported
//
// "Unsupported" leaves the directions usable (compare reads them) and the
// function not: SaeFolder::unsupported says why, and loading an SAE that
// computes refuses it. The fields no flag changes (dtype, device, metadata,
// training options such as aux_loss_coefficient) are ignored.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "saematch/io/cfg_json.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::io::detail {

struct SaelensFunction {
    bool subtract_b_dec = true;             // apply_b_dec_to_input
    bool rescale_by_decoder_norm = false;   // rescale_acts_by_decoder_norm (topk)
    std::vector<std::string> unsupported;   // what saematch cannot compute, one flag each
    std::vector<std::string> notes;         // what holds but a user should know
};

// The config and the flags of an SAELens cfg.json (no "saematch" section).
inline sae::SaeConfig saelens_config(const nlohmann::json& cfg, const std::filesystem::path& cfg_path,
                                     SaelensFunction& fn) {
    sae::SaeConfig c;
    auto arch = json_field<std::string>(cfg, "architecture", cfg_path);
    // SAELens < 6 wrote TopK SAEs as "standard" with a topk activation
    // function; SAELens loads them as topk, and so does this.
    if (arch == "standard" && cfg.contains("activation_fn_kwargs") && cfg["activation_fn_kwargs"].is_object() &&
        cfg["activation_fn_kwargs"].contains("k"))
        for (const char* key : {"activation_fn", "activation_fn_str"})
            if (cfg.contains(key) && cfg[key].is_string() && cfg[key].get<std::string>() == "topk") arch = "topk";
    if (arch == "standard")
        c.architecture = sae::Architecture::relu;
    else if (arch == "gated" || arch == "jumprelu" || arch == "topk")
        c.architecture = sae::parse_architecture(arch);
    else if (arch == "batchtopk")
        cfg_error(cfg_path,
                  "an SAELens batchtopk training checkpoint is not supported (its threshold is a training buffer); "
                  "save it with SAELens's save_inference_model, which writes it as a jumprelu SAE that saematch loads");
    else
        cfg_error(cfg_path, "SAELens architecture '" + arch + "' is not supported (standard, gated, jumprelu, topk)");
    c.d_in = json_field<std::int64_t>(cfg, "d_in", cfg_path);
    c.num_latents = json_field<std::int64_t>(cfg, "d_sae", cfg_path);
    if (c.architecture == sae::Architecture::topk) {
        if (cfg.contains("k"))
            c.k = json_field<std::int64_t>(cfg, "k", cfg_path);
        else if (cfg.contains("activation_fn_kwargs") && cfg["activation_fn_kwargs"].is_object() &&
                 cfg["activation_fn_kwargs"].contains("k"))
            c.k = json_field<std::int64_t>(cfg["activation_fn_kwargs"], "k", cfg_path);
        else
            cfg_error(cfg_path, "a topk SAE without \"k\"");
    } else {
        c.k = std::min<std::int64_t>(c.k, c.num_latents);
    }

    if (cfg.contains("apply_b_dec_to_input"))
        fn.subtract_b_dec = json_field<bool>(cfg, "apply_b_dec_to_input", cfg_path);
    // SAELens's inference configs of other architectures lack the field, so
    // it loads them ignoring it; so does this.
    if (c.architecture == sae::Architecture::topk && cfg.contains("rescale_acts_by_decoder_norm"))
        fn.rescale_by_decoder_norm = json_field<bool>(cfg, "rescale_acts_by_decoder_norm", cfg_path);

    if (cfg.contains("normalize_activations") && !cfg["normalize_activations"].is_null()) {
        const auto& v = cfg["normalize_activations"];
        std::string mode;
        if (v.is_boolean())  // SAELens < 6 wrote a bool: true meant the April-2024 constant factor
            mode = v.get<bool>() ? "expected_average_only_in" : "none";
        else
            mode = json_field<std::string>(cfg, "normalize_activations", cfg_path);
        if (mode == "expected_average_only_in")
            fn.notes.push_back(
                "normalize_activations = expected_average_only_in: trained on inputs scaled by a constant that is "
                "not in the folder; the weights compute SAELens's own forward on unscaled inputs");
        else if (mode == "layer_norm" || mode == "constant_norm_rescale")
            fn.unsupported.push_back("normalize_activations = " + mode +
                                     ": SAELens normalises each input token at run time, which saematch's SAEs "
                                     "do not (the directions can still be compared)");
        else if (mode == "covariance_whitening")
            fn.unsupported.push_back(
                "normalize_activations = covariance_whitening: the weights act on whitened inputs and the "
                "whitening matrix is not in the folder (fold it with SAELens's fold_activation_whitening first)");
        else if (mode != "none")
            fn.unsupported.push_back("normalize_activations = " + mode + ": not a mode saematch knows");
    }
    if (cfg.contains("reshape_activations")) {
        const auto mode = json_field<std::string>(cfg, "reshape_activations", cfg_path);
        if (mode == "hook_z")
            fn.notes.push_back("reshape_activations = hook_z: pass inputs flattened to (tokens, n_heads * d_head)");
        else if (mode != "none")
            fn.unsupported.push_back("reshape_activations = " + mode + ": not a mode saematch knows");
    }
    for (const char* key : {"activation_fn", "activation_fn_str"})
        if (c.architecture == sae::Architecture::relu && cfg.contains(key) && !cfg[key].is_null()) {
            const auto f = json_field<std::string>(cfg, key, cfg_path);
            if (f != "relu")
                fn.unsupported.push_back(std::string(key) + " = " + f +
                                         ": saematch's relu SAE (SAELens's standard) applies a plain ReLU");
        }
    return c;
}

}  // namespace saematch::io::detail
