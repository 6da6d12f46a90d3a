// Dense linear assignment for Python. Arrays arrive as float32 or float64
// with any strides and are read in place; the Python layer (saematch/lap.py)
// handles everything else (torch tensors, other dtypes, SciPy's return form).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "saematch/lap/solve_dense.hpp"

namespace py = pybind11;

namespace saematch::python {
namespace {

template <class T>
py::array_t<T> to_numpy(std::vector<T>&& values) {
    auto* heap = new std::vector<T>(std::move(values));
    py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {sizeof(T)}, heap->data(), owner);
}

lap::SolveMethod parse_method(const std::string& method) {
    if (method == "auto") return lap::SolveMethod::automatic;
    if (method == "dense") return lap::SolveMethod::dense;
    if (method == "sparse") return lap::SolveMethod::sparse;
    throw std::invalid_argument("method must be 'auto', 'dense' or 'sparse', got '" + method + "'");
}

template <class T>
py::dict solve(py::array_t<T, 0> cost, bool maximize, int threads, const std::string& method,
               int candidates_per_row) {
    if (cost.ndim() != 2)
        throw std::invalid_argument("expected a matrix (2-D array), got a " + std::to_string(cost.ndim()) +
                                    "-D array");
    for (int axis = 0; axis < 2; ++axis)
        if (cost.strides(axis) % static_cast<py::ssize_t>(sizeof(T)) != 0)
            throw std::invalid_argument("cost matrix strides must be whole elements");
    lap::MatrixView<T> view{cost.data(), cost.shape(0), cost.shape(1),
                            cost.strides(0) / static_cast<py::ssize_t>(sizeof(T)),
                            cost.strides(1) / static_cast<py::ssize_t>(sizeof(T))};
    lap::SolveOptions options;
    options.maximize = maximize;
    options.threads = threads;
    options.method = parse_method(method);
    options.candidates_per_row = candidates_per_row;
    lap::Assignment a;
    {
        py::gil_scoped_release release;
        a = lap::solve_dense(view, options);
    }
    py::dict out;
    out["col_of_row"] = to_numpy(std::move(a.col_of_row));
    out["row_of_col"] = to_numpy(std::move(a.row_of_col));
    out["objective"] = a.objective;
    out["row_duals"] = to_numpy(std::move(a.row_duals));
    out["col_duals"] = to_numpy(std::move(a.col_duals));
    py::dict stats;
    stats["free_rows_after_init"] = a.stats.free_rows_after_init;
    stats["augmenting_row_steps"] = a.stats.augmenting_row_steps;
    stats["shortest_path_rows"] = a.stats.shortest_path_rows;
    stats["method"] = a.stats.used_sparse ? "sparse" : "dense";
    stats["certificate_rounds"] = a.stats.certificate_rounds;
    stats["candidate_pairs"] = a.stats.candidate_pairs;
    out["stats"] = stats;
    return out;
}

}  // namespace

void bind_lap(py::module_& m) {
    constexpr const char* doc =
        "Solve a dense linear assignment problem exactly (Jonker-Volgenant).\n"
        "Reads the array in place (any strides). Returns a dict with col_of_row,\n"
        "row_of_col, objective, row_duals, col_duals and stats.";
    // float32 first: pybind11 tries overloads in order, and without
    // conversion a float32 array must not match the float64 overload.
    m.def("solve_dense", &solve<float>, py::arg("cost").noconvert(), py::arg("maximize") = false,
          py::arg("threads") = 0, py::arg("method") = "auto", py::arg("candidates_per_row") = 16, doc);
    m.def("solve_dense", &solve<double>, py::arg("cost").noconvert(), py::arg("maximize") = false,
          py::arg("threads") = 0, py::arg("method") = "auto", py::arg("candidates_per_row") = 16, doc);
}

}  // namespace saematch::python
