// The device half of comparing SAEs: compare_pair / compare_many with the
// streamed method's screen and certificate rows on a torch device
// (similarity/aten/device_backend.hpp). A module of its own, linked to
// LibTorch's CPU libraries like _train (CUDA registers itself when Python's
// torch loads it), so that `import saematch` and CPU comparisons never load
// LibTorch. It takes and returns _core's SaeDirections and PairReport.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "match_arguments.hpp"
#include "saematch/compare/multi_seed.hpp"
#include "saematch/compare/pair_report.hpp"
#include "saematch/similarity/aten/device_backend.hpp"

namespace py = pybind11;
namespace aten = saematch::similarity::aten;
namespace compare = saematch::compare;

namespace {

// The core's spellings (similarity::kScreenNames), mapped to the device's
// screens.
aten::DeviceScreen parse_screen(const std::string& screen) {
    switch (saematch::similarity::parse_screen(screen)) {
        case saematch::similarity::ScreenPrecision::automatic: return aten::DeviceScreen::automatic;
        case saematch::similarity::ScreenPrecision::float32: return aten::DeviceScreen::float32;
        case saematch::similarity::ScreenPrecision::bfloat16: return aten::DeviceScreen::bfloat16;
    }
    throw std::logic_error("unreachable screen");
}

struct Call {
    std::shared_ptr<aten::DeviceBackend> backend;
    compare::MatchOptions options;
};

Call make_call(const std::string& device, const std::string& screen, const std::string& method,
               std::int64_t dense_max_pairs, int candidates, std::int64_t block_rows, std::int64_t block_cols,
               int threads, const std::function<void(double)>& progress) {
    Call call{nullptr, saematch::python::match_arguments(method, dense_max_pairs, candidates, threads, progress)};
    if (block_rows < 0 || block_cols < 0)
        throw std::invalid_argument("block_rows and block_cols must be at least 1 (or 0: the device's default), got " +
                                    std::to_string(block_rows) + " and " + std::to_string(block_cols));
    aten::DeviceBackendOptions o;
    o.device = c10::Device(device);
    o.screen = parse_screen(screen);
    // 0: the device's own tile shape (TileScreenOptions' defaults).
    if (block_rows > 0) o.tiles.block_rows = block_rows;
    if (block_cols > 0) o.tiles.block_cols = block_cols;
    o.threads = threads;
    call.backend = std::make_shared<aten::DeviceBackend>(o);
    call.options.backend = call.backend;
    return call;
}

py::dict traffic(const aten::DeviceBackend& backend) {
    py::dict d;
    d["device"] = backend.options().device.str();
    d["bytes_to_device"] = backend.traffic().to_device;
    d["bytes_to_host"] = backend.traffic().to_host;
    d["row_uploads"] = backend.traffic().row_uploads;
    return d;
}

}  // namespace

PYBIND11_MODULE(_device, m) {
    m.doc() = "saematch comparisons on a torch device (use saematch.compare(..., device=...), not this module)";
    py::module_::import("saematch._core");  // SaeDirections and PairReport live there

    m.def(
        "compare_pair",
        [](const compare::SaeDirections& a, const compare::SaeDirections& b, const std::string& device,
           const std::string& screen, const std::string& method, std::int64_t dense_max_pairs, int candidates,
           std::int64_t block_rows, std::int64_t block_cols, int threads, const std::function<void(double)>& progress) {
            Call call = make_call(device, screen, method, dense_max_pairs, candidates, block_rows, block_cols, threads, progress);
            compare::PairReport r;
            {
                py::gil_scoped_release release;
                for (const auto* s : {&a, &b}) {
                    call.backend->keep(s->encoder);
                    call.backend->keep(s->decoder);
                }
                r = compare::compare_pair(a, b, call.options);
            }
            return py::make_tuple(std::move(r), traffic(*call.backend));
        },
        py::arg("a"), py::arg("b"), py::arg("device"), py::arg("screen"), py::arg("method"), py::arg("dense_max_pairs"),
        py::arg("candidates"), py::arg("block_rows"), py::arg("block_cols"), py::arg("threads"),
        py::arg("progress") = nullptr);

    m.def(
        "compare_many",
        [](const std::vector<const compare::SaeDirections*>& saes, const std::string& device, const std::string& screen,
           const std::string& method, std::int64_t dense_max_pairs, int candidates, std::int64_t block_rows,
           std::int64_t block_cols, int threads, const std::function<void(std::size_t, std::size_t)>& on_pair) {
            Call call = make_call(device, screen, method, dense_max_pairs, candidates, block_rows, block_cols, threads, nullptr);
            const auto report = saematch::python::pair_progress(on_pair);
            compare::MultiSeedReport r;
            {
                py::gil_scoped_release release;
                // Each SAE is uploaded once and serves all its pairs.
                for (const auto* s : saes) {
                    call.backend->keep(s->encoder);
                    call.backend->keep(s->decoder);
                }
                r = compare::compare_many(saes, call.options, report);
            }
            py::list pairs;
            for (std::size_t p = 0; p < r.pairs.size(); ++p)
                pairs.append(py::make_tuple(r.pair_ids[p].first, r.pair_ids[p].second, std::move(r.pairs[p])));
            return py::make_tuple(pairs, traffic(*call.backend));
        },
        py::arg("saes"), py::arg("device"), py::arg("screen"), py::arg("method"), py::arg("dense_max_pairs"),
        py::arg("candidates"), py::arg("block_rows"), py::arg("block_cols"), py::arg("threads"),
        py::arg("on_pair") = nullptr);
}
