// The routes of sae/execution_path.hpp, all taken on the CPU: cpu_loops (the
// CPU's own), device_kernels (what a CUDA tensor takes: the kernel bodies of
// kernels/ with ATen's sort and bincount around them) and aten (the fallback
// for other devices and dtypes). Each is checked against a dense float64
// reference, against the others, and, for training, over hundreds of steps
// of every architecture.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "saematch/sae/archetypal.hpp"
#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/sae/sparse_rows.hpp"
#include "saematch/train/trainer.hpp"

namespace sae = saematch::sae;
namespace train = saematch::train;
using sae::ExecutionPath;

namespace {

const ExecutionPath kPaths[] = {ExecutionPath::automatic, ExecutionPath::device_kernels, ExecutionPath::aten};

const char* name(ExecutionPath p) {
    return p == ExecutionPath::automatic ? "cpu_loops" : p == ExecutionPath::device_kernels ? "device_kernels" : "aten";
}

double max_abs(const at::Tensor& a) { return a.numel() ? a.abs().max().item<double>() : 0.0; }

// A sparse code as a dense (batch, n) float64 matrix: duplicates add up.
at::Tensor dense_codes(const at::Tensor& index, const at::Tensor& weight, std::int64_t n) {
    return at::zeros({index.size(0), n}, at::kDouble).scatter_add_(1, index, weight.to(at::kDouble));
}

struct SparseCase {
    std::int64_t batch, n, k, d;
    bool duplicates;  // indices repeat within a token (BatchTopK's padding does)
};

}  // namespace

TEST_CASE("the sparse products agree with a dense reference on every route", "[paths]") {
    const SparseCase cases[] = {{0, 5, 2, 7, false},  {3, 1, 1, 1, false},  {9, 6, 6, 3, false},
                                {17, 40, 1, 17, false}, {33, 50, 7, 37, true}, {64, 300, 32, 130, true}};
    for (const auto& c : cases)
        for (const auto path : kPaths) {
            CAPTURE(c.batch, c.n, c.k, c.d, c.duplicates, name(path));
            const sae::ExecutionPathOverride scope(path);
            auto gen = at::make_generator<at::CPUGeneratorImpl>(c.batch * 31 + c.d);
            const auto rows = at::randn({c.n, c.d}, gen);
            const auto vectors = at::randn({c.batch, c.d}, gen);
            auto index = c.duplicates ? at::randint(0, c.n, {c.batch, c.k}, gen)
                                      : at::rand({c.batch, c.n}, gen).argsort(/*stable=*/false, /*dim=*/1, /*descending=*/false).narrow(1, 0, c.k).contiguous();
            auto weight = at::randn({c.batch, c.k}, gen);
            if (c.duplicates && c.batch > 0) weight.select(1, 0).zero_();  // zero weights, as padding has

            const auto codes = dense_codes(index, weight, c.n);
            const auto gathered = sae::gather_weighted_sum(rows, index, weight);
            CHECK(max_abs(gathered.to(at::kDouble) - codes.mm(rows.to(at::kDouble))) < 1e-5);

            const auto scattered = sae::scatter_weighted_rows(index, weight, vectors, c.n);
            CHECK(max_abs(scattered.to(at::kDouble) - codes.t().mm(vectors.to(at::kDouble))) < 1e-5);

            // Accumulating into a buffer adds to what it holds.
            auto buffer = at::ones({c.n, c.d});
            sae::scatter_weighted_rows(index, weight, vectors, c.n, buffer, /*accumulate=*/true);
            CHECK(max_abs(buffer - 1.0 - scattered) < 1e-5);

            const auto dots = sae::gathered_dots(rows, index, vectors);
            const auto reference = (rows.to(at::kDouble).index_select(0, index.reshape({-1})).view({c.batch, c.k, c.d}) *
                                    vectors.to(at::kDouble).unsqueeze(1))
                                       .sum(2);
            CHECK(max_abs(dots.to(at::kDouble) - reference) < 1e-5);
        }
}

TEST_CASE("the CPU loops and the device kernels sum in the same order: gathers and scatters are bitwise equal",
          "[paths]") {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const std::int64_t batch = 200, n = 90, k = 12, d = 45;  // d: neither 4 nor 16 divides it
    const auto rows = at::randn({n, d}, gen), vectors = at::randn({batch, d}, gen);
    const auto index = at::randint(0, n, {batch, k}, gen), weight = at::randn({batch, k}, gen);
    auto run = [&](ExecutionPath path) {
        const sae::ExecutionPathOverride scope(path);
        return std::pair{sae::gather_weighted_sum(rows, index, weight),
                         sae::scatter_weighted_rows(index, weight, vectors, n)};
    };
    const auto [g1, s1] = run(ExecutionPath::automatic);
    const auto [g2, s2] = run(ExecutionPath::device_kernels);
    CHECK(at::equal(g1, g2));
    CHECK(at::equal(s1, s2));
}

TEST_CASE("bad indices and tensors on two devices are refused on every route", "[paths]") {
    const auto rows = at::randn({10, 4});
    auto index = at::zeros({3, 2}, at::kLong);
    index[1][1] = 10;
    const auto weight = at::ones({3, 2});
    for (const auto path : kPaths) {
        CAPTURE(name(path));
        const sae::ExecutionPathOverride scope(path);
        CHECK_THROWS_AS(sae::gather_weighted_sum(rows, index, weight), std::out_of_range);
        CHECK_THROWS_AS(sae::gathered_dots(rows, index, at::ones({3, 4})), std::out_of_range);
        CHECK_THROWS_AS(sae::scatter_weighted_rows(index, weight, at::ones({3, 4}), 10), std::out_of_range);
        CHECK_THROWS_WITH(sae::gather_weighted_sum(rows, index.to(at::kMeta), weight),
                          Catch::Contains("index is on meta but rows is on cpu"));
    }
}

TEST_CASE("the fused Adam step and the decoder kernels equal their ATen formulas", "[paths]") {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
    const auto W = at::randn({37, 23}, gen), G = at::randn({37, 23}, gen);
    std::vector<at::Tensor> results[3];
    int i = 0;
    for (const auto path : kPaths) {
        const sae::ExecutionPathOverride scope(path);
        std::vector<at::Tensor> params{W.clone()};
        train::Optimizer adam(params, {});
        for (int step = 0; step < 5; ++step) adam.step(params, {G * (step + 1)}, 1e-2);
        auto unit = W.clone();
        sae::normalize_rows(unit);
        auto g = G.clone();
        sae::remove_parallel_component(unit, g);
        results[i++] = {params[0], unit, g};
    }
    for (int p = 1; p < 3; ++p)
        for (std::size_t t = 0; t < 3; ++t) {
            CAPTURE(p, t);
            CHECK(max_abs(results[p][t] - results[0][t]) < 1e-6);
        }
    // Unit rows, and gradients orthogonal to them.
    CHECK(max_abs(results[1][1].norm(2, 1) - 1.0) < 1e-6);
    CHECK(max_abs((results[1][2] * results[1][1]).sum(1)) < 1e-5);
}

namespace {

sae::SaeConfig small(sae::Architecture a) {
    sae::SaeConfig c;
    c.architecture = a;
    c.d_in = 19;
    c.num_latents = 48;
    c.k = 4;
    c.sparsity_coefficient = 0.05;
    c.archetypal_points = 24;  // fits a first batch of 32
    return c;
}

// Sparse positive mixtures of 30 random directions.
at::Tensor mixtures(std::int64_t count) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(77);
    const auto dictionary = at::randn({30, 19}, gen);
    const auto codes = at::rand({count, 30}, gen) * (at::rand({count, 30}, gen) < 0.1).to(at::kFloat);
    return codes.mm(dictionary) + 0.05 * at::randn({count, 19}, gen);
}

template <class Sae>
std::vector<at::Tensor> trained(const sae::SaeConfig& c, ExecutionPath path, std::int64_t steps, bool bf16) {
    const sae::ExecutionPathOverride scope(path);
    train::TrainOptions o;
    o.seeds = {3, 4};
    o.batch_size = 32;
    o.lr = 3e-3;
    o.lr_warmup_steps = 10;
    o.bf16_encoder = bf16;
    o.dead_after_tokens = 640;  // latents die within the run, so AuxK has work
    train::Trainer<Sae> trainer(c, o);
    trainer.train(mixtures(32 * 50), 32 * steps);
    REQUIRE(trainer.steps() == steps);
    auto state = trainer.state();
    state.parameters.push_back(trainer.firing_counts().to(at::kFloat));
    return state.parameters;
}

// The device kernels sum in the CPU loops' order, so 250 steps end on the
// same bits. The ATen fallback sums in other orders; Adam's first steps are
// about lr · sign(g) whatever |g| is, so on latents whose gradient is
// rounding noise the routes then step apart by whole learning rates, and a
// few dozen steps on a topk selection tips over. It is held to 1e-5 over
// 20 steps.
template <class Sae>
void check_routes_agree(const sae::SaeConfig& c, bool bf16 = false) {
    const auto loops = trained<Sae>(c, ExecutionPath::automatic, 250, bf16);
    const auto device = trained<Sae>(c, ExecutionPath::device_kernels, 250, bf16);
    for (std::size_t p = 0; p < loops.size(); ++p) {
        CAPTURE(p);
        CHECK(at::equal(device[p], loops[p]));
    }
    const auto short_loops = trained<Sae>(c, ExecutionPath::automatic, 20, bf16);
    const auto short_aten = trained<Sae>(c, ExecutionPath::aten, 20, bf16);
    for (std::size_t p = 0; p < loops.size(); ++p) {
        CAPTURE(p);
        CHECK(max_abs(short_aten[p] - short_loops[p]) <= 1e-5 * std::max(1.0, max_abs(short_loops[p])));
    }
}

}  // namespace

TEST_CASE("every route trains to the same weights: topk, with AuxK and multi-TopK, bf16 encoder",
          "[paths][train]") {
    auto c = small(sae::Architecture::topk);
    check_routes_agree<sae::TopKSae>(c);
    c.auxk_alpha = 1.0 / 32;
    c.multi_topk = true;
    check_routes_agree<sae::TopKSae>(c);
    check_routes_agree<sae::TopKSae>(small(sae::Architecture::topk), /*bf16=*/true);
}

TEST_CASE("every route trains to the same weights: batchtopk, relu, gated, jumprelu, archetypal",
          "[paths][train]") {
    check_routes_agree<sae::BatchTopKSae>(small(sae::Architecture::batchtopk));
    check_routes_agree<sae::ReluSae>(small(sae::Architecture::relu));
    check_routes_agree<sae::GatedSae>(small(sae::Architecture::gated));
    check_routes_agree<sae::JumpReluSae>(small(sae::Architecture::jumprelu));
    check_routes_agree<sae::ArchetypalSae>(small(sae::Architecture::archetypal));
}
