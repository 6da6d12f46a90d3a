// The LibTorch half of the Python package: SAE training (train/) and the
// SAEs' encode/decode (sae/), with torch tensors crossing as tensors. A
// module of its own so that `import saematch` and comparisons never load
// LibTorch; built only where torch was found at build time.
#include <torch/extension.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sae_config_transport.hpp"
#include "saematch/sae/registry.hpp"
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

// SAEConfig's fields, read and validated as a cfg.json is.
sae::SaeConfig config_from(const py::dict& d) { return saematch::python::config_from_python(d); }

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
Sae sae_from(const sae::SaeConfig& config, const std::vector<at::Tensor>& params) {
    const auto names = Sae::parameter_names();
    if (params.size() != names.size())
        throw std::invalid_argument(std::string(sae::architecture_name(config.architecture)) + " SAE has " +
                                    std::to_string(names.size()) + " parameters, got " + std::to_string(params.size()));
    return Sae::from_parameters(config, params);
}

train::TrainOptions train_options(std::vector<std::uint64_t> seeds, std::int64_t batch_size, double lr,
                                  std::int64_t lr_warmup_steps, std::int64_t dead_after_tokens,
                                  const std::string& device, const std::string& optimizer, bool bf16_encoder,
                                  std::int64_t planned_steps) {
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
    return o;
}

// Data-parallel exchanges (sae/batch_share.hpp) made by a Python object
// with `rank`, `world`, `sum(list of tensors)` (in place) and
// `gather(tensor) -> tensor` (saematch.distributed, over torch.distributed).
// The trainer calls them from step(), which runs with the GIL released, so
// each call takes it back.
class PythonRanks final : public sae::Ranks {
public:
    explicit PythonRanks(py::object impl)
        : impl_(std::move(impl)), rank_(impl_.attr("rank").cast<std::int64_t>()),
          world_(impl_.attr("world").cast<std::int64_t>()) {
        if (world_ < 1 || rank_ < 0 || rank_ >= world_)
            throw std::invalid_argument("ranks: rank " + std::to_string(rank_) + " of world " +
                                        std::to_string(world_) + " is not a process of it");
    }
    ~PythonRanks() override {
        py::gil_scoped_acquire gil;
        impl_ = py::object();
    }
    std::int64_t rank() const override { return rank_; }
    std::int64_t world() const override { return world_; }
    void sum(std::vector<at::Tensor>& tensors) override {
        py::gil_scoped_acquire gil;
        impl_.attr("sum")(py::cast(tensors));  // torch tensors sharing the trainer's memory
    }
    at::Tensor gather(const at::Tensor& t) override {
        py::gil_scoped_acquire gil;
        return impl_.attr("gather")(t).cast<at::Tensor>();
    }

private:
    py::object impl_;
    std::int64_t rank_, world_;
};

// The trainer class of one architecture, named Trainer_<architecture>;
// Python makes them through the Trainer factory below.
template <class Sae>
void bind_trainer(py::module_& m) {
    using Trainer = train::Trainer<Sae>;
    const std::string class_name = std::string("Trainer_") + sae::architecture_name(Sae::architecture);
    py::class_<Trainer>(m, class_name.c_str())
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
        .def(
            "next_slice",
            [](Trainer& t, std::int64_t rows, std::int64_t goal) -> std::optional<std::pair<std::int64_t, std::int64_t>> {
                const auto slice = t.next_slice(rows, goal);
                if (!slice) return std::nullopt;
                return std::make_pair(slice->start, slice->count);
            },
            py::arg("rows"), py::arg("goal"),
            "(start, count) of the next batch of a data set of `rows` rows, moving the data position past it; "
            "None once the trainer has used `goal` tokens (Trainer::next_slice).")
        .def(
            "set_ranks",
            [](Trainer& t, const py::object& ranks) {
                t.set_ranks(ranks.is_none() ? nullptr : std::make_shared<PythonRanks>(ranks));
            },
            py::arg("ranks"),
            "Data-parallel training: each step's batch is this process's share, and `ranks` (rank, world, "
            "sum(tensors), gather(tensor)) exchanges with the other processes; None: one process again.")
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
    sae::for_each_sae_type([&](auto type) { bind_trainer<typename decltype(type)::type>(m); });
    // One factory for every architecture: the config's architecture picks
    // the trainer class (sae/registry.hpp), so Python keeps no table of them.
    m.def(
        "Trainer",
        [](const py::dict& config, std::vector<std::uint64_t> seeds, std::int64_t batch_size, double lr,
           std::int64_t lr_warmup_steps, std::int64_t dead_after_tokens, const std::string& device,
           const std::string& optimizer, bool bf16_encoder, std::int64_t planned_steps) {
            const auto c = config_from(config);
            const auto o = train_options(std::move(seeds), batch_size, lr, lr_warmup_steps, dead_after_tokens,
                                         device, optimizer, bf16_encoder, planned_steps);
            return sae::with_sae_type(c.architecture, [&](auto type) {
                return py::cast(train::Trainer<typename decltype(type)::type>(c, o));
            });
        },
        py::arg("config"), py::arg("seeds"), py::arg("batch_size"), py::arg("lr"), py::arg("lr_warmup_steps"),
        py::arg("dead_after_tokens"), py::arg("device"), py::arg("optimizer") = "adam",
        py::arg("bf16_encoder") = false, py::arg("planned_steps") = 0,
        "A trainer of the config's architecture (a Trainer_<architecture> object).");
    m.def(
        "parameter_names",
        [](const std::string& architecture) {
            return sae::with_sae_type(sae::parse_architecture(architecture),
                                      [](auto type) { return decltype(type)::type::parameter_names(); });
        },
        py::arg("architecture"), "The names of an architecture's parameters, in order (sparsify's or SAELens's).");
    m.def(
        "encode",
        [](const py::dict& config, const std::vector<at::Tensor>& params, const at::Tensor& x) {
            const auto c = config_from(config);
            return sae::with_sae_type(c.architecture, [&](auto type) {
                return codes_to_python(sae_from<typename decltype(type)::type>(c, params).encode(x));
            });
        },
        py::arg("config"), py::arg("parameters"), py::arg("x"),
        "The codes of x: (values, indices) for an architecture that uses k, else the dense activations.");
    m.def(
        "decode",
        [](const py::dict& config, const std::vector<at::Tensor>& params, const py::object& codes) {
            const auto c = config_from(config);
            return sae::with_sae_type(c.architecture, [&](auto type) {
                const auto s = sae_from<typename decltype(type)::type>(c, params);
                using Codes = std::decay_t<decltype(s.encode(std::declval<at::Tensor>()))>;
                return py::cast(s.decode(codes_from_python(codes, static_cast<const Codes*>(nullptr))));
            });
        },
        py::arg("config"), py::arg("parameters"), py::arg("codes"));
    m.def("default_learning_rate", &train::default_learning_rate, py::arg("num_latents"));
}
