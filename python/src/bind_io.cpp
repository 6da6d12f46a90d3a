// Activation shards for the Python trainer: rows read from memory-mapped
// .npy / .safetensors files into float32 NumPy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "saematch/io/activation_shards.hpp"
#include "saematch/io/sae_folder.hpp"

namespace py = pybind11;

namespace saematch::python {

void bind_io(py::module_& m) {
    py::class_<io::ActivationShards>(m, "ActivationShards")
        .def(py::init<const std::string&>(), py::arg("path"))
        .def_property_readonly("d", &io::ActivationShards::d)
        .def_property_readonly("tokens", &io::ActivationShards::tokens)
        .def_property_readonly("paths",
                               [](const io::ActivationShards& s) {
                                   std::vector<std::string> out;
                                   for (const auto& shard : s.shards()) out.push_back(shard.path.string());
                                   return out;
                               })
        .def(
            "read",
            [](const io::ActivationShards& s, std::int64_t start, std::int64_t count) {
                py::array_t<float> out({count, s.d()});
                float* data = out.mutable_data();
                {
                    py::gil_scoped_release release;
                    s.read(start, count, data);
                }
                return out;
            },
            py::arg("start"), py::arg("count"));

    // One SAE folder (saematch's, sparsify's or SAELens's): the config as
    // JSON text, the parameters as float32 arrays by in-memory name (one row
    // per latent), the file's metadata. Torch-free, so comparing saved SAEs
    // needs no torch.
    m.def(
        "read_sae_folder",
        [](const std::string& dir) {
            io::SaeFolder f;
            {
                py::gil_scoped_release release;
                f = io::read_sae_folder(dir);
            }
            py::dict params;
            for (auto& [name, a] : f.parameters) {
                py::array_t<float> arr(a.shape);
                std::copy(a.values.begin(), a.values.end(), arr.mutable_data());
                params[py::str(name)] = arr;
            }
            // What saematch cannot compute travels with the metadata: comparing
            // reads the directions regardless, loading an SAE refuses it.
            auto metadata = f.metadata;
            if (!f.unsupported.empty()) metadata["unsupported"] = f.unsupported;
            return py::make_tuple(io::detail::config_json(f.config).dump(), params, metadata);
        },
        py::arg("dir"));

    // A safetensors file's "__metadata__" (the step a run's seed folder was
    // saved at, for one), from its header alone.
    m.def(
        "safetensors_metadata", [](const std::string& path) { return io::SafetensorsFile(path).metadata(); },
        py::arg("path"));
}

}  // namespace saematch::python
