// The SAE config's one validator and the torch-free architecture registry
// (sae/config.hpp), which the Python package calls instead of keeping copies.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "saematch/io/sae_folder.hpp"
#include "saematch/sae/config.hpp"

namespace sae = saematch::sae;

namespace {

sae::SaeConfig valid(sae::Architecture a) {
    sae::SaeConfig c;
    c.architecture = a;
    c.d_in = 8;
    c.num_latents = 16;
    c.k = 4;
    return c;
}

std::string error_of(const sae::SaeConfig& c) {
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the registry lists every architecture once, and names parse back", "[config]") {
    std::set<std::string> names;
    for (const auto& info : sae::kArchitectures) {
        CHECK(sae::parse_architecture(info.name) == info.architecture);
        CHECK(std::string(sae::architecture_name(info.architecture)) == info.name);
        names.insert(info.name);
    }
    CHECK(names.size() == sae::kArchitectures.size());
    CHECK(sae::architecture_info(sae::Architecture::batchtopk).uses_k);
    CHECK_FALSE(sae::architecture_info(sae::Architecture::gated).uses_k);
    // The message lists what is known, from the registry itself.
    CHECK_THROWS_WITH(sae::parse_architecture("matryoshka"),
                      Catch::Contains("architecture must be one of " + sae::architecture_names()) &&
                          Catch::Contains("'matryoshka'"));
}

TEST_CASE("a config with a non-finite knob is refused, naming the field", "[config]") {
    // The Python layer refused these, the C++ one accepted an infinite
    // threshold: an infinite threshold or bandwidth kills every latent, an
    // infinite coefficient makes every loss infinite.
    const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
    for (const double bad : {inf, -inf, nan}) {
        auto c = valid(sae::Architecture::jumprelu);
        c.jumprelu_init_threshold = bad;
        CHECK_THAT(error_of(c), Catch::Contains("jumprelu_init_threshold must be a finite number > 0"));
        c = valid(sae::Architecture::jumprelu);
        c.jumprelu_bandwidth = bad;
        CHECK_THAT(error_of(c), Catch::Contains("jumprelu_bandwidth must be a finite number > 0"));
        c = valid(sae::Architecture::relu);
        c.sparsity_coefficient = bad;
        CHECK_THAT(error_of(c), Catch::Contains("sparsity_coefficient must be a finite number >= 0"));
        c = valid(sae::Architecture::topk);
        c.auxk_alpha = bad;
        CHECK_THAT(error_of(c), Catch::Contains("auxk_alpha must be a finite number >= 0"));
    }
    auto c = valid(sae::Architecture::jumprelu);
    c.jumprelu_init_threshold = inf;
    CHECK_THAT(error_of(c), Catch::Contains("got inf"));
    // Zero: a valid coefficient, not a valid threshold.
    c = valid(sae::Architecture::relu);
    c.sparsity_coefficient = 0.0;
    CHECK(error_of(c).empty());
    c.jumprelu_init_threshold = 0.0;
    CHECK_THAT(error_of(c), Catch::Contains("jumprelu_init_threshold"));
}

TEST_CASE("k is a count for every architecture, and at most num_latents where it is the sparsity", "[config]") {
    auto c = valid(sae::Architecture::relu);
    c.k = 0;  // written to cfg.json and read back, so it must stay a count
    CHECK_THAT(error_of(c), Catch::Contains("k must be a positive integer, got 0"));
    c.k = 100;  // ignored by relu
    CHECK(error_of(c).empty());
    c.architecture = sae::Architecture::batchtopk;
    CHECK_THAT(error_of(c), Catch::Contains("k = 100 exceeds num_latents = 16"));
    c = valid(sae::Architecture::topk);
    c.d_in = 0;
    CHECK_THAT(error_of(c), Catch::Contains("d_in must be a positive integer, got 0"));
    c = valid(sae::Architecture::batchtopk);
    c.batchtopk_threshold_momentum = 1.5;
    CHECK_THAT(error_of(c), Catch::Contains("batchtopk_threshold_momentum must be in (0, 1], got 1.5"));
    // Who is speaking comes first: the type, or the caller's own subject.
    CHECK_THAT(error_of(c), Catch::StartsWith("SaeConfig: "));
    CHECK_THROWS_WITH(c.validate("SAEConfig"), Catch::StartsWith("SAEConfig: batchtopk_threshold_momentum"));
}

TEST_CASE("a cfg.json whose threshold overflows to infinity is refused, naming file and field", "[config][io]") {
    // JSON has no infinity, but a reader may turn 1e999 into one, and
    // Python's SAEConfig reaches the reader with floats as they are.
    auto j = saematch::io::detail::config_json(valid(sae::Architecture::jumprelu));
    j["jumprelu_init_threshold"] = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH(saematch::io::detail::config_from_json(j, "run/cfg.json"),
                      Catch::StartsWith("run/cfg.json: jumprelu_init_threshold must be a finite number"));
}
