// Solves a 3×3 problem whose optimum is known and exits non-zero otherwise.
#include <saematch/lap.hpp>  // a module header, as users include it

#include <cstdio>

int main() {
    const double cost[] = {4, 1, 3,  //
                           2, 0, 5,  //
                           3, 2, 2};
    const auto view = saematch::lap::MatrixView<double>::row_major(cost, 3, 3);
    const auto result = saematch::lap::solve_dense(view);
    const bool ok = result.objective == 5.0 && result.col_of_row[0] == 1 && result.col_of_row[1] == 0 &&
                    result.col_of_row[2] == 2;
    std::printf("objective %g, %s\n", result.objective, ok ? "as expected" : "WRONG");
    return ok ? 0 : 1;
}
