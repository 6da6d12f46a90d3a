// A read-only view of a 2-D array with arbitrary strides: the solver reads
// NumPy arrays, torch tensors, Eigen maps and transposes through it without
// copying them.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace saematch::lap {

template <class T>
struct MatrixView {
    const T* data = nullptr;
    std::ptrdiff_t rows = 0;
    std::ptrdiff_t cols = 0;
    // Distances between neighbouring elements, in elements (not bytes).
    std::ptrdiff_t row_stride = 0;
    std::ptrdiff_t col_stride = 1;

    // A dense row-major block of rows × cols elements.
    static MatrixView row_major(const T* data, std::ptrdiff_t rows, std::ptrdiff_t cols) {
        return MatrixView{data, rows, cols, cols, 1};
    }

    const T& operator()(std::ptrdiff_t i, std::ptrdiff_t j) const {
        return data[i * row_stride + j * col_stride];
    }

    const T* row(std::ptrdiff_t i) const { return data + i * row_stride; }

    MatrixView transposed() const { return MatrixView{data, cols, rows, col_stride, row_stride}; }

    // Rows are contiguous: the solver's vectorised scans apply.
    bool rows_contiguous() const { return col_stride == 1 || cols <= 1; }

    bool empty() const { return rows == 0 || cols == 0; }
};

}  // namespace saematch::lap
