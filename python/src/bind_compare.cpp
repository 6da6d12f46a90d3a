// SAE comparison for Python: normalised directions, pair and multi-seed
// reports, and the multi-seed statistics. The Python layer
// (saematch/compare.py) turns these into report objects.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "match_arguments.hpp"
#include "saematch/compare/multi_seed.hpp"
#include "saematch/compare/multi_seed_stats.hpp"
#include "saematch/compare/pair_report.hpp"

namespace py = pybind11;

namespace saematch::python {
namespace {

template <class T>
py::array_t<T> copy_to_numpy(const std::vector<T>& values) {
    py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::array_t<bool> mask_to_numpy(const std::vector<std::uint8_t>& mask) {
    py::array_t<bool> out(static_cast<py::ssize_t>(mask.size()));
    bool* p = out.mutable_data();
    for (std::size_t i = 0; i < mask.size(); ++i) p[i] = mask[i] != 0;
    return out;
}

template <class T>
lap::MatrixView<T> view_of(const py::array_t<T, 0>& a, const std::string& what) {
    if (a.ndim() != 2)
        throw std::invalid_argument(what + " must be 2-D (n_latents, d), got " + std::to_string(a.ndim()) + "-D");
    for (int axis = 0; axis < 2; ++axis)
        if (a.strides(axis) % static_cast<py::ssize_t>(sizeof(T)) != 0)
            throw std::invalid_argument(what + " strides must be whole elements");
    return {a.data(), a.shape(0), a.shape(1), a.strides(0) / static_cast<py::ssize_t>(sizeof(T)),
            a.strides(1) / static_cast<py::ssize_t>(sizeof(T))};
}

template <class T>
compare::SaeDirections directions(py::array_t<T, 0> encoder, py::array_t<T, 0> decoder, const std::string& name) {
    const auto e = view_of(encoder, name + " encoder"), d = view_of(decoder, name + " decoder");
    py::gil_scoped_release release;
    return compare::sae_directions(e, d, name);
}

// A NumPy view of rows x cols floats at p with row stride ld, no copy. The
// memory belongs to the core and lives through the call that receives it.
py::array_t<float> borrowed(const float* p, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t ld) {
    const py::capsule no_owner(p, [](void*) {});
    const auto item = static_cast<py::ssize_t>(sizeof(float));
    return py::array_t<float>(std::vector<py::ssize_t>{rows, cols}, std::vector<py::ssize_t>{ld * item, item}, p,
                              no_owner);
}

// The core's GemmFunction as a call of gemm(a, b, c) in Python (a torch
// matmul on a GPU, see saematch/_torch_gemm.py), holding the GIL for it.
similarity::GemmFunction python_gemm(const py::object& gemm) {
    // The core copies and drops the function without the GIL; the Python
    // object goes with the last copy, under the GIL.
    std::shared_ptr<py::object> fn(new py::object(gemm), [](py::object* o) {
        py::gil_scoped_acquire acquire;
        delete o;
    });
    return [fn](const float* a, std::ptrdiff_t lda, const float* b, std::ptrdiff_t ldb, float* c, std::ptrdiff_t ldc,
                std::ptrdiff_t m, std::ptrdiff_t n, std::ptrdiff_t k) {
        py::gil_scoped_acquire acquire;
        (*fn)(borrowed(a, m, k, lda), borrowed(b, n, k, ldb), borrowed(c, m, n, ldc));
    };
}

compare::MatchOptions match_options(const std::string& method, std::int64_t dense_max_pairs, int candidates,
                                    std::ptrdiff_t block_rows, std::ptrdiff_t block_cols, int threads,
                                    const std::string& screen, const py::object& gemm,
                                    const std::function<void(double)>& progress) {
    auto o = match_arguments(method, dense_max_pairs, candidates, threads, progress);
    // 0: the core's own tile shape (CandidateOptions' defaults).
    if (block_rows != 0) o.candidates.block_rows = block_rows;
    if (block_cols != 0) o.candidates.block_cols = block_cols;
    o.candidates.screen = similarity::parse_screen(screen);
    if (!gemm.is_none()) o.candidates.gemm = python_gemm(gemm);
    return o;
}

py::dict side_arrays(const compare::PairReport& r, compare::Side side) {
    const bool a = side == compare::Side::a;
    py::dict d;
    d["enc_partner"] = copy_to_numpy(r.enc_partner(side));
    d["dec_partner"] = copy_to_numpy(r.dec_partner(side));
    d["enc_cos"] = copy_to_numpy(r.enc_cos(side));
    d["dec_cos"] = copy_to_numpy(r.dec_cos(side));
    d["max_cos_enc"] = copy_to_numpy(a ? r.encoder.max_cos_a : r.encoder.max_cos_b);
    d["max_cos_dec"] = copy_to_numpy(a ? r.decoder.max_cos_a : r.decoder.max_cos_b);
    d["agree"] = mask_to_numpy(r.agree(side));
    return d;
}

py::dict matching_stats(const compare::LatentMatching& m) {
    py::dict d;
    d["method"] = m.used_sparse ? "sparse" : "dense";
    d["screen"] = m.screen;
    d["total_cos"] = m.total_cos;
    d["certified_gap"] = m.certified_gap;
    d["certificate_rounds"] = m.certificate_rounds;
    d["candidate_pairs"] = m.candidate_pairs;
    d["recomputed_rows"] = m.recomputed_rows;
    return d;
}

// The rule's mask over arrays of one side's matches (a report's side() or
// anything shaped like it).
py::array_t<bool> shared_mask(const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& enc_partner,
                              const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& dec_partner,
                              const py::array_t<float, py::array::c_style | py::array::forcecast>& enc_cos,
                              const py::array_t<float, py::array::c_style | py::array::forcecast>& dec_cos,
                              const std::string& rule_name, double threshold) {
    const auto& rule = compare::parse_rule(rule_name);
    const auto n = enc_partner.size();
    if (enc_partner.ndim() != 1 || dec_partner.size() != n || enc_cos.size() != n || dec_cos.size() != n)
        throw std::invalid_argument("enc_partner, dec_partner, enc_cos and dec_cos must be 1-D of one length, got sizes " +
                                    std::to_string(n) + ", " + std::to_string(dec_partner.size()) + ", " +
                                    std::to_string(enc_cos.size()) + ", " + std::to_string(dec_cos.size()));
    py::array_t<bool> out(n);
    bool* o = out.mutable_data();
    const auto *ep = enc_partner.data(), *dp = dec_partner.data();
    const auto *ec = enc_cos.data(), *dc = dec_cos.data();
    for (py::ssize_t i = 0; i < n; ++i) o[i] = rule.is_shared({ep[i], dp[i], ec[i], dc[i]}, threshold);
    return out;
}

}  // namespace

void bind_compare(py::module_& m) {
    py::list rules;
    for (const auto& rule : compare::kSharedRules)
        rules.append(py::make_tuple(std::string(rule.name), std::string(rule.meaning)));
    m.attr("shared_rules") = py::tuple(rules);
    m.def("shared_mask", &shared_mask, py::arg("enc_partner"), py::arg("dec_partner"), py::arg("enc_cos"),
          py::arg("dec_cos"), py::arg("rule"), py::arg("threshold"),
          "Which latents of one side are shared under `rule` at `threshold` (compare/shared_rules.hpp).");
    {
        // The defaults Python's compare()/compare_many() show in their signatures.
        const compare::MatchOptions o;
        py::dict d;
        d["candidates"] = o.candidates.k;
        d["dense_max_pairs"] = o.dense_max_pairs;
        py::list screens;
        for (const auto name : similarity::kScreenNames) screens.append(std::string(name));
        d["screens"] = py::tuple(screens);
        m.attr("match_defaults") = d;
    }
    py::class_<compare::SaeDirections>(m, "SaeDirections", "An SAE's unit-normalised encoder rows and decoder vectors")
        .def_property_readonly("latents", &compare::SaeDirections::latents)
        .def_property_readonly("width", &compare::SaeDirections::width)
        .def_property_readonly("dead_encoder", [](const compare::SaeDirections& s) { return s.encoder.dead_count; })
        .def_property_readonly("dead_decoder", [](const compare::SaeDirections& s) { return s.decoder.dead_count; });
    m.def("sae_directions", &directions<float>, py::arg("encoder").noconvert(), py::arg("decoder").noconvert(),
          py::arg("name"));
    m.def("sae_directions", &directions<double>, py::arg("encoder").noconvert(), py::arg("decoder").noconvert(),
          py::arg("name"));

    py::class_<compare::PairReport>(m, "PairReport")
        .def("side", [](const compare::PairReport& r, bool a) { return side_arrays(r, a ? compare::Side::a : compare::Side::b); })
        .def("stats", [](const compare::PairReport& r) {
            py::dict d;
            d["encoder"] = matching_stats(r.encoder);
            d["decoder"] = matching_stats(r.decoder);
            d["dead_encoder_a"] = r.dead_encoder_a;
            d["dead_decoder_a"] = r.dead_decoder_a;
            d["dead_encoder_b"] = r.dead_encoder_b;
            d["dead_decoder_b"] = r.dead_decoder_b;
            return d;
        });

    m.def(
        "compare_pair",
        [](const compare::SaeDirections& a, const compare::SaeDirections& b, const std::string& method,
           std::int64_t dense_max_pairs, int candidates, std::ptrdiff_t block_rows, std::ptrdiff_t block_cols, int threads,
           const std::string& screen, const py::object& gemm, const std::function<void(double)>& progress) {
            const auto options =
                match_options(method, dense_max_pairs, candidates, block_rows, block_cols, threads, screen, gemm, progress);
            py::gil_scoped_release release;
            return compare::compare_pair(a, b, options);
        },
        py::arg("a"), py::arg("b"), py::arg("method"), py::arg("dense_max_pairs"), py::arg("candidates"),
        py::arg("block_rows"), py::arg("block_cols"), py::arg("threads"), py::arg("screen"),
        py::arg("gemm") = py::none(), py::arg("progress") = nullptr);

    m.def(
        "compare_many",
        [](const std::vector<const compare::SaeDirections*>& saes, const std::string& method,
           std::int64_t dense_max_pairs, int candidates, std::ptrdiff_t block_rows, std::ptrdiff_t block_cols, int threads,
           const std::string& screen, const py::object& gemm,
           const std::function<void(std::size_t, std::size_t)>& on_pair) {
            const auto options =
                match_options(method, dense_max_pairs, candidates, block_rows, block_cols, threads, screen, gemm, nullptr);
            const auto report = pair_progress(on_pair);
            compare::MultiSeedReport r;
            {
                py::gil_scoped_release release;
                r = compare::compare_many(saes, options, report);
            }
            py::list pairs;
            for (std::size_t p = 0; p < r.pairs.size(); ++p)
                pairs.append(py::make_tuple(r.pair_ids[p].first, r.pair_ids[p].second, std::move(r.pairs[p])));
            return pairs;
        },
        py::arg("saes"), py::arg("method"), py::arg("dense_max_pairs"), py::arg("candidates"), py::arg("block_rows"),
        py::arg("block_cols"), py::arg("threads"), py::arg("screen"), py::arg("gemm") = py::none(),
        py::arg("on_pair") = nullptr);

    m.def("bf16_available", &similarity::bf16_gemm_available,
          "Whether this CPU runs the bfloat16 screen (AVX512-BF16).");
    m.def("only_in_base_fraction", &compare::only_in_base_fraction, py::arg("share_counts"));
    m.def("shared_with_exactly", &compare::shared_with_exactly, py::arg("share_counts"));
    m.def(
        "fit_power_law_with_offset",
        [](const std::vector<double>& k, const std::vector<double>& y) {
            const auto f = compare::fit_power_law_with_offset(k, y);
            return py::make_tuple(f.a, f.b, f.c, f.rmse, f.converged);
        },
        py::arg("k"), py::arg("y"));
}

}  // namespace saematch::python
