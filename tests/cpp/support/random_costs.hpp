// Reproducible random cost matrices for the solver tests, with helpers to
// view and print them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "saematch/lap/matrix_view.hpp"

namespace saematch_test {

enum class CostKind {
    uniform,        // independent reals in [-10, 10)
    tied_integers,  // integers in {0, 1, 2}: many optimal matchings
    constant,       // one value everywhere: every matching is optimal
    forbidden,      // uniform or tied values with a random share of forbidden pairs
};

inline const char* kind_name(CostKind kind) {
    switch (kind) {
        case CostKind::uniform:
            return "uniform";
        case CostKind::tied_integers:
            return "tied integers";
        case CostKind::constant:
            return "constant";
        case CostKind::forbidden:
            return "forbidden entries";
    }
    return "?";
}

// The entry that marks a forbidden pair: +inf when minimising, -inf when
// maximising.
template <class T>
T forbidden_value(bool maximize) {
    return maximize ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
}

// A seed that differs for every combination of the given numbers (splitmix64
// over them), so each generated case can be reproduced on its own.
inline std::uint64_t seed_for(std::initializer_list<std::int64_t> parts) {
    std::uint64_t x = 0x9e3779b97f4a7c15ull;
    for (std::int64_t p : parts) {
        x ^= static_cast<std::uint64_t>(p) + 0x9e3779b97f4a7c15ull + (x << 6) + (x >> 2);
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    return x;
}

// A row-major rows × cols matrix of the given kind. For CostKind::forbidden
// the share of forbidden pairs is itself random (10% to 70%), so some of the
// matrices have no complete matching.
template <class T>
std::vector<T> random_costs(std::mt19937_64& rng, std::ptrdiff_t rows, std::ptrdiff_t cols, CostKind kind,
                            bool maximize) {
    const auto count = static_cast<std::size_t>(rows * cols);
    std::vector<T> out(count);
    std::uniform_real_distribution<double> uniform(-10.0, 10.0);
    std::uniform_int_distribution<int> tied(0, 2);
    switch (kind) {
        case CostKind::uniform:
            for (T& c : out) c = static_cast<T>(uniform(rng));
            break;
        case CostKind::tied_integers:
            for (T& c : out) c = static_cast<T>(tied(rng));
            break;
        case CostKind::constant: {
            const T value = static_cast<T>(uniform(rng));
            for (T& c : out) c = value;
            break;
        }
        case CostKind::forbidden: {
            const double share = std::uniform_real_distribution<double>(0.1, 0.7)(rng);
            const bool ties = std::bernoulli_distribution(0.5)(rng);
            std::bernoulli_distribution is_forbidden(share);
            for (T& c : out) {
                const double value = ties ? static_cast<double>(tied(rng)) : uniform(rng);
                c = is_forbidden(rng) ? forbidden_value<T>(maximize) : static_cast<T>(value);
            }
            break;
        }
    }
    return out;
}

// Distances |x_i - y_j| between random points on a line: a structured
// matrix on which the shortest-path phase does most of the work (long
// augmenting paths through many rows).
template <class T>
std::vector<T> line_distance_costs(std::mt19937_64& rng, std::ptrdiff_t rows, std::ptrdiff_t cols) {
    std::uniform_real_distribution<double> point(0.0, 1.0);
    std::vector<double> x(static_cast<std::size_t>(rows)), y(static_cast<std::size_t>(cols));
    for (double& p : x) p = point(rng);
    for (double& p : y) p = point(rng);
    std::vector<T> out;
    out.reserve(static_cast<std::size_t>(rows * cols));
    for (double xi : x)
        for (double yj : y) out.push_back(static_cast<T>(xi > yj ? xi - yj : yj - xi));
    return out;
}

template <class T>
saematch::lap::MatrixView<T> view_of(const std::vector<T>& data, std::ptrdiff_t rows, std::ptrdiff_t cols) {
    return saematch::lap::MatrixView<T>::row_major(data.data(), rows, cols);
}

// The matrix as text, for failure messages.
template <class T>
std::string describe(saematch::lap::MatrixView<T> cost) {
    std::ostringstream out;
    out.precision(17);
    out << cost.rows << " x " << cost.cols << " matrix:\n";
    for (std::ptrdiff_t i = 0; i < cost.rows; ++i) {
        out << "  [";
        for (std::ptrdiff_t j = 0; j < cost.cols; ++j)
            out << (j ? ", " : "") << static_cast<double>(cost(i, j));
        out << "]\n";
    }
    return out.str();
}

}  // namespace saematch_test
