// An SAE's weights in memory without LibTorch: float32 arrays by name.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace saematch::io {

struct Array {
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // row-major
};

// Parameters by their in-memory name (sae/*.hpp).
using Parameters = std::vector<std::pair<std::string, Array>>;

inline Array* find_parameter(Parameters& p, const std::string& name) {
    for (auto& [n, a] : p)
        if (n == name) return &a;
    return nullptr;
}

}  // namespace saematch::io
