// How an SAE config crosses from Python to C++, for both compiled modules:
// SAEConfig's fields as a dict, turned into the cfg.json object they mirror
// and read by the same reader as a saved folder's cfg.json
// (io::detail::config_from_json), which validates it (SaeConfig::validate).
// So Python has no validator of its own and a field is checked once.
#pragma once

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "saematch/io/sae_folder.hpp"
#include "saematch/sae/config.hpp"

namespace saematch::python {

// One field's value as JSON, keeping the distinctions the reader checks: a
// bool is not an integer, 8.5 is not an integer, an integer beyond int64
// stays visibly out of range. NumPy scalars count as the Python values they
// stand for.
inline nlohmann::json json_from_python(const pybind11::handle& o, const std::string& key) {
    namespace py = pybind11;
    if (py::hasattr(o, "dtype") && py::hasattr(o, "item") && py::len(o.attr("shape")) == 0)
        return json_from_python(o.attr("item")(), key);  // a NumPy scalar
    if (o.is_none()) return nullptr;
    if (PyBool_Check(o.ptr())) return o.cast<bool>();
    if (PyLong_Check(o.ptr())) {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
        if (overflow == 0) return static_cast<std::int64_t>(v);
        const double big = PyLong_AsDouble(o.ptr());  // beyond double too: +-inf
        if (PyErr_Occurred()) PyErr_Clear();
        return big;  // the reader refuses it as out of range, naming the field
    }
    if (PyFloat_Check(o.ptr())) return o.cast<double>();
    if (PyUnicode_Check(o.ptr())) return o.cast<std::string>();
    throw std::invalid_argument("SAEConfig: field \"" + key + "\" must be a number, bool or string, got a " +
                                std::string(py::str(py::type::handle_of(o).attr("__name__"))));
}

inline sae::SaeConfig config_from_python(const pybind11::dict& fields) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [key, value] : fields) {
        const auto name = pybind11::str(key).cast<std::string>();
        j[name] = json_from_python(value, name);
    }
    return io::detail::config_from_json(j, "SAEConfig");
}

}  // namespace saematch::python
