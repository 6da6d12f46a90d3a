// Activation shards for the Python trainer (rows read from memory-mapped
// .npy / .safetensors files into float32 NumPy arrays) and SAE folders read
// and written, all torch-free.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sae_config_transport.hpp"
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

    // One SAE folder (io/sae_folder.hpp) from float32 arrays by in-memory
    // name, one row per latent: torch-free like its reader above. The SAE's
    // tensors reach it as arrays (SAE.save moves them to the host first),
    // which is what io::Array holds anyway.
    m.def(
        "write_sae_folder",
        [](const std::string& dir, const py::dict& config, const std::vector<std::string>& names,
           const std::vector<py::array_t<float, py::array::c_style | py::array::forcecast>>& params,
           const std::map<std::string, std::string>& metadata, const std::string& layout) {
            if (names.size() != params.size()) throw std::invalid_argument("one name per parameter");
            auto l = io::Layout::automatic;
            if (layout == "sparsify")
                l = io::Layout::sparsify;
            else if (layout == "saelens")
                l = io::Layout::saelens;
            else if (layout != "auto")
                throw std::invalid_argument("format must be 'auto', 'sparsify' or 'saelens', got '" + layout + "'");
            io::SaeFolder f{config_from_python(config), {}, metadata, {}};
            for (std::size_t i = 0; i < names.size(); ++i) {
                const auto& a = params[i];
                f.parameters.emplace_back(
                    names[i], io::Array{std::vector<std::int64_t>(a.shape(), a.shape() + a.ndim()),
                                        std::vector<float>(a.data(), a.data() + a.size())});
            }
            py::gil_scoped_release release;
            io::write_sae_folder(dir, f, l);
        },
        py::arg("dir"), py::arg("config"), py::arg("names"), py::arg("parameters"), py::arg("metadata"),
        py::arg("layout") = "auto");

    // A safetensors file's "__metadata__" (the step a run's seed folder was
    // saved at, for one), from its header alone.
    m.def(
        "safetensors_metadata", [](const std::string& path) { return io::SafetensorsFile(path).metadata(); },
        py::arg("path"));
}

}  // namespace saematch::python
