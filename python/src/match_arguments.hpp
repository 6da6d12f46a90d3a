// The matcher's arguments as Python spells them (compare() / compare_many()),
// turned into MatchOptions and checked here once for both modules that match
// (_core on the CPU, _device on a torch device). Python passes them through
// unchecked; the defaults it shows are read from MatchOptions.
#pragma once

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "saematch/compare/latent_matching.hpp"

namespace saematch::python {

// `candidates`: list length per latent (MatchOptions::candidates.k);
// `progress`: called with the fraction done, under the GIL.
inline compare::MatchOptions match_arguments(const std::string& method, std::int64_t dense_max_pairs, int candidates,
                                             int threads, const std::function<void(double)>& progress) {
    if (candidates < 1) throw std::invalid_argument("candidates must be at least 1, got " + std::to_string(candidates));
    if (threads < 0) throw std::invalid_argument("threads must be at least 0 (0: all), got " + std::to_string(threads));
    compare::MatchOptions o;
    o.method = compare::parse_match_method(method);
    o.dense_max_pairs = dense_max_pairs;
    o.candidates.k = candidates;
    o.candidates.threads = threads;
    o.threads = threads;
    if (progress)
        o.candidates.progress = [progress](double fraction) {
            pybind11::gil_scoped_acquire acquire;
            progress(fraction);
        };
    return o;
}

// compare_many's per-pair progress: Python's on_pair(done, total), called
// under the GIL from the thread that matches (which runs without it).
inline std::function<void(std::size_t, std::size_t)> pair_progress(
    const std::function<void(std::size_t, std::size_t)>& on_pair) {
    if (!on_pair) return {};
    return [on_pair](std::size_t done, std::size_t total) {
        pybind11::gil_scoped_acquire acquire;
        on_pair(done, total);
    };
}

}  // namespace saematch::python
