// The TopK SAE and its hand-written sparse gradient: the sparse products
// against dense references, the gradient against autograd through a dense
// formulation of the same loss, and sparsify's initialisation rules.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "saematch/sae/sparse_rows.hpp"
#include "saematch/sae/topk.hpp"

namespace sae = saematch::sae;

namespace {

sae::SaeConfig small_config(std::int64_t d = 12, std::int64_t n = 40, std::int64_t k = 5) {
    sae::SaeConfig c;
    c.d_in = d;
    c.num_latents = n;
    c.k = k;
    return c;
}

// max |a - b| / (max |b| + tiny)
double relative_error(const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs().max().item<double>() / (b.abs().max().item<double>() + 1e-30);
}

}  // namespace

TEST_CASE("the sparse row products equal their dense definitions", "[sae]") {
    torch::manual_seed(3);
    const std::int64_t n = 50, d = 17, batch = 33, k = 6;
    const auto rows = torch::randn({n, d});
    const auto index = torch::randint(0, n, {batch, k}, torch::kLong);
    const auto weight = torch::randn({batch, k});
    const auto vectors = torch::randn({batch, d});
    // Dense: a (batch, n) matrix holding the weights at the indices (summed on repeats).
    const auto dense = torch::zeros({batch, n}).scatter_add_(1, index, weight);
    CHECK(relative_error(sae::gather_weighted_sum(rows, index, weight), dense.mm(rows)) < 1e-5);
    CHECK(relative_error(sae::scatter_weighted_rows(index, weight, vectors, n), dense.t().mm(vectors)) < 1e-5);
    const auto dots = sae::gathered_dots(rows, index, vectors);
    for (std::int64_t b = 0; b < batch; b += 7)
        for (std::int64_t j = 0; j < k; ++j)
            CHECK(dots[b][j].item<float>() ==
                  Approx(rows[index[b][j].item<std::int64_t>()].dot(vectors[b]).item<float>()).margin(1e-5));
    CHECK_THROWS_AS(sae::gather_weighted_sum(rows, index + n, weight), std::out_of_range);
    CHECK_THROWS_AS(sae::scatter_weighted_rows(index.to(torch::kInt), weight, vectors, n), std::invalid_argument);
}

TEST_CASE("the CPU scatter is bitwise independent of the thread count", "[sae]") {
    torch::manual_seed(4);
    const std::int64_t n = 64, d = 300, batch = 2000, k = 8;
    const auto index = torch::randint(0, n, {batch, k}, torch::kLong);  // many repeats per latent
    const auto weight = torch::randn({batch, k});
    const auto vectors = torch::randn({batch, d});
    const int before = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = sae::scatter_weighted_rows(index, weight, vectors, n);
    at::set_num_threads(2);
    const auto two = sae::scatter_weighted_rows(index, weight, vectors, n);
    at::set_num_threads(before);
    CHECK(torch::equal(one, two));
}

TEST_CASE("TopK initialisation follows sparsify", "[sae]") {
    const auto c = small_config(16, 64, 4);
    const auto s = sae::TopKSae::initialised(c, 7);
    CHECK(s.W_enc.sizes() == torch::IntArrayRef({64, 16}));
    CHECK(s.W_enc.abs().max().item<double>() <= 1.0 / 4.0);  // U(±1/sqrt(d))
    CHECK(torch::allclose(s.W_dec.norm(2, 1), torch::ones({64}), 1e-6, 1e-6));
    CHECK(torch::allclose(s.W_dec, s.W_enc / s.W_enc.norm(2, 1, true), 1e-6, 1e-6));  // decoder = encoder direction
    CHECK(s.b_enc.abs().max().item<double>() == 0.0);
    CHECK(torch::equal(sae::TopKSae::initialised(c, 7).W_enc, s.W_enc));  // a seed is a seed
    CHECK_FALSE(torch::equal(sae::TopKSae::initialised(c, 8).W_enc, s.W_enc));
}

TEST_CASE("TopK encode keeps the k largest ReLU'd pre-activations and decode gathers them", "[sae]") {
    auto s = sae::TopKSae::initialised(small_config(), 1);
    s.b_dec = torch::randn({12}) * 0.1;
    s.b_enc = torch::randn({40}) * 0.1;
    const auto x = torch::randn({9, 12});
    const auto codes = s.encode(x);
    const auto pre = torch::relu(torch::addmm(s.b_enc, x - s.b_dec, s.W_enc.t()));
    const auto kth = std::get<0>(pre.topk(5, 1)).select(1, 4);
    CHECK(torch::allclose(std::get<0>(codes.values.sort(1, true)), std::get<0>(pre.topk(5, 1))));
    CHECK((codes.values >= kth.unsqueeze(1) - 1e-6).all().item<bool>());
    const auto dense = torch::zeros({9, 40}).scatter_(1, codes.indices, codes.values);
    CHECK(relative_error(s.decode(codes), dense.mm(s.W_dec) + s.b_dec) < 1e-5);
    CHECK_THROWS_AS(s.encode(torch::randn({3, 11})), std::invalid_argument);
}

TEST_CASE("the sparse TopK gradient equals autograd through a dense TopK", "[sae]") {
    torch::manual_seed(11);
    auto s = sae::TopKSae::initialised(small_config(12, 40, 5), 2);
    s.b_dec = torch::randn({12}) * 0.3;
    s.b_enc = torch::randn({40}) * 0.1;
    const auto x = torch::randn({25, 12}) + 0.5;
    const auto variance = sae::total_variance(x);
    const auto g = s.step_gradients(x, variance);
    const auto codes = s.encode(x);

    // Dense reference: the same loss with the selection as a fixed 0/1 mask.
    auto W_enc = s.W_enc.clone().requires_grad_(true), b_enc = s.b_enc.clone().requires_grad_(true);
    auto W_dec = s.W_dec.clone().requires_grad_(true), b_dec = s.b_dec.clone().requires_grad_(true);
    const auto pre = torch::relu(torch::addmm(b_enc, x - b_dec, W_enc.t()));
    const auto mask = torch::zeros_like(pre).scatter_(1, std::get<1>(pre.detach().topk(5, 1)), 1.0);
    const auto recon = (pre * mask).mm(W_dec) + b_dec;
    const auto fvu = (recon - x).pow(2).sum() / variance;
    fvu.backward();
    CHECK(g.fvu.item<double>() == Approx(fvu.item<double>()).epsilon(1e-5));
    CHECK(relative_error(g.grads[0], W_enc.grad()) < 1e-4);
    CHECK(relative_error(g.grads[1], b_enc.grad()) < 1e-4);
    CHECK(relative_error(g.grads[2], W_dec.grad()) < 1e-4);
    CHECK(relative_error(g.grads[3], b_dec.grad()) < 1e-4);
    // Sparse: latents no token selected get no encoder or decoder gradient.
    const auto touched = torch::zeros({40}, torch::kBool).index_fill_(0, codes.indices.flatten(), true);
    CHECK(g.grads[2].index({~touched}).abs().max().item<double>() == 0.0);
    CHECK(g.grads[0].index({~touched}).abs().max().item<double>() == 0.0);
    CHECK(g.fired.sum().item<std::int64_t>() == 25 * 5);  // every selected value is positive here
    CHECK(g.l0.item<double>() == Approx(5.0));
}

TEST_CASE("removing the parallel component leaves gradients orthogonal to the decoder rows", "[sae]") {
    const auto s = sae::TopKSae::initialised(small_config(), 5);
    auto grad = torch::randn({40, 12});
    sae::remove_parallel_component(s.W_dec, grad);
    CHECK((grad * s.W_dec).sum(1).abs().max().item<double>() < 1e-5);
}

TEST_CASE("TopK with AuxK and multi-TopK: the gradient equals autograd through sparsify's loss", "[sae]") {
    torch::manual_seed(21);
    auto c = small_config(12, 40, 3);
    c.auxk_alpha = 0.5;
    c.multi_topk = true;
    auto s = sae::TopKSae::initialised(c, 3);
    s.b_dec = torch::randn({12}) * 0.3;
    s.b_enc = torch::randn({40}) * 0.1;
    const auto x = torch::randn({25, 12}) + 0.5;
    const auto variance = sae::total_variance(x);
    auto dead = torch::zeros({40}, torch::kBool);
    dead.index_put_({torch::arange(0, 40, 3)}, true);  // 14 dead latents: more than d/2 = 6
    const auto g = s.gradients_from_pre(x, s.pre_activations(x), variance, {}, {dead, 14});

    auto W_enc = s.W_enc.clone().requires_grad_(true), b_enc = s.b_enc.clone().requires_grad_(true);
    auto W_dec = s.W_dec.clone().requires_grad_(true), b_dec = s.b_dec.clone().requires_grad_(true);
    const auto pre = torch::relu(torch::addmm(b_enc, x - b_dec, W_enc.t()));
    const auto mask_of = [&](const torch::Tensor& scores, std::int64_t k) {
        return torch::zeros_like(pre).scatter_(1, std::get<1>(scores.detach().topk(k, 1)), 1.0);
    };
    const auto recon = (pre * mask_of(pre, 3)).mm(W_dec) + b_dec;
    const auto fvu = (recon - x).pow(2).sum() / variance;
    const auto multi = ((pre * mask_of(pre, 12)).mm(W_dec) + b_dec - x).pow(2).sum() / variance;
    const auto aux_scores = pre.masked_fill(dead.logical_not().unsqueeze(0), -1e30);
    const auto e_hat = (pre * mask_of(aux_scores, 6)).mm(W_dec);  // no b_dec: the residual already has it
    const auto auxk = 1.0 * (e_hat - (x - recon).detach()).pow(2).sum() / variance;  // scale min(14/6, 1) = 1
    const auto loss = fvu + 0.5 * auxk + multi / 8;
    loss.backward();
    CHECK(g.loss.item<double>() == Approx(loss.item<double>()).epsilon(1e-5));
    CHECK(g.fvu.item<double>() == Approx(fvu.item<double>()).epsilon(1e-5));
    CHECK(relative_error(g.grads[0], W_enc.grad()) < 1e-4);
    CHECK(relative_error(g.grads[1], b_enc.grad()) < 1e-4);
    CHECK(relative_error(g.grads[2], W_dec.grad()) < 1e-4);
    CHECK(relative_error(g.grads[3], b_dec.grad()) < 1e-4);
    // Without dead latents AuxK contributes nothing.
    const auto none = s.gradients_from_pre(x, s.pre_activations(x), variance, {}, {torch::zeros({40}, torch::kBool), 0});
    CHECK(none.loss.item<double>() == Approx((fvu + multi / 8).item<double>()).epsilon(1e-5));
}
