// What defines an SAE, independent of its weights: the architecture, the
// sizes, and the knobs of its sparsity. Torch-free, so that checkpoint
// readers (io/) and the comparison can use it without LibTorch.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace saematch::sae {

enum class Architecture {
    topk,  // sparsify's TopK: ReLU, then the k largest pre-activations per token
};

inline const char* architecture_name(Architecture a) {
    switch (a) {
        case Architecture::topk: return "topk";
    }
    return "unknown";
}

inline Architecture parse_architecture(const std::string& name) {
    if (name == "topk") return Architecture::topk;
    throw std::invalid_argument("unknown SAE architecture '" + name + "'; known: topk");
}

struct SaeConfig {
    Architecture architecture = Architecture::topk;
    std::int64_t d_in = 0;         // width of the activations
    std::int64_t num_latents = 0;  // the paper's SAEs: 32x d_in (Pythia), 32x (Llama)
    // Active latents per token (topk). sparsify's default is 32.
    std::int64_t k = 32;

    // Throws std::invalid_argument naming the field that is wrong.
    void validate() const {
        if (d_in < 1) throw std::invalid_argument("SaeConfig::d_in must be at least 1, got " + std::to_string(d_in));
        if (num_latents < 1)
            throw std::invalid_argument("SaeConfig::num_latents must be at least 1, got " +
                                        std::to_string(num_latents));
        if (k < 1 || k > num_latents)
            throw std::invalid_argument("SaeConfig::k must be in [1, num_latents = " + std::to_string(num_latents) +
                                        "], got " + std::to_string(k));
    }
};

}  // namespace saematch::sae
