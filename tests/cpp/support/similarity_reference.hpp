// Naive references for the similarity tests: random SAE-like weight matrices
// (with dead rows, exact duplicates and near-duplicates on request), cosine
// matrices summed in double one term at a time, and a comparison of top-k
// lists that tolerates reordering only among (near-)tied values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "saematch/similarity/unit_rows.hpp"

namespace saematch_test {

struct WeightSpec {
    int rows = 0, dim = 0;
    double dead_fraction = 0.0;  // rows set to zero
    int duplicates = 0;          // extra rows that copy `template_row` exactly
    int near_duplicates = 0;     // extra rows that copy it with a ~1e-6 relative nudge
    std::vector<float> template_row;
};

// Row-major rows x dim Gaussian weights; duplicates are appended at random
// positions.
inline std::vector<float> random_weights(std::mt19937_64& rng, const WeightSpec& spec) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const auto d = static_cast<std::size_t>(spec.dim);
    std::vector<float> w(static_cast<std::size_t>(spec.rows) * d);
    for (auto& x : w) x = normal(rng);
    for (int i = 0; i < spec.rows; ++i)
        if (unit(rng) < spec.dead_fraction)
            std::fill_n(w.begin() + static_cast<std::ptrdiff_t>(i * d), d, 0.0f);
    const auto place = [&](int i, bool nudge) {
        auto* row = w.data() + static_cast<std::size_t>(i) * d;
        for (std::size_t c = 0; c < d; ++c)
            row[c] = spec.template_row[c] * (nudge ? 1.0f + 1e-6f * normal(rng) : 1.0f);
    };
    std::uniform_int_distribution<int> pick(0, std::max(0, spec.rows - 1));
    for (int t = 0; t < spec.duplicates && spec.rows > 0; ++t) place(pick(rng), false);
    for (int t = 0; t < spec.near_duplicates && spec.rows > 0; ++t) place(pick(rng), true);
    return w;
}

inline std::vector<float> random_vector(std::mt19937_64& rng, int dim) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(dim));
    for (auto& x : v) x = normal(rng);
    return v;
}

// cos(i, j) for the float32 unit rows, each product and sum in double, in
// index order.
inline std::vector<double> reference_cosines(const saematch::similarity::UnitRows& a,
                                             const saematch::similarity::UnitRows& b) {
    const auto n = a.rows.rows(), m = b.rows.rows(), d = a.rows.cols();
    std::vector<double> s(static_cast<std::size_t>(n * m));
    for (std::ptrdiff_t i = 0; i < n; ++i)
        for (std::ptrdiff_t j = 0; j < m; ++j) {
            double sum = 0.0;
            for (std::ptrdiff_t c = 0; c < d; ++c)
                sum += static_cast<double>(a.rows(i, c)) * static_cast<double>(b.rows(j, c));
            s[static_cast<std::size_t>(i * m + j)] = sum;
        }
    return s;
}

inline std::vector<double> transpose(const std::vector<double>& s, std::ptrdiff_t n, std::ptrdiff_t m) {
    std::vector<double> t(s.size());
    for (std::ptrdiff_t i = 0; i < n; ++i)
        for (std::ptrdiff_t j = 0; j < m; ++j)
            t[static_cast<std::size_t>(j * n + i)] = s[static_cast<std::size_t>(i * m + j)];
    return t;
}

struct ListTolerance {
    double value = 1e-5;       // |listed value - reference value|
    double separation = 1e-5;  // values closer than this count as tied
};

// Checks the k-entry lists of `lines` lines (each `width` reference values
// long) against the reference: values position by position; indices exactly
// where the reference value at that position is separated from its
// neighbours; every listed index distinct and its reference value matching
// the listed one; padding (-1, -inf) exactly where the line is shorter than k.
// Returns the first problem in words, or "".
inline std::string compare_lists(const std::vector<float>& value, const std::vector<std::int32_t>& index,
                                 int k, const std::vector<double>& ref, std::ptrdiff_t lines,
                                 std::ptrdiff_t width, ListTolerance tol) {
    std::ostringstream problem;
    std::vector<std::pair<double, std::int32_t>> sorted;
    for (std::ptrdiff_t l = 0; l < lines; ++l) {
        sorted.clear();
        for (std::ptrdiff_t j = 0; j < width; ++j)
            sorted.push_back({ref[static_cast<std::size_t>(l * width + j)], static_cast<std::int32_t>(j)});
        std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
            return x.first > y.first || (x.first == y.first && x.second < y.second);
        });
        std::vector<std::int32_t> seen;
        for (int p = 0; p < k; ++p) {
            const float v = value[static_cast<std::size_t>(l * k + p)];
            const std::int32_t j = index[static_cast<std::size_t>(l * k + p)];
            if (p >= width) {
                if (j != -1 || v != -std::numeric_limits<float>::infinity()) {
                    problem << "line " << l << " position " << p << ": expected padding, got (" << j << ", "
                            << v << ")";
                    return problem.str();
                }
                continue;
            }
            const double expected = sorted[static_cast<std::size_t>(p)].first;
            if (j < 0 || j >= width || std::find(seen.begin(), seen.end(), j) != seen.end()) {
                problem << "line " << l << " position " << p << ": index " << j
                        << " is out of range or repeated";
                return problem.str();
            }
            seen.push_back(j);
            const double own = ref[static_cast<std::size_t>(l * width + j)];
            if (std::abs(v - expected) > tol.value || std::abs(v - own) > tol.value) {
                problem << "line " << l << " position " << p << ": value " << v << " (index " << j
                        << ", reference " << own << ") but the reference's value there is " << expected;
                return problem.str();
            }
            const bool tied_before =
                p > 0 && sorted[static_cast<std::size_t>(p - 1)].first - expected <= tol.separation;
            const bool tied_after =
                p + 1 < width && expected - sorted[static_cast<std::size_t>(p + 1)].first <= tol.separation;
            if (!tied_before && !tied_after && j != sorted[static_cast<std::size_t>(p)].second) {
                problem << "line " << l << " position " << p << ": index " << j << " but the reference has "
                        << sorted[static_cast<std::size_t>(p)].second << " (value " << expected << ")";
                return problem.str();
            }
        }
    }
    return "";
}

}  // namespace saematch_test
