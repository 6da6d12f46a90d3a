// The LibTorch half of the Python package: SAE training (train/) and the
// TopK SAE's encode/decode (sae/), with torch tensors crossing as tensors.
// A module of its own so that `import saematch` and comparisons never load
// LibTorch; built only where torch was found at build time.
#include <torch/extension.h>

#include <cstdint>
#include <string>
#include <vector>

#include "saematch/sae/topk.hpp"
#include "saematch/train/trainer.hpp"

namespace py = pybind11;
namespace sae = saematch::sae;
namespace train = saematch::train;

namespace {

py::dict stats_dict(const train::StepStats& s) {
    py::dict d;
    d["fvu"] = s.fvu;
    d["l0"] = s.l0;
    d["dead_fraction"] = s.dead_fraction;
    return d;
}

py::list stats_list(const std::vector<train::StepStats>& stats) {
    py::list out;
    for (const auto& s : stats) out.append(stats_dict(s));
    return out;
}

sae::TopKSae topk_from(const at::Tensor& W_enc, const at::Tensor& b_enc, const at::Tensor& W_dec,
                       const at::Tensor& b_dec, std::int64_t k) {
    sae::TopKSae s;
    s.config.d_in = W_enc.size(1);
    s.config.num_latents = W_enc.size(0);
    s.config.k = k;
    s.config.validate();
    s.W_enc = W_enc;
    s.b_enc = b_enc;
    s.W_dec = W_dec;
    s.b_dec = b_dec;
    return s;
}

}  // namespace

PYBIND11_MODULE(_train, m) {
    m.doc() = "saematch training on LibTorch (use saematch.train, not this module)";

    py::class_<train::TopKTrainer>(m, "TopKTrainer")
        .def(py::init([](std::int64_t d_in, std::int64_t num_latents, std::int64_t k, std::vector<std::uint64_t> seeds,
                         std::int64_t batch_size, double lr, std::int64_t lr_warmup_steps,
                         std::int64_t dead_after_tokens, const std::string& device) {
                 sae::SaeConfig c;
                 c.d_in = d_in;
                 c.num_latents = num_latents;
                 c.k = k;
                 train::TrainOptions o;
                 o.seeds = std::move(seeds);
                 o.batch_size = batch_size;
                 o.lr = lr;
                 o.lr_warmup_steps = lr_warmup_steps;
                 o.dead_after_tokens = dead_after_tokens;
                 o.device = at::Device(device);
                 return train::TopKTrainer(c, o);
             }),
             py::arg("d_in"), py::arg("num_latents"), py::arg("k"), py::arg("seeds"), py::arg("batch_size"),
             py::arg("lr"), py::arg("lr_warmup_steps"), py::arg("dead_after_tokens"), py::arg("device"))
        .def(
            "step",
            [](train::TopKTrainer& t, const at::Tensor& batch) {
                std::vector<train::StepStats> stats;
                {
                    py::gil_scoped_release release;
                    stats = t.step(batch);
                }
                return stats_list(stats);
            },
            py::arg("batch"))
        .def("sae_tensors",
             [](const train::TopKTrainer& t, std::int64_t s) {
                 if (s < 0 || s >= t.seeds()) throw py::index_error("seed index " + std::to_string(s) + " out of range");
                 const auto one = t.sae(s);
                 return py::make_tuple(one.W_enc.clone(), one.b_enc.clone(), one.W_dec.clone(), one.b_dec.clone());
             })
        .def_property_readonly("firing_counts", [](const train::TopKTrainer& t) { return t.firing_counts().clone(); })
        .def_property_readonly("lr", [](const train::TopKTrainer& t) { return t.options().lr; })
        .def_property_readonly("steps", &train::TopKTrainer::steps)
        .def_property_readonly("tokens", &train::TopKTrainer::tokens);

    m.def(
        "topk_encode",
        [](const at::Tensor& W_enc, const at::Tensor& b_enc, const at::Tensor& W_dec, const at::Tensor& b_dec,
           std::int64_t k, const at::Tensor& x) {
            const auto codes = topk_from(W_enc, b_enc, W_dec, b_dec, k).encode(x);
            return py::make_tuple(codes.values, codes.indices);
        },
        py::arg("W_enc"), py::arg("b_enc"), py::arg("W_dec"), py::arg("b_dec"), py::arg("k"), py::arg("x"));
    m.def(
        "topk_decode",
        [](const at::Tensor& W_enc, const at::Tensor& b_enc, const at::Tensor& W_dec, const at::Tensor& b_dec,
           std::int64_t k, const at::Tensor& values, const at::Tensor& indices) {
            return topk_from(W_enc, b_enc, W_dec, b_dec, k).decode({values, indices});
        },
        py::arg("W_enc"), py::arg("b_enc"), py::arg("W_dec"), py::arg("b_dec"), py::arg("k"), py::arg("values"),
        py::arg("indices"));
    m.def("default_learning_rate", &train::default_learning_rate, py::arg("num_latents"));
}
