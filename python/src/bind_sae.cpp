// The torch-free SAE definitions the Python package reads instead of
// keeping its own copies: the architecture registry (sae/config.hpp), the
// config's defaults and its one validator, reached through the config
// transport, and the trainer's defaults (train/defaults.hpp).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>
#include <vector>

#include "sae_config_transport.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/train/defaults.hpp"

namespace py = pybind11;

namespace saematch::python {

void bind_sae(py::module_& m) {
    m.def(
        "architectures",
        [] {
            std::vector<std::tuple<std::string, bool>> out;
            for (const auto& info : sae::kArchitectures) out.emplace_back(info.name, info.uses_k);
            return out;
        },
        "Every SAE architecture as (name, uses_k): uses_k when k is its sparsity and its codes are sparse "
        "(values, indices) pairs.");
    // SaeConfig's defaults as cfg.json spells them, for SAEConfig's fields
    // (the size fields have none: every SAE must state them).
    auto defaults = py::module_::import("json").attr("loads")(io::detail::config_json(sae::SaeConfig{}).dump());
    defaults.attr("pop")("d_in");
    defaults.attr("pop")("num_latents");
    m.attr("sae_config_defaults") = defaults;
    py::dict train_defaults;
    train_defaults["batch_size"] = train::defaults::batch_size;
    train_defaults["lr_warmup_steps"] = train::defaults::lr_warmup_steps;
    train_defaults["dead_after_tokens"] = train::defaults::dead_after_tokens;
    m.attr("train_defaults") = train_defaults;
    m.def(
        "check_sae_config", [](const py::dict& fields) { config_from_python(fields); }, py::arg("fields"),
        "Raises ValueError naming the field when SAEConfig's fields (a dict, as in cfg.json) are not a valid SAE.");
}

}  // namespace saematch::python
