// BatchTopK, ReLU-L1, gated and JumpReLU SAEs: each hand-written gradient
// against autograd through a plain dense formulation of the same loss, and
// each architecture learning on synthetic superposition data through the
// generic multi-seed trainer.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/train/trainer.hpp"

namespace sae = saematch::sae;
namespace train = saematch::train;

namespace {

sae::SaeConfig config(sae::Architecture a, std::int64_t d = 10, std::int64_t n = 30, std::int64_t k = 4) {
    sae::SaeConfig c;
    c.architecture = a;
    c.d_in = d;
    c.num_latents = n;
    c.k = k;
    c.sparsity_coefficient = 0.3;
    return c;
}

double relative_error(const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs().max().item<double>() / (b.abs().max().item<double>() + 1e-30);
}

// Leaf copies of the parameters for autograd.
std::vector<torch::Tensor> leaves(const std::vector<at::Tensor>& params) {
    std::vector<torch::Tensor> out;
    for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_(true));
    return out;
}

void check_gradients(const sae::StepResult& r, const std::vector<torch::Tensor>& ref, const torch::Tensor& ref_loss,
                     const std::vector<std::string>& names) {
    CHECK(r.loss.item<double>() == Approx(ref_loss.item<double>()).epsilon(1e-5));
    for (std::size_t i = 0; i < ref.size(); ++i) {
        INFO("parameter " << names[i]);
        if (!r.grads[i].defined()) {
            CHECK_FALSE(ref[i].grad().defined());
            continue;
        }
        REQUIRE(ref[i].grad().defined());
        CHECK(relative_error(r.grads[i], ref[i].grad()) < 2e-4);
    }
}

struct Superposition {
    at::Tensor dictionary, tokens;
};

Superposition superposition(std::int64_t features, std::int64_t d, std::int64_t active, std::int64_t count) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
    auto dictionary = at::randn({features, d}, gen, at::kFloat);
    dictionary /= dictionary.norm(2, 1, true);
    const auto which = at::rand({count, features}, gen).argsort(false, 1, false).narrow(1, 0, active);
    const auto codes = at::zeros({count, features}).scatter_(1, which, at::rand({count, active}, gen) + 0.5);
    return {dictionary, codes.mm(dictionary)};
}

}  // namespace

TEST_CASE("ReLU-L1 gradient equals autograd", "[architectures]") {
    torch::manual_seed(1);
    auto s = sae::ReluSae::initialised(config(sae::Architecture::relu), 3);
    s.b_dec.normal_(0, 0.2);
    s.b_enc.normal_(0, 0.2);
    s.W_dec.mul_(torch::rand({30, 1}) + 0.5);  // norms other than 1 exercise the penalty's gradient
    const auto x = torch::randn({17, 10});
    const auto r = s.step_gradients(x, sae::total_variance(x));
    auto p = leaves(s.parameters());
    const auto acts = torch::relu(torch::addmm(p[1], x - p[3], p[0].t()));
    const auto loss = (torch::addmm(p[3], acts, p[2]) - x).pow(2).sum() / 17 +
                      0.3 * (acts * p[2].norm(2, 1)).sum() / 17;
    loss.backward();
    check_gradients(r, p, loss, sae::ReluSae::parameter_names());
    CHECK(r.l0.item<double>() > 0);
}

TEST_CASE("JumpReLU gradient equals autograd with the straight-through estimator", "[architectures]") {
    torch::manual_seed(2);
    auto c = config(sae::Architecture::jumprelu);
    c.jumprelu_bandwidth = 0.5;  // wide enough that many entries fall in the window
    auto s = sae::JumpReluSae::initialised(c, 4);
    s.log_threshold.fill_(std::log(0.2));
    s.b_dec.normal_(0, 0.2);
    const auto x = torch::randn({23, 10});
    const auto r = s.step_gradients(x, sae::total_variance(x));
    auto p = leaves(s.parameters());
    const double eps = 0.5;
    const auto pre = torch::addmm(p[1], x - p[3], p[0].t());
    const auto theta = p[4].exp();
    const auto on = (pre > theta).to(torch::kFloat).detach();
    const auto window = ((pre - theta).abs() < eps / 2).to(torch::kFloat).detach();
    // Values as JumpReLU's; gradients as the estimator's, through surrogates that add zero.
    const auto s1 = -(theta.detach() / eps) * window * theta;
    const auto acts = pre * on + s1 - s1.detach();
    const auto s2 = -(1.0 / eps) * window * theta;
    const auto l0 = on + s2 - s2.detach();
    const auto loss = (torch::addmm(p[3], acts, p[2]) - x).pow(2).sum() / 23 + 0.3 * l0.sum() / 23;
    loss.backward();
    CHECK(window.sum().item<double>() > 10);  // the estimator's path is exercised
    check_gradients(r, p, loss, sae::JumpReluSae::parameter_names());
}

TEST_CASE("gated gradient equals autograd, the auxiliary loss reaching only the gate", "[architectures]") {
    torch::manual_seed(3);
    auto s = sae::GatedSae::initialised(config(sae::Architecture::gated), 5);
    s.b_gate.normal_(0, 0.3);
    s.r_mag.normal_(0, 0.3);
    s.b_mag.normal_(0, 0.3);
    s.b_dec.normal_(0, 0.2);
    s.W_dec.mul_(torch::rand({30, 1}) + 0.5);
    const auto x = torch::randn({19, 10});
    const auto r = s.step_gradients(x, sae::total_variance(x));
    auto p = leaves(s.parameters());  // W_enc, b_gate, r_mag, b_mag, W_dec, b_dec
    const auto u = torch::mm(x - p[5], p[0].t());
    const auto pi_gate = u + p[1];
    const auto acts = (pi_gate > 0).to(torch::kFloat) * torch::relu(u * p[2].exp() + p[3]);
    const auto gate_acts = torch::relu(pi_gate);
    const auto loss = ((torch::addmm(p[5], acts, p[4]) - x).pow(2).sum() +
                       0.3 * (gate_acts * p[4].norm(2, 1)).sum() +
                       (torch::addmm(p[5].detach(), gate_acts, p[4].detach()) - x).pow(2).sum()) /
                      19;
    loss.backward();
    check_gradients(r, p, loss, sae::GatedSae::parameter_names());
}

TEST_CASE("BatchTopK selects k per token on average, sparse gradient equals autograd", "[architectures]") {
    torch::manual_seed(4);
    auto s = sae::BatchTopKSae::initialised(config(sae::Architecture::batchtopk), 6);
    s.b_dec.normal_(0, 0.2);
    s.b_enc.normal_(0, 0.2);
    const auto x = torch::randn({21, 10});
    const auto pre = s.pre_activations(x);
    const auto codes = s.select_batch(pre);
    CHECK((codes.values > 0).sum().item<std::int64_t>() == 4 * 21);
    const auto kth = std::get<0>(pre.reshape({-1}).topk(4 * 21)).min();
    CHECK((codes.values.masked_select(codes.values > 0) >= kth).all().item<bool>());
    CHECK(codes.values.size(1) > 4);  // some token took more than k

    const auto r = s.step_gradients(x, sae::total_variance(x));
    auto p = leaves(s.parameters());
    const auto pre_ref = torch::relu(torch::addmm(p[1], x - p[3], p[0].t()));
    const auto flat_top = std::get<1>(pre_ref.detach().reshape({-1}).topk(4 * 21));
    const auto mask = torch::zeros({21 * 30}).index_fill_(0, flat_top, 1.0).view({21, 30});
    const auto loss = (torch::addmm(p[3], pre_ref * mask, p[2]) - x).pow(2).sum() / sae::total_variance(x);
    loss.backward();
    check_gradients(r, p, loss, sae::BatchTopKSae::parameter_names());

    // The threshold starts at the first batch's smallest selected value and
    // encode() then keeps what lies above it.
    s.before_update(const_cast<sae::StepResult&>(r));
    CHECK(s.threshold.item<double>() == Approx(kth.item<double>()));
    const auto inference = s.encode(x);
    CHECK((inference.values.masked_select(inference.values > 0) > kth - 1e-6).all().item<bool>());
}

TEMPLATE_TEST_CASE("every architecture learns superposition data in the multi-seed trainer", "[architectures]",
                   sae::ReluSae, sae::GatedSae, sae::JumpReluSae, sae::BatchTopKSae) {
    const auto data = superposition(24, 16, 2, 20000);
    const auto names = TestType::parameter_names();
    auto c = config(sae::Architecture::relu, 16, 48, 2);
    if constexpr (std::is_same_v<TestType, sae::GatedSae>) c.architecture = sae::Architecture::gated;
    if constexpr (std::is_same_v<TestType, sae::JumpReluSae>) c.architecture = sae::Architecture::jumprelu;
    if constexpr (std::is_same_v<TestType, sae::BatchTopKSae>) c.architecture = sae::Architecture::batchtopk;
    // Coefficients for this data's scale (tokens of norm ~1.5); JumpReLU's
    // window must be wide enough for the thresholds to move at all.
    c.sparsity_coefficient = std::is_same_v<TestType, sae::GatedSae> ? 1.0 : 0.5;
    c.jumprelu_init_threshold = 0.05;
    c.jumprelu_bandwidth = 0.05;
    train::TrainOptions o;
    o.seeds = {0, 1};
    o.batch_size = 200;
    o.lr = 3e-3;
    o.lr_warmup_steps = 10;
    train::Trainer<TestType> trainer(c, o);
    trainer.train(data.tokens, 2 * data.tokens.size(0));
    for (std::int64_t s = 0; s < 2; ++s) {
        const auto& h = trainer.history()[static_cast<std::size_t>(s)];
        const auto x = data.tokens.narrow(0, 0, 2000);
        const at::Tensor recon = trainer.sae(s).forward(x);
        const double fvu = ((recon - x).pow(2).sum() / sae::total_variance(x)).item<double>();
        INFO(sae::architecture_name(c.architecture) << " seed " << s << ": first-step FVU " << h.front().fvu
                                                    << ", held-in FVU " << fvu << ", last L0 " << h.back().l0);
        CHECK(fvu < 0.25);
        CHECK(h.back().l0 < 16);  // sparse: a third of the 48 latents or fewer
    }
    CHECK_FALSE(torch::equal(trainer.sae(0).W_enc, trainer.sae(1).W_enc));
}
