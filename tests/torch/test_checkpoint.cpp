// Checkpoints: an interrupted and resumed CPU run ends bitwise-equal to an
// uninterrupted one; SAE folders round-trip in sparsify's and SAELens's
// layouts; a checkpoint of another config is refused; a non-finite loss stops
// training without touching the weights.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "saematch/sae/archetypal.hpp"
#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/train/checkpoint.hpp"

namespace sae = saematch::sae;
namespace train = saematch::train;
namespace io = saematch::io;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
    const auto dir = fs::temp_directory_path() / "saematch_checkpoint_tests" / name;
    fs::remove_all(dir);
    return dir;
}

sae::SaeConfig config(sae::Architecture a) {
    sae::SaeConfig c;
    c.architecture = a;
    c.d_in = 12;
    c.num_latents = 36;
    c.k = 3;
    c.sparsity_coefficient = 0.2;
    c.archetypal_points = 16;  // fits the tests' first batches
    return c;
}

template <class Sae>
void check_same_parameters(const Sae& a, const Sae& b) {
    const auto pa = a.parameters(), pb = b.parameters();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO("parameter " << Sae::parameter_names()[i]);
        CHECK(torch::equal(pa[i], pb[i]));
    }
}

}  // namespace

TEMPLATE_TEST_CASE("a resumed run ends bitwise-equal to an uninterrupted one", "[checkpoint]", sae::TopKSae,
                   sae::BatchTopKSae, sae::ReluSae, sae::GatedSae, sae::JumpReluSae, sae::ArchetypalSae) {
    torch::manual_seed(9);
    const auto data = torch::randn({1000, 12});
    sae::SaeConfig c = config(sae::Architecture::topk);
    if constexpr (std::is_same_v<TestType, sae::BatchTopKSae>) c.architecture = sae::Architecture::batchtopk;
    if constexpr (std::is_same_v<TestType, sae::ReluSae>) c.architecture = sae::Architecture::relu;
    if constexpr (std::is_same_v<TestType, sae::GatedSae>) c.architecture = sae::Architecture::gated;
    if constexpr (std::is_same_v<TestType, sae::JumpReluSae>) c.architecture = sae::Architecture::jumprelu;
    if constexpr (std::is_same_v<TestType, sae::ArchetypalSae>) c.architecture = sae::Architecture::archetypal;
    train::TrainOptions o;
    o.seeds = {4, 2};
    o.batch_size = 64;
    o.lr_warmup_steps = 5;
    const std::int64_t total = 1500;  // crosses the end of the data once
    train::Trainer<TestType> straight(c, o);
    straight.train(data, total);

    const auto dir = fresh_dir(sae::architecture_name(c.architecture));
    {
        train::Trainer<TestType> first_half(c, o);
        first_half.train(data, 640);
        train::save_checkpoint(first_half, dir);
    }
    train::Trainer<TestType> resumed(c, o);
    train::load_checkpoint(resumed, dir);
    CHECK(resumed.steps() == 10);
    resumed.train(data, total);
    CHECK(resumed.steps() == straight.steps());
    for (std::int64_t s = 0; s < 2; ++s) check_same_parameters(resumed.sae(s), straight.sae(s));
    CHECK(torch::equal(resumed.firing_counts(), straight.firing_counts()));
    CHECK(resumed.history()[1].back().fvu == straight.history()[1].back().fvu);
    CHECK(resumed.history()[0].size() == straight.history()[0].size());

    // Each seed's folder holds the SAE as it was at the checkpoint, loadable on its own.
    const auto folder = io::read_sae_folder(dir / "seed_2");
    CHECK(folder.metadata.at("seed") == "2");
    CHECK(folder.metadata.at("step") == "10");
    CHECK(folder.config.architecture == c.architecture);
}

TEST_CASE("SAE folders use sparsify's layout for TopK and SAELens's for the others", "[checkpoint]") {
    SECTION("topk: sparsify") {
        const auto s = sae::TopKSae::initialised(config(sae::Architecture::topk), 1);
        const auto dir = fresh_dir("layout_topk");
        io::write_sae_folder(dir, train::to_folder(s, s.config, {}));
        std::ifstream in(dir / "cfg.json");
        const auto cfg = nlohmann::json::parse(in);
        CHECK(cfg["activation"] == "topk");
        CHECK(cfg["num_latents"] == 36);
        CHECK(cfg["k"] == 3);
        CHECK(cfg["d_in"] == 12);
        const io::SafetensorsFile f(dir / "sae.safetensors");
        CHECK(f.at("encoder.weight").shape == std::vector<std::int64_t>{36, 12});
        CHECK(f.at("W_dec").shape == std::vector<std::int64_t>{36, 12});
        check_same_parameters(train::from_folder<sae::TopKSae>(io::read_sae_folder(dir)), s);
    }
    SECTION("jumprelu: SAELens, W_enc transposed, threshold not its log") {
        auto s = sae::JumpReluSae::initialised(config(sae::Architecture::jumprelu), 2);
        s.log_threshold.uniform_(-3.0, 0.0);
        const auto dir = fresh_dir("layout_jumprelu");
        io::write_sae_folder(dir, train::to_folder(s, s.config, {}));
        std::ifstream in(dir / "cfg.json");
        const auto cfg = nlohmann::json::parse(in);
        CHECK(cfg["architecture"] == "jumprelu");
        CHECK(cfg["d_sae"] == 36);
        const io::SafetensorsFile f(dir / "sae_weights.safetensors");
        CHECK(f.at("W_enc").shape == std::vector<std::int64_t>{12, 36});
        CHECK(f.contains("threshold"));
        const auto back = train::from_folder<sae::JumpReluSae>(io::read_sae_folder(dir));
        CHECK(torch::equal(back.W_enc, s.W_enc));
        CHECK(torch::allclose(back.log_threshold, s.log_threshold, 1e-6, 1e-6));  // exp then log
    }
}

TEST_CASE("a checkpoint of another config or other seeds is refused", "[checkpoint]") {
    const auto c = config(sae::Architecture::topk);
    train::TrainOptions o;
    o.seeds = {0, 1};
    o.batch_size = 50;
    train::TopKTrainer t(c, o);
    t.train(torch::randn({200, 12}));
    const auto dir = fresh_dir("refused");
    train::save_checkpoint(t, dir);
    auto other = c;
    other.k = 4;
    train::TopKTrainer wrong_config(other, o);
    CHECK_THROWS_WITH(train::load_checkpoint(wrong_config, dir), Catch::Contains("saved with config"));
    auto other_seeds = o;
    other_seeds.seeds = {0, 2};
    train::TopKTrainer wrong_seeds(c, other_seeds);
    CHECK_THROWS_WITH(train::load_checkpoint(wrong_seeds, dir), Catch::Contains("saved for seeds [0,1]"));
    CHECK_THROWS_AS(train::load_checkpoint(wrong_seeds, fresh_dir("nothing_here")), io::SafetensorsError);
}

TEST_CASE("a non-finite loss stops training and leaves the weights as they were", "[checkpoint]") {
    train::TrainOptions o;
    o.batch_size = 50;
    o.lr = 1e37;  // the first step throws the weights to ~1e37: the next loss overflows
    o.lr_warmup_steps = 0;
    train::TopKTrainer t(config(sae::Architecture::topk), o);
    t.train(torch::randn({50, 12}));
    const auto before = t.sae(0).W_enc.clone();
    CHECK_THROWS_WITH(t.step(torch::randn({50, 12})), Catch::Contains("loss is not finite at step 1"));
    CHECK(torch::equal(t.sae(0).W_enc, before));
    CHECK(t.steps() == 1);
}

TEST_CASE("data whose squares overflow float32 is refused as data, not blamed on the learning rate", "[train]") {
    train::TrainOptions o;
    o.batch_size = 50;
    train::TopKTrainer t(config(sae::Architecture::topk), o);
    t.train(torch::randn({100, 12}));
    const auto before = t.sae(0).W_enc.clone();
    const auto huge = torch::randn({50, 12}) * 1e30;  // finite, but its squares overflow
    CHECK_THROWS_WITH(t.step(huge), Catch::Contains("too large for float32") && Catch::Contains("scale the data"));
    CHECK(torch::equal(t.sae(0).W_enc, before));
    CHECK(t.steps() == 2);
}

TEMPLATE_TEST_CASE("a constant batch is skipped: no update, NaN FVU, and resumes bitwise", "[train]", sae::TopKSae,
                   sae::ReluSae, sae::GatedSae, sae::JumpReluSae, sae::BatchTopKSae, sae::ArchetypalSae) {
    sae::SaeConfig c = config(sae::Architecture::topk);
    if constexpr (std::is_same_v<TestType, sae::BatchTopKSae>) c.architecture = sae::Architecture::batchtopk;
    if constexpr (std::is_same_v<TestType, sae::ReluSae>) c.architecture = sae::Architecture::relu;
    if constexpr (std::is_same_v<TestType, sae::GatedSae>) c.architecture = sae::Architecture::gated;
    if constexpr (std::is_same_v<TestType, sae::JumpReluSae>) c.architecture = sae::Architecture::jumprelu;
    if constexpr (std::is_same_v<TestType, sae::ArchetypalSae>) c.architecture = sae::Architecture::archetypal;
    torch::manual_seed(3);
    const auto data = torch::randn({300, 12});
    train::TrainOptions o;
    o.batch_size = 100;
    o.lr_warmup_steps = 3;
    train::Trainer<TestType> clean(c, o), mixed(c, o);
    const auto constant = torch::full({100, 12}, 0.5);
    CHECK(mixed.step(constant).at(0).skipped);  // even first: b_dec must start at a real batch's mean
    for (std::int64_t i = 0; i < 3; ++i) {
        clean.step(data.narrow(0, 100 * i, 100));
        mixed.step(data.narrow(0, 100 * i, 100));
        if (i == 0) {
            const auto stats = mixed.step(constant);
            CHECK(std::isnan(stats.at(0).fvu));
        }
    }
    CHECK(mixed.steps() == 5);
    CHECK(mixed.tokens() == 500);
    check_same_parameters(mixed.sae(0), clean.sae(0));
    CHECK(mixed.history()[0][1].fvu == clean.history()[0][0].fvu);

    const auto dir = fresh_dir(std::string("constant_") + sae::architecture_name(c.architecture));
    train::save_checkpoint(mixed, dir);
    train::Trainer<TestType> resumed(c, o);
    train::load_checkpoint(resumed, dir);
    CHECK(resumed.history()[0][0].skipped);
    CHECK(std::isnan(resumed.history()[0][2].fvu));
    const auto more = torch::randn({100, 12});
    resumed.step(more);
    mixed.step(more);
    check_same_parameters(resumed.sae(0), mixed.sae(0));
}

TEST_CASE("resuming with another optimiser, learning rate, batch size or warm-up is refused", "[checkpoint]") {
    const auto c = config(sae::Architecture::topk);
    train::TrainOptions o;
    o.batch_size = 50;
    o.lr = 1e-3;
    o.lr_warmup_steps = 5;
    train::TopKTrainer t(c, o);
    t.train(torch::randn({100, 12}));
    const auto dir = fresh_dir("options_refused");
    train::save_checkpoint(t, dir);
    const auto refused = [&](train::TrainOptions changed, const std::string& field) {
        train::TopKTrainer other(c, changed);
        CHECK_THROWS_WITH(train::load_checkpoint(other, dir),
                          Catch::Contains("saved with " + field + " = ") && Catch::Contains("resume with the saved " + field));
    };
    auto x = o;
    x.lr = 2e-3;
    refused(x, "lr");
    x = o;
    x.optimizer = train::OptimizerKind::signum;
    refused(x, "optimizer");
    x = o;
    x.batch_size = 64;
    refused(x, "batch_size");
    x = o;
    x.lr_warmup_steps = 6;
    refused(x, "lr_warmup_steps");
    train::TopKTrainer same(c, o);
    CHECK_NOTHROW(train::load_checkpoint(same, dir));
    CHECK(same.steps() == 2);
}

TEST_CASE("the warm-up is capped at a tenth of a run of known length", "[train]") {
    train::TrainOptions o;
    CHECK(train::effective_warmup_steps(o) == 1000);  // length unknown: as asked
    o.planned_steps = 781;  // 200K tokens at batch 256
    CHECK(train::effective_warmup_steps(o) == 78);
    o.planned_steps = 5;
    CHECK(train::effective_warmup_steps(o) == 1);
    o.lr_warmup_steps = 20;
    o.planned_steps = 100000;
    CHECK(train::effective_warmup_steps(o) == 20);  // shorter than the cap: as asked
    o.lr_warmup_steps = 0;
    CHECK(train::effective_warmup_steps(o) == 0);
    // The schedule follows it: capped at 2 steps, the third step runs at the full rate.
    torch::manual_seed(4);
    const auto data = torch::randn({400, 12});
    train::TrainOptions capped;
    capped.batch_size = 20;
    capped.planned_steps = 20;
    train::TrainOptions explicit_two = capped;
    explicit_two.planned_steps = 0;
    explicit_two.lr_warmup_steps = 2;
    train::TopKTrainer a(config(sae::Architecture::topk), capped), b(config(sae::Architecture::topk), explicit_two);
    a.train(data);
    b.train(data);
    CHECK(torch::equal(a.sae(0).W_enc, b.sae(0).W_enc));
}
