// Data-parallel training (sae/batch_share.hpp) without a network: `world`
// trainers in threads of one process, each stepping on its share of every
// batch and exchanging through an in-process Ranks, must train the weights
// that one trainer stepping on the whole batches trains (to float rounding:
// sums are split differently), and all of them the same bits.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <barrier>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "saematch/sae/registry.hpp"
#include "saematch/train/trainer.hpp"

namespace sae = saematch::sae;
namespace train = saematch::train;

namespace {

// What the processes share: each one's deposit, and a barrier between the
// depositing and the reading (and after it, before the next deposit).
struct Hub {
    explicit Hub(std::int64_t world) : world(world), sync(world), deposits(static_cast<std::size_t>(world)) {}
    std::int64_t world;
    std::barrier<> sync;
    std::vector<std::vector<at::Tensor>> deposits;
};

class FakeRanks final : public sae::Ranks {
public:
    FakeRanks(std::shared_ptr<Hub> hub, std::int64_t rank) : hub_(std::move(hub)), rank_(rank) {}
    std::int64_t rank() const override { return rank_; }
    std::int64_t world() const override { return hub_->world; }
    // Summed in rank order on every rank, so that all get the same bits.
    void sum(std::vector<at::Tensor>& tensors) override {
        auto& mine = hub_->deposits[static_cast<std::size_t>(rank_)];
        mine.clear();
        for (const auto& t : tensors) mine.push_back(t.clone());
        hub_->sync.arrive_and_wait();
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            auto total = hub_->deposits[0][i].clone();
            for (std::size_t r = 1; r < hub_->deposits.size(); ++r) total += hub_->deposits[r][i];
            tensors[i].copy_(total);
        }
        hub_->sync.arrive_and_wait();
        ++calls;
    }
    at::Tensor gather(const at::Tensor& t) override {
        hub_->deposits[static_cast<std::size_t>(rank_)] = {t.clone()};
        hub_->sync.arrive_and_wait();
        std::vector<at::Tensor> all;
        for (const auto& d : hub_->deposits) all.push_back(d[0]);
        auto out = at::stack(all);
        hub_->sync.arrive_and_wait();
        ++calls;
        return out;
    }
    std::int64_t calls = 0;

private:
    std::shared_ptr<Hub> hub_;
    std::int64_t rank_;
};

// Rank r's share of a batch of `rows`: rows [rows·r/world, rows·(r+1)/world).
at::Tensor share(const at::Tensor& batch, std::int64_t rank, std::int64_t world) {
    const std::int64_t rows = batch.size(0), begin = rows * rank / world, end = rows * (rank + 1) / world;
    return batch.narrow(0, begin, end - begin);
}

// Tokens mixing a few of `features` random directions, positively.
at::Tensor mixtures(std::int64_t features, std::int64_t d, std::int64_t count, std::uint64_t seed) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto dictionary = at::randn({features, d}, gen, at::kFloat);
    dictionary /= dictionary.norm(2, 1, true);
    const auto codes = at::relu(at::randn({count, features}, gen, at::kFloat) - 1.0);
    return codes.mm(dictionary) + 0.01 * at::randn({count, d}, gen, at::kFloat);
}

sae::SaeConfig small(sae::Architecture a) {
    sae::SaeConfig c;
    c.architecture = a;
    c.d_in = 12;
    c.num_latents = 36;
    c.k = 3;
    c.sparsity_coefficient = 0.05;
    c.jumprelu_init_threshold = 0.02;
    c.jumprelu_bandwidth = 0.05;
    return c;
}

train::TrainOptions options() {
    train::TrainOptions o;
    o.seeds = {3, 4};
    o.batch_size = 33;
    o.lr = 2e-3;
    o.lr_warmup_steps = 4;
    o.dead_after_tokens = 150;  // latents die within a run this short, so AuxK has candidates
    return o;
}

// The whole run in one trainer, and split across `world` trainers in threads.
template <class Sae>
struct Runs {
    std::unique_ptr<train::Trainer<Sae>> whole;
    std::vector<std::unique_ptr<train::Trainer<Sae>>> ranks;
    std::vector<std::string> errors;  // per rank, empty when it finished
    std::string whole_error;
};

template <class Sae>
Runs<Sae> run(const sae::SaeConfig& c, const train::TrainOptions& o, const std::vector<at::Tensor>& batches,
              std::int64_t world) {
    Runs<Sae> out;
    out.whole = std::make_unique<train::Trainer<Sae>>(c, o);
    try {
        for (const auto& b : batches) out.whole->step(b);
    } catch (const std::exception& e) {
        out.whole_error = e.what();
    }
    auto hub = std::make_shared<Hub>(world);
    out.errors.resize(static_cast<std::size_t>(world));
    for (std::int64_t r = 0; r < world; ++r) {
        out.ranks.push_back(std::make_unique<train::Trainer<Sae>>(c, o));
        out.ranks.back()->set_ranks(std::make_shared<FakeRanks>(hub, r));
    }
    std::vector<std::thread> threads;
    for (std::int64_t r = 0; r < world; ++r)
        threads.emplace_back([&, r] {
            try {
                for (const auto& b : batches) out.ranks[static_cast<std::size_t>(r)]->step(share(b, r, world));
            } catch (const std::exception& e) {
                out.errors[static_cast<std::size_t>(r)] = e.what();
            }
        });
    for (auto& t : threads) t.join();
    return out;
}

template <class Sae>
double max_difference(const train::Trainer<Sae>& a, const train::Trainer<Sae>& b) {
    double worst = 0.0;
    const std::vector<at::Tensor> pa = a.state().parameters, pb = b.state().parameters;
    for (std::size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
    return worst;
}

template <class Sae>
bool bitwise_equal(const train::Trainer<Sae>& a, const train::Trainer<Sae>& b) {
    const auto sa = a.state(), sb = b.state();
    for (std::size_t i = 0; i < sa.parameters.size(); ++i)
        if (!torch::equal(sa.parameters[i], sb.parameters[i]) || !torch::equal(sa.first[i], sb.first[i]) ||
            !torch::equal(sa.second[i], sb.second[i]))
            return false;
    return torch::equal(sa.firing_counts, sb.firing_counts) && torch::equal(sa.tokens_since_fired, sb.tokens_since_fired);
}

// Every rank equals the others bitwise, and the one-trainer run to 1e-6,
// with the same firing counts, step statistics and tokens.
template <class Sae>
void check_equal_runs(const Runs<Sae>& runs) {
    REQUIRE(runs.whole_error.empty());
    for (const auto& e : runs.errors) {
        INFO(e);
        REQUIRE(e.empty());
    }
    const auto& whole = *runs.whole;
    for (std::size_t r = 0; r < runs.ranks.size(); ++r) {
        INFO("rank " << r);
        const auto& mine = *runs.ranks[r];
        CHECK(bitwise_equal(mine, *runs.ranks[0]));
        CHECK(max_difference(mine, whole) < 1e-6);
        CHECK(mine.tokens() == whole.tokens());
        CHECK(mine.steps() == whole.steps());
        CHECK(torch::equal(mine.firing_counts(), whole.firing_counts()));
        for (std::size_t s = 0; s < whole.history().size(); ++s)
            for (std::size_t i = 0; i < whole.history()[s].size(); ++i) {
                const auto &a = mine.history()[s][i], &b = whole.history()[s][i];
                CHECK(a.skipped == b.skipped);
                if (b.skipped) continue;
                CHECK(a.fvu == Approx(b.fvu).epsilon(1e-5));
                CHECK(a.l0 == b.l0);
                CHECK(a.dead_fraction == b.dead_fraction);
            }
    }
}

std::vector<at::Tensor> batches_of(const at::Tensor& data, std::int64_t size) {
    std::vector<at::Tensor> out;
    for (std::int64_t start = 0; start + 2 <= data.size(0); start += size)
        out.push_back(data.narrow(0, start, std::min(size, data.size(0) - start)));
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("a data-parallel step equals one process's step on the whole batch", "[data-parallel]",
                   sae::TopKSae, sae::BatchTopKSae, sae::ReluSae, sae::GatedSae, sae::JumpReluSae) {
    auto c = small(TestType::architecture);
    const auto data = mixtures(30, c.d_in, 40 * 33 + 7, 5);  // 40 odd batches of 33 rows, a last one of 7
    const auto batches = batches_of(data, 33);
    const auto runs = run<TestType>(c, options(), batches, 2);
    check_equal_runs(runs);
    // The runs trained (the weights moved) and, for TopK-style SAEs, latents died on the way.
    CHECK(max_difference(*runs.whole, train::Trainer<TestType>(c, options())) > 1e-2);
}

TEST_CASE("TopK with AuxK and multi-TopK trains data-parallel as on the whole batch", "[data-parallel]") {
    auto c = small(sae::Architecture::topk);
    c.auxk_alpha = 1.0 / 32;
    c.multi_topk = true;
    const auto batches = batches_of(mixtures(30, c.d_in, 40 * 33, 6), 33);
    const auto runs = run<sae::TopKSae>(c, options(), batches, 2);
    check_equal_runs(runs);
    double most_dead = 0.0;
    for (const auto& st : runs.whole->history()[0]) most_dead = std::max(most_dead, st.dead_fraction);
    CHECK(most_dead > 0.0);  // AuxK had dead latents to train
}

TEST_CASE("BatchTopK's selection across ranks breaks ties at the threshold by batch position", "[data-parallel]") {
    // Every pre-activation equal: the k · tokens kept are the first in the
    // batch (by token, then latent), wherever the rows are.
    auto c = small(sae::Architecture::batchtopk);
    const auto s = sae::BatchTopKSae::initialised(c, 1);
    const auto pre = at::full({7, c.num_latents}, 0.5);
    const auto one = s.select_batch(pre);
    CHECK((one.values > 0).sum().item<std::int64_t>() == 7 * c.k);
    // One process: the first 21 entries in (token, latent) order, token 0's latents 0..20.
    const auto first_token = one.indices[0].masked_select(one.values[0] > 0);
    CHECK(first_token.size(0) == 21);
    CHECK(torch::equal(first_token, at::arange(21, first_token.options())));
    // Across three ranks the union of their selections is the same set.
    auto hub = std::make_shared<Hub>(3);
    std::vector<sae::TopKCodes> parts(3);
    std::vector<std::thread> threads;
    for (std::int64_t r = 0; r < 3; ++r)
        threads.emplace_back([&, r] {
            FakeRanks ranks(hub, r);
            parts[static_cast<std::size_t>(r)] = s.select_batch(share(pre, r, 3), {&ranks, 7});
        });
    for (auto& t : threads) t.join();
    std::int64_t kept = 0;
    for (const auto& p : parts) kept += (p.values > 0).sum().item<std::int64_t>();
    CHECK(kept == 21);
    // Rank 0 holds rows 0 and 1 (7 · 0 / 3 .. 7 · 1 / 3): all 21 are its row 0's.
    CHECK(torch::equal(parts[0].indices[0].masked_select(parts[0].values[0] > 0), first_token));
}

TEST_CASE("a share may be one row or none, and batches of any length split", "[data-parallel]") {
    auto c = small(sae::Architecture::topk);
    auto o = options();
    const auto data = mixtures(30, c.d_in, 400, 7);
    std::vector<at::Tensor> batches;
    std::int64_t start = 0;
    for (const std::int64_t size : {2, 5, 33, 3, 31, 2, 64, 17}) {
        batches.push_back(data.narrow(0, start, size));
        start += size;
    }
    check_equal_runs(run<sae::TopKSae>(c, o, batches, 3));  // batches of 2 leave rank 0 no row
    c.architecture = sae::Architecture::batchtopk;
    check_equal_runs(run<sae::BatchTopKSae>(c, o, batches, 3));
    c.architecture = sae::Architecture::relu;
    check_equal_runs(run<sae::ReluSae>(c, o, batches, 3));
}

TEST_CASE("a constant batch is skipped by every rank, a non-finite share stops every rank", "[data-parallel]") {
    auto c = small(sae::Architecture::topk);
    const auto data = mixtures(30, c.d_in, 200, 8);
    // The constant batch first, so that b_dec's first-batch start waits for the next one.
    std::vector<at::Tensor> batches{at::full({10, c.d_in}, 0.25), data.narrow(0, 0, 33), data.narrow(0, 33, 33),
                                    at::full({9, c.d_in}, -1.5), data.narrow(0, 66, 33)};
    const auto runs = run<sae::TopKSae>(c, options(), batches, 2);
    check_equal_runs(runs);
    CHECK(runs.ranks[1]->history()[0][0].skipped);
    CHECK(runs.ranks[0]->history()[1][3].skipped);

    // NaN in rank 1's share of the third batch: both ranks stop at it, each
    // saying whose share it was, with the weights of the second step.
    auto bad = data.narrow(0, 99, 33).clone();
    bad[20][4] = std::numeric_limits<float>::quiet_NaN();  // rank 1 holds rows 16..32: its row 4
    const auto failed = run<sae::TopKSae>(c, options(), {data.narrow(0, 0, 33), data.narrow(0, 33, 33), bad}, 2);
    CHECK_THAT(failed.errors[1], Catch::Contains("this process's share of the batch has a non-finite value at token 4, dimension 4"));
    CHECK_THAT(failed.errors[0], Catch::Contains("another process's share of the batch has a non-finite value"));
    CHECK_THAT(failed.whole_error, Catch::Contains("batch has a non-finite value at token 20, dimension 4"));
    CHECK(failed.ranks[0]->steps() == 2);
    CHECK(max_difference(*failed.ranks[0], *failed.whole) < 1e-6);
    CHECK(bitwise_equal(*failed.ranks[0], *failed.ranks[1]));
}

namespace {
// A ReLU SAE that declares no ShareRule, as a new architecture might not.
struct Unshared {
    static constexpr sae::Architecture architecture = sae::Architecture::relu;
    sae::ReluSae inner;
    static std::vector<std::string> parameter_names() { return sae::ReluSae::parameter_names(); }
    static Unshared initialised(const sae::SaeConfig& c, std::uint64_t seed, at::Device device) {
        return {sae::ReluSae::initialised(c, seed, device)};
    }
    std::vector<at::Tensor> parameters() const { return inner.parameters(); }
    static Unshared from_parameters(const sae::SaeConfig& c, std::vector<at::Tensor> p) {
        return {sae::ReluSae::from_parameters(c, std::move(p))};
    }
    sae::StepResult step_gradients(const at::Tensor& x, const at::Tensor& v) const { return inner.step_gradients(x, v); }
    void before_update(sae::StepResult& r) { inner.before_update(r); }
    void after_update() { inner.after_update(); }
    at::Tensor forward(const at::Tensor& x) const { return inner.forward(x); }
};
static_assert(sae::TrainableSae<Unshared> && !sae::DataParallelSae<Unshared>);
}  // namespace

TEST_CASE("an architecture without a ShareRule refuses data-parallel training", "[data-parallel]") {
    train::Trainer<Unshared> t(small(sae::Architecture::relu), options());
    auto hub = std::make_shared<Hub>(2);
    CHECK_THROWS_WITH(t.set_ranks(std::make_shared<FakeRanks>(hub, 0)),
                      Catch::Contains("relu architecture cannot train data-parallel") &&
                          Catch::Contains("--distribute-seeds"));
    t.set_ranks(nullptr);  // one process stays possible
    CHECK(t.step(mixtures(30, 12, 20, 9)).size() == 2);
}
