// The LibTorch half of the architecture registry (sae/registry.hpp): one SAE
// type per architecture of sae/config.hpp, found by name at run time.
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

#include "saematch/sae/registry.hpp"

namespace sae = saematch::sae;

TEST_CASE("every registered architecture dispatches to its own SAE type", "[registry]") {
    std::vector<std::string> visited;
    sae::for_each_sae_type([&](auto type) {
        using Sae = typename decltype(type)::type;
        visited.emplace_back(sae::architecture_name(Sae::architecture));
        // Dispatching on the architecture lands on the same type.
        const bool same = sae::with_sae_type(Sae::architecture, [](auto found) {
            return std::is_same_v<typename decltype(found)::type, Sae>;
        });
        CHECK(same);
        const auto names = sae::with_sae_type(Sae::architecture,
                                              [](auto found) { return decltype(found)::type::parameter_names(); });
        CHECK(names == Sae::parameter_names());
    });
    std::vector<std::string> expected;
    for (const auto& info : sae::kArchitectures) expected.emplace_back(info.name);
    CHECK(visited == expected);
}

TEST_CASE("an SAE type refuses a config of another architecture, naming both", "[registry]") {
    sae::SaeConfig c;
    c.architecture = sae::Architecture::gated;
    c.d_in = 4;
    c.num_latents = 8;
    CHECK_THROWS_WITH(sae::JumpReluSae::initialised(c, 0),
                      Catch::Contains("needs architecture jumprelu, got gated"));
    c.architecture = sae::Architecture::jumprelu;
    CHECK_NOTHROW(sae::JumpReluSae::initialised(c, 0));
}
