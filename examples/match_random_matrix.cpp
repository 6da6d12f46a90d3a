// Matches two random sets of unit vectors by maximal summed cosine and
// prints the certificate: a first look at the C++ API.
//
//   ./match_random_matrix [n] [d]
#include <saematch/lap.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {
std::vector<double> random_unit_rows(std::size_t n, std::size_t d, std::mt19937_64& rng) {
    std::normal_distribution<double> normal;
    std::vector<double> x(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        double norm = 0;
        for (std::size_t k = 0; k < d; ++k) norm += (x[i * d + k] = normal(rng)) * x[i * d + k];
        for (std::size_t k = 0; k < d; ++k) x[i * d + k] /= std::sqrt(norm);
    }
    return x;
}
}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
    const std::size_t d = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 64;
    std::mt19937_64 rng(0);
    const auto a = random_unit_rows(n, d, rng), b = random_unit_rows(n, d, rng);
    std::vector<double> cosine(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < d; ++k) s += a[i * d + k] * b[j * d + k];
            cosine[i * n + j] = s;
        }

    namespace lap = saematch::lap;
    const auto view = lap::MatrixView<double>::row_major(cosine.data(), static_cast<std::ptrdiff_t>(n),
                                                         static_cast<std::ptrdiff_t>(n));
    lap::SolveOptions options;
    options.maximize = true;
    const auto start = std::chrono::steady_clock::now();
    const lap::Assignment result = lap::solve_dense(view, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const lap::CertificateCheck check = lap::check_certificate(view, result, /*maximize=*/true);

    std::printf("%zu x %zu cosines (d = %zu): mean matched cosine %.4f in %.3f s\n", n, n, d,
                result.objective / static_cast<double>(n), seconds);
    std::printf("certificate: %s (worst violation %.2e)\n", check.valid ? "valid" : check.problem.c_str(),
                check.worst_violation);
    return check.valid ? 0 : 1;
}
