// What defines an SAE, independent of its weights: the architecture, the
// sizes, and the knobs of its sparsity. Torch-free, so that checkpoint
// readers (io/) and the comparison can use it without LibTorch, and so that
// the Python package validates its SAEConfig here without loading torch.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace saematch::sae {

enum class Architecture {
    topk,       // sparsify's TopK: ReLU, then the k largest pre-activations per token
    batchtopk,  // the k·batch largest over the whole batch; a threshold at inference
    relu,       // ReLU with an L1 penalty weighted by decoder norms (SAELens "standard")
    gated,      // gate and magnitude paths sharing the encoder (Rajamanoharan et al.)
    jumprelu,   // a learned threshold per latent, straight-through L0 (SAELens)
    archetypal, // TopK with decoder rows in the convex hull of data points, relaxed (RA-SAE, Fel et al. 2025)
};

// The torch-free half of the architecture registry: every architecture once,
// in enum order, with what code outside sae/ needs to know about it. The
// LibTorch half (the SAE type of each) is sae/registry.hpp; the Python
// package reads this list (saematch._core.architectures).
struct ArchitectureInfo {
    Architecture architecture;
    const char* name;  // in cfg.json and in the Python API
    // k (active latents per token) is its sparsity, and its codes are sparse
    // (values, indices) pairs; the others' codes are dense activations.
    bool uses_k;
};

inline constexpr std::array<ArchitectureInfo, 6> kArchitectures{{
    {Architecture::topk, "topk", true},
    {Architecture::batchtopk, "batchtopk", true},
    {Architecture::relu, "relu", false},
    {Architecture::gated, "gated", false},
    {Architecture::jumprelu, "jumprelu", false},
    {Architecture::archetypal, "archetypal", true},
}};

namespace detail {
constexpr bool registry_in_enum_order() {
    for (std::size_t i = 0; i < kArchitectures.size(); ++i)
        if (static_cast<std::size_t>(kArchitectures[i].architecture) != i) return false;
    return true;
}
}  // namespace detail
static_assert(detail::registry_in_enum_order(), "kArchitectures lists every Architecture once, in enum order");

inline const ArchitectureInfo& architecture_info(Architecture a) {
    const auto i = static_cast<std::size_t>(a);
    if (i >= kArchitectures.size()) throw std::invalid_argument("not an SAE architecture: " + std::to_string(i));
    return kArchitectures[i];
}

inline const char* architecture_name(Architecture a) { return architecture_info(a).name; }

// "topk, batchtopk, relu, gated, jumprelu, archetypal", for messages.
inline std::string architecture_names() {
    std::string out;
    for (const auto& info : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(info.name);
    return out;
}

inline Architecture parse_architecture(const std::string& name) {
    for (const auto& info : kArchitectures)
        if (name == info.name) return info.architecture;
    throw std::invalid_argument("architecture must be one of " + architecture_names() + ", got '" + name + "'");
}

struct SaeConfig {
    Architecture architecture = Architecture::topk;
    std::int64_t d_in = 0;         // width of the activations
    std::int64_t num_latents = 0;  // the paper's SAEs: 32x d_in (Pythia), 32x (Llama)
    // Active latents per token (topk; batchtopk on average; the other
    // architectures ignore it, but it must still be a count: it is written
    // to cfg.json and read back). sparsify's default is 32.
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
    // archetypal (sae/archetypal.hpp): decoder rows D = W C + Λ with C the m
    // candidate points, W row-stochastic, ‖Λ_i‖ <= δ.
    // archetypal_points, m: how many points C holds. They are taken from the
    // first trained batch, which must have at least m tokens. 256 points fit
    // a batch of the default size (4096) sixteen times, so that k-means has
    // several tokens per centroid.
    std::int64_t archetypal_points = 256;
    // archetypal_delta, δ: the largest norm of a row's relaxation Λ_i, in the
    // activations' units (0: atoms exactly in the convex hull). 1.0 is small
    // next to the points' norms for activations of norm ~10 and up; scale it
    // with the data (the study sets it from the data's norms).
    double archetypal_delta = 1.0;
    // archetypal_init: "kmeans", the points are k-means centroids of the
    // first batch (the same for every seed: the initialisation whose
    // stability Fel et al. report) and atom i starts at centroid i mod m;
    // "random", the points are m tokens of the first batch drawn with the
    // seed and each atom starts at a random convex combination of them.
    std::string archetypal_init = "kmeans";

    // The one validator of an SAE's config (Python's SAEConfig calls it too).
    // Throws std::invalid_argument naming the field, its value and the rule,
    // after "<subject>: " (none for an empty subject: a caller that names
    // the source itself, such as a cfg.json's path).
    // Real-valued knobs must be finite: an infinite threshold or bandwidth
    // kills every latent, an infinite coefficient makes every loss infinite.
    void validate(const std::string& subject = "SaeConfig") const {
        const auto fail = [&](const std::string& message) {
            throw std::invalid_argument(subject.empty() ? message : subject + ": " + message);
        };
        const auto count = [&](const char* field, std::int64_t value) {
            if (value < 1) fail(std::string(field) + " must be a positive integer, got " + std::to_string(value));
        };
        const auto real = [&](const char* field, double value, bool zero_allowed) {
            if (!std::isfinite(value) || value < 0.0 || (value == 0.0 && !zero_allowed))
                fail(std::string(field) + " must be a finite number " + (zero_allowed ? ">= 0" : "> 0") + ", got " +
                     number_text(value));
        };
        count("d_in", d_in);
        count("num_latents", num_latents);
        count("k", k);
        if (architecture_info(architecture).uses_k && k > num_latents)
            fail("k = " + std::to_string(k) + " exceeds num_latents = " + std::to_string(num_latents) +
                 " (k must be in [1, num_latents] for " + architecture_name(architecture) + ")");
        real("sparsity_coefficient", sparsity_coefficient, true);
        real("jumprelu_init_threshold", jumprelu_init_threshold, false);
        real("jumprelu_bandwidth", jumprelu_bandwidth, false);
        real("auxk_alpha", auxk_alpha, true);
        if (!(batchtopk_threshold_momentum > 0.0 && batchtopk_threshold_momentum <= 1.0))
            fail("batchtopk_threshold_momentum must be in (0, 1], got " + number_text(batchtopk_threshold_momentum));
        count("archetypal_points", archetypal_points);
        real("archetypal_delta", archetypal_delta, true);
        if (archetypal_init != "kmeans" && archetypal_init != "random")
            fail("archetypal_init must be \"kmeans\" or \"random\", got \"" + archetypal_init + "\"");
    }

private:
    static std::string number_text(double x) {
        std::ostringstream out;
        out << x;  // 0.001 and inf, where std::to_string would print 0.001000 and inf alike but 1e-09 as 0.000000
        return out.str();
    }
};

}  // namespace saematch::sae
