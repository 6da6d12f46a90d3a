// What defines an SAE, independent of its weights: the architecture, the
// sizes, and the knobs of its sparsity. Torch-free, so that checkpoint
// readers (io/) and the comparison can use it without LibTorch.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace saematch::sae {

enum class Architecture {
    topk,       // sparsify's TopK: ReLU, then the k largest pre-activations per token
    batchtopk,  // the k·batch largest over the whole batch; a threshold at inference
    relu,       // ReLU with an L1 penalty weighted by decoder norms (SAELens "standard")
    gated,      // gate and magnitude paths sharing the encoder (Rajamanoharan et al.)
    jumprelu,   // a learned threshold per latent, straight-through L0 (SAELens)
};

inline const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::topk: return "topk";
        case Architecture::batchtopk: return "batchtopk";
        case Architecture::relu: return "relu";
        case Architecture::gated: return "gated";
        case Architecture::jumprelu: return "jumprelu";
    }
    return "unknown";
}

inline Architecture parse_architecture(const std::string& name) {
    for (auto a : {Architecture::topk, Architecture::batchtopk, Architecture::relu, Architecture::gated,
                   Architecture::jumprelu})
        if (name == architecture_name(a)) return a;
    throw std::invalid_argument("unknown SAE architecture '" + name +
                                "'; known: topk, batchtopk, relu, gated, jumprelu");
}

struct SaeConfig {
    Architecture architecture = Architecture::topk;
    std::int64_t d_in = 0;         // width of the activations
    std::int64_t num_latents = 0;  // the paper's SAEs: 32x d_in (Pythia), 32x (Llama)
    // Active latents per token (topk; batchtopk on average; the other
    // architectures ignore it). sparsify's default is 32.
    std::int64_t k = 32;
    // Weight of the sparsity penalty: L1 of the activations times decoder
    // norms (relu, gated), or the L0 (jumprelu). Scale-dependent: it
    // multiplies a loss measured in the activations' squared units.
    double sparsity_coefficient = 1.0;
    // jumprelu: the initial threshold of every latent and the width of the
    // straight-through estimator's window (SAELens's defaults).
    double jumprelu_init_threshold = 0.001;
    double jumprelu_bandwidth = 0.001;
    // batchtopk: how fast the inference threshold follows each batch's
    // smallest selected activation (an exponential moving average).
    double batchtopk_threshold_momentum = 0.01;
    // topk, as in sparsify: the weight of the AuxK loss (the top d/2 dead
    // latents predicting the residual; 0: off, sparsify 1.3's default) and
    // the multi-TopK loss (the FVU with 4k latents, weighted 1/8).
    double auxk_alpha = 0.0;
    bool multi_topk = false;

    // Throws std::invalid_argument naming the field that is wrong.
    void validate() const {
        if (d_in < 1) throw std::invalid_argument("SaeConfig::d_in must be at least 1, got " + std::to_string(d_in));
        if (num_latents < 1)
            throw std::invalid_argument("SaeConfig::num_latents must be at least 1, got " +
                                        std::to_string(num_latents));
        const bool uses_k = architecture == Architecture::topk || architecture == Architecture::batchtopk;
        if (uses_k && (k < 1 || k > num_latents))
            throw std::invalid_argument("SaeConfig::k must be in [1, num_latents = " + std::to_string(num_latents) +
                                        "], got " + std::to_string(k));
        if (!(sparsity_coefficient >= 0.0))
            throw std::invalid_argument("SaeConfig::sparsity_coefficient must be >= 0");
        if (!(jumprelu_init_threshold > 0.0) || !(jumprelu_bandwidth > 0.0))
            throw std::invalid_argument("SaeConfig::jumprelu_init_threshold and jumprelu_bandwidth must be > 0");
        if (!(auxk_alpha >= 0.0)) throw std::invalid_argument("SaeConfig::auxk_alpha must be >= 0");
        if (!(batchtopk_threshold_momentum > 0.0 && batchtopk_threshold_momentum <= 1.0))
            throw std::invalid_argument("SaeConfig::batchtopk_threshold_momentum must be in (0, 1]");
    }
};

}  // namespace saematch::sae
