// The compiled core of the saematch Python package. Each concern binds
// itself in its own file; this one only assembles the module.
#include <pybind11/pybind11.h>

namespace saematch::python {
void bind_lap(pybind11::module_& m);
void bind_compare(pybind11::module_& m);
void bind_io(pybind11::module_& m);
void bind_sae(pybind11::module_& m);
}

PYBIND11_MODULE(_core, m) {
    m.doc() = "saematch compiled core (use the saematch package, not this module)";
    saematch::python::bind_lap(m);
    saematch::python::bind_compare(m);
    saematch::python::bind_io(m);
    saematch::python::bind_sae(m);
}
