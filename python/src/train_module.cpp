// The LibTorch half of the Python package: SAE training (train/) and the
// SAEs' encode/decode (sae/), with torch tensors crossing as tensors. A
// module of its own so that `import saematch` and comparisons never load
// LibTorch; built only where torch was found at build time.
#include <torch/extension.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/sae/topk.hpp"
#include "saematch/train/checkpoint.hpp"
#include "saematch/train/trainer.hpp"

#ifdef SAEMATCH_CUDA_KERNELS
namespace saematch::python {
void register_cuda_kernels();  // cuda_kernels.cu
}
#endif

namespace py = pybind11;
namespace sae = saematch::sae;
namespace train = saematch::train;

namespace {

sae::SaeConfig config_from(const py::dict& d) {
    sae::SaeConfig c;
    c.architecture = sae::parse_architecture(d["architecture"].cast<std::string>());
    c.d_in = d["d_in"].cast<std::int64_t>();
    c.num_latents = d["num_latents"].cast<std::int64_t>();
    c.k = d["k"].cast<std::int64_t>();
    c.sparsity_coefficient = d["sparsity_coefficient"].cast<double>();
    c.jumprelu_init_threshold = d["jumprelu_init_threshold"].cast<double>();
    c.jumprelu_bandwidth = d["jumprelu_bandwidth"].cast<double>();
    c.batchtopk_threshold_momentum = d["batchtopk_threshold_momentum"].cast<double>();
    c.auxk_alpha = d["auxk_alpha"].cast<double>();
    c.multi_topk = d["multi_topk"].cast<bool>();
    c.validate();
    return c;
}

py::list stats_list(const std::vector<train::StepStats>& stats) {
    py::list out;
    for (const auto& s : stats) {
        py::dict d;
        d["fvu"] = s.fvu;
        d["l0"] = s.l0;
        d["dead_fraction"] = s.dead_fraction;
        d["skipped"] = s.skipped;
        out.append(d);
    }
    return out;
}

// Sparse codes (TopK, BatchTopK) as a (values, indices) tuple; dense
// activations as a tensor.
py::object codes_to_python(const sae::TopKCodes& c) { return py::make_tuple(c.values, c.indices); }
py::object codes_to_python(const at::Tensor& acts) { return py::cast(acts); }

sae::TopKCodes codes_from_python(const py::object& o, const sae::TopKCodes*) {
    const auto t = o.cast<py::tuple>();
    if (t.size() != 2) throw std::invalid_argument("sparse codes must be a (values, indices) pair");
    return {t[0].cast<at::Tensor>(), t[1].cast<at::Tensor>()};
}
at::Tensor codes_from_python(const py::object& o, const at::Tensor*) { return o.cast<at::Tensor>(); }

template <class Sae>
Sae sae_from(const py::dict& config, const std::vector<at::Tensor>& params) {
    const auto names = Sae::parameter_names();
    if (params.size() != names.size())
        throw std::invalid_argument(std::string(sae::architecture_name(config_from(config).architecture)) +
                                    " SAE has " + std::to_string(names.size()) + " parameters, got " +
                                    std::to_string(params.size()));
    return Sae::from_parameters(config_from(config), params);
}

template <class Sae>
void bind_architecture(py::module_& m, const char* trainer_name, const char* suffix) {
    using Trainer = train::Trainer<Sae>;
    py::class_<Trainer>(m, trainer_name)
        .def(py::init([](const py::dict& config, std::vector<std::uint64_t> seeds, std::int64_t batch_size, double lr,
                         std::int64_t lr_warmup_steps, std::int64_t dead_after_tokens, const std::string& device,
                         const std::string& optimizer, bool bf16_encoder, std::int64_t planned_steps) {
                 train::TrainOptions o;
                 if (optimizer == "adam")
                     o.optimizer = train::OptimizerKind::adam;
                 else if (optimizer == "signum")
                     o.optimizer = train::OptimizerKind::signum;
                 else
                     throw std::invalid_argument("optimizer must be 'adam' or 'signum', got '" + optimizer + "'");
                 o.bf16_encoder = bf16_encoder;
                 o.seeds = std::move(seeds);
                 o.batch_size = batch_size;
                 o.lr = lr;
                 o.lr_warmup_steps = lr_warmup_steps;
                 o.planned_steps = planned_steps;
                 o.dead_after_tokens = dead_after_tokens;
                 o.device = at::Device(device);
                 return Trainer(config_from(config), o);
             }),
             py::arg("config"), py::arg("seeds"), py::arg("batch_size"), py::arg("lr"), py::arg("lr_warmup_steps"),
             py::arg("dead_after_tokens"), py::arg("device"), py::arg("optimizer") = "adam",
             py::arg("bf16_encoder") = false, py::arg("planned_steps") = 0)
        .def(
            "step",
            [](Trainer& t, const at::Tensor& batch) {
                std::vector<train::StepStats> stats;
                {
                    py::gil_scoped_release release;
                    stats = t.step(batch);
                }
                return stats_list(stats);
            },
            py::arg("batch"))
        .def("parameters",
             [](const Trainer& t, std::int64_t s) {
                 if (s < 0 || s >= t.seeds()) throw py::index_error("seed index " + std::to_string(s) + " out of range");
                 std::vector<at::Tensor> out;
                 for (const auto& p : t.sae(s).parameters()) out.push_back(p.clone());
                 return out;
             })
        .def(
            "save_checkpoint",
            [](const Trainer& t, const std::string& dir) {
                py::gil_scoped_release release;
                train::save_checkpoint(t, dir);
            },
            py::arg("dir"))
        .def(
            "load_checkpoint", [](Trainer& t, const std::string& dir) { train::load_checkpoint(t, dir); },
            py::arg("dir"))
        .def_property(
            "data_row", [](const Trainer& t) { return t.state().data_row; }, &Trainer::set_data_row)
        .def("history",
             [](const Trainer& t, std::int64_t s) {
                 py::dict d;
                 std::vector<double> fvu, l0, dead;
                 for (const auto& st : t.history().at(static_cast<std::size_t>(s))) {
                     fvu.push_back(st.fvu);
                     l0.push_back(st.l0);
                     dead.push_back(st.dead_fraction);
                 }
                 d["fvu"] = fvu;
                 d["l0"] = l0;
                 d["dead_fraction"] = dead;
                 return d;
             })
        .def_property_readonly("firing_counts", [](const Trainer& t) { return t.firing_counts().clone(); })
        .def_property_readonly("lr", [](const Trainer& t) { return t.options().lr; })
        .def_property_readonly("warmup_steps", [](const Trainer& t) { return train::effective_warmup_steps(t.options()); })
        .def_property_readonly("steps", &Trainer::steps)
        .def_property_readonly("tokens", &Trainer::tokens);

    const std::string name(suffix);
    m.def(("parameter_names_" + name).c_str(), &Sae::parameter_names);
    m.def(("encode_" + name).c_str(), [](const py::dict& config, const std::vector<at::Tensor>& params,
                                         const at::Tensor& x) {
        return codes_to_python(sae_from<Sae>(config, params).encode(x));
    });
    m.def(("decode_" + name).c_str(), [](const py::dict& config, const std::vector<at::Tensor>& params,
                                         const py::object& codes) {
        const auto s = sae_from<Sae>(config, params);
        using Codes = std::decay_t<decltype(s.encode(std::declval<at::Tensor>()))>;
        return s.decode(codes_from_python(codes, static_cast<const Codes*>(nullptr)));
    });
}

}  // namespace

PYBIND11_MODULE(_train, m) {
    m.doc() = "saematch training on LibTorch (use saematch.train, not this module)";
#ifdef SAEMATCH_CUDA_KERNELS
    saematch::python::register_cuda_kernels();
#endif
    // Whether CUDA tensors get saematch's own kernels (deterministic segment
    // sums, fused Adam) or the ATen fallback; saematch.training warns on a
    // GPU machine when they are missing.
    m.attr("cuda_kernels") = sae::cuda_kernels_available();
    // For tests: the route CPU tensors take (sae/execution_path.hpp), so that
    // the Python suite runs what a CUDA tensor runs.
    m.def(
        "set_execution_path",
        [](const std::string& path) {
            const std::map<std::string, sae::ExecutionPath> paths{{"automatic", sae::ExecutionPath::automatic},
                                                                  {"device_kernels", sae::ExecutionPath::device_kernels},
                                                                  {"aten", sae::ExecutionPath::aten}};
            const auto it = paths.find(path);
            if (it == paths.end())
                throw std::invalid_argument("execution path must be 'automatic', 'device_kernels' or 'aten', got '" +
                                            path + "'");
            const auto previous = sae::execution_path_setting().exchange(it->second);
            for (const auto& [name, value] : paths)
                if (value == previous) return name;
            return std::string("automatic");
        },
        py::arg("path"),
        "Sets the route CPU tensors take and returns the previous one: 'automatic' (the CPU loops), "
        "'device_kernels' (a CUDA tensor's route, on the CPU) or 'aten' (the fallback).");
    bind_architecture<sae::TopKSae>(m, "TopKTrainer", "topk");
    bind_architecture<sae::BatchTopKSae>(m, "BatchTopKTrainer", "batchtopk");
    bind_architecture<sae::ReluSae>(m, "ReluTrainer", "relu");
    bind_architecture<sae::GatedSae>(m, "GatedTrainer", "gated");
    bind_architecture<sae::JumpReluSae>(m, "JumpReluTrainer", "jumprelu");
    m.def("default_learning_rate", &train::default_learning_rate, py::arg("num_latents"));

    // One SAE folder (io/sae_folder.hpp): parameters by in-memory name, one
    // row per latent.
    m.def(
        "write_sae_folder",
        [](const std::string& dir, const py::dict& config, const std::vector<std::string>& names,
           const std::vector<at::Tensor>& params, const std::map<std::string, std::string>& metadata,
           const std::string& layout) {
            if (names.size() != params.size()) throw std::invalid_argument("one name per parameter");
            saematch::io::SaeFolder f{config_from(config), {}, metadata, {}};
            for (std::size_t i = 0; i < names.size(); ++i)
                f.parameters.emplace_back(names[i], train::detail::to_array(params[i]));
            auto l = saematch::io::Layout::automatic;
            if (layout == "sparsify")
                l = saematch::io::Layout::sparsify;
            else if (layout == "saelens")
                l = saematch::io::Layout::saelens;
            else if (layout != "auto")
                throw std::invalid_argument("format must be 'auto', 'sparsify' or 'saelens', got '" + layout + "'");
            saematch::io::write_sae_folder(dir, f, l);
        },
        py::arg("dir"), py::arg("config"), py::arg("names"), py::arg("parameters"), py::arg("metadata"),
        py::arg("layout") = "auto");

}
