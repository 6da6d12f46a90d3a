// Checkpoints of a multi-seed training run, in one folder:
//
//   seed_<seed>/          each SAE in its library's layout (io/sae_folder.hpp):
//                         what other tools load
//   trainer_state.safetensors
//                         the stacked parameters, the optimiser's moments, firing counts
//                         and tokens since each latent fired; its metadata holds
//                         step, tokens, data position, seeds, config and the
//                         per-step history as JSON
//
// Every file is replaced atomically and the state file is written last, so
// an interrupted save leaves the previous checkpoint loadable. It may leave
// some seed folders a step ahead of the others, though: each records its
// step in its metadata, as the state file does, and loading the run's seeds
// (saematch.load) refuses a set whose steps differ, naming each. Resuming
// (load_checkpoint into a trainer built with the same config and seeds)
// continues bitwise as the uninterrupted run would, on the CPU.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/io/safetensors.hpp"
#include "saematch/io/sae_folder.hpp"
#include "saematch/train/trainer.hpp"

namespace saematch::train {

namespace detail {

inline io::Dtype dtype_of(const at::Tensor& t) {
    if (t.scalar_type() == at::kFloat) return io::Dtype::f32;
    if (t.scalar_type() == at::kLong) return io::Dtype::i64;
    throw std::invalid_argument("checkpoint: only float32 and int64 tensors are stored");
}

inline at::Tensor tensor_from(const io::TensorView& v, const at::Tensor& like) {
    if (v.dtype != dtype_of(like) || v.shape != like.sizes().vec())
        throw io::SafetensorsError("trainer_state.safetensors",
                                   "tensor '" + v.name + "' has another dtype or shape than this trainer's");
    auto t = at::empty(like.sizes(), like.options().device(at::kCPU));
    std::memcpy(t.data_ptr(), v.bytes.data(), v.bytes.size());
    return t.to(like.device());
}

inline io::Array to_array(const at::Tensor& t) {
    const auto c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    io::Array a{c.sizes().vec(), std::vector<float>(static_cast<std::size_t>(c.numel()))};
    std::memcpy(a.values.data(), c.data_ptr<float>(), a.values.size() * sizeof(float));
    return a;
}

inline nlohmann::json history_json(const std::vector<std::vector<StepStats>>& history) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& seed : history) {
        nlohmann::json fvu = nlohmann::json::array(), l0 = nlohmann::json::array(), dead = nlohmann::json::array();
        for (const auto& s : seed) {
            fvu.push_back(s.fvu);  // NaN (a skipped constant batch) is written as null
            l0.push_back(s.l0);
            dead.push_back(s.dead_fraction);
        }
        out.push_back({{"fvu", fvu}, {"l0", l0}, {"dead_fraction", dead}});
    }
    return out;
}

inline std::vector<std::vector<StepStats>> history_from(const nlohmann::json& j) {
    std::vector<std::vector<StepStats>> out;
    for (const auto& seed : j) {
        std::vector<StepStats> steps;
        const auto& fvu = seed.at("fvu");
        const auto number = [](const nlohmann::json& v) {
            return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
        };
        for (std::size_t i = 0; i < fvu.size(); ++i)
            steps.push_back({number(fvu[i]), number(seed.at("l0")[i]), seed.at("dead_fraction")[i].get<double>(),
                             fvu[i].is_null()});
        out.push_back(std::move(steps));
    }
    return out;
}

// The options a resumed run must share with the saved one: with another
// optimiser, learning rate, batch size or warm-up it would not continue the
// saved run but start a different one from its middle.
inline nlohmann::json resume_options_json(const TrainOptions& o) {
    return {{"optimizer", o.optimizer == OptimizerKind::adam ? "adam" : "signum"},
            {"lr", o.lr},
            {"batch_size", o.batch_size},
            {"lr_warmup_steps", o.lr_warmup_steps},
            {"dead_after_tokens", o.dead_after_tokens},
            {"beta1", o.beta1},
            {"beta2", o.beta2},
            {"eps", o.eps}};
}

inline void check_resume_options(const std::string& file, const nlohmann::json& saved, const TrainOptions& now) {
    const auto mine = resume_options_json(now);
    for (const auto& [key, value] : mine.items()) {
        if (!saved.contains(key) || saved.at(key) == value) continue;
        throw std::invalid_argument(file + ": the run was saved with " + key + " = " + saved.at(key).dump() +
                                    ", this one asks for " + value.dump() + "; resume with the saved " + key +
                                    " or start a new save folder");
    }
}

}  // namespace detail

// One SAE as a folder's contents, and back.
template <sae::TrainableSae Sae>
io::SaeFolder to_folder(const Sae& s, const sae::SaeConfig& config, std::map<std::string, std::string> metadata) {
    io::SaeFolder f{config, {}, std::move(metadata), {}};
    const auto names = Sae::parameter_names();
    const auto params = s.parameters();
    for (std::size_t i = 0; i < names.size(); ++i) f.parameters.emplace_back(names[i], detail::to_array(params[i]));
    return f;
}

template <sae::TrainableSae Sae>
Sae from_folder(const io::SaeFolder& f, at::Device device = at::kCPU) {
    if (!f.unsupported.empty())
        throw std::invalid_argument(f.unsupported + "; saematch's SAE would compute another function");
    std::vector<at::Tensor> params;
    for (const auto& name : Sae::parameter_names()) {
        const auto& a = f.parameter(name);
        params.push_back(at::from_blob(const_cast<float*>(a.values.data()), a.shape, at::kFloat).clone().to(device));
    }
    return Sae::from_parameters(f.config, std::move(params));
}

template <sae::TrainableSae Sae>
void save_checkpoint(const Trainer<Sae>& trainer, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    const auto& seeds = trainer.options().seeds;
    for (std::int64_t s = 0; s < trainer.seeds(); ++s) {
        const auto seed = std::to_string(seeds[static_cast<std::size_t>(s)]);
        io::write_sae_folder(dir / ("seed_" + seed),
                             to_folder(trainer.sae(s), trainer.config(),
                                       {{"seed", seed}, {"step", std::to_string(trainer.steps())}}));
    }
    const TrainerState st = trainer.state();
    const auto names = Sae::parameter_names();
    std::vector<at::Tensor> keep;  // CPU copies that live through the write
    std::vector<io::TensorToWrite> tensors;
    const auto add = [&](const std::string& name, const at::Tensor& t) {
        keep.push_back(t.detach().to(at::kCPU).contiguous());
        tensors.push_back({name, detail::dtype_of(keep.back()), keep.back().sizes().vec(), keep.back().data_ptr()});
    };
    keep.reserve(3 * names.size() + 2);
    for (std::size_t i = 0; i < names.size(); ++i) {
        add("param." + names[i], st.parameters[i]);
        add("adam_m." + names[i], st.first[i]);
        add("adam_v." + names[i], st.second[i]);
    }
    add("firing_counts", st.firing_counts);
    add("tokens_since_fired", st.tokens_since_fired);
    nlohmann::json seeds_json = nlohmann::json::array();
    for (auto s : seeds) seeds_json.push_back(s);
    const std::map<std::string, std::string> metadata = {
        {"step", std::to_string(st.step)},
        {"tokens", std::to_string(st.tokens)},
        {"data_row", std::to_string(st.data_row)},
        {"seeds", seeds_json.dump()},
        {"config", io::detail::config_json(trainer.config()).dump()},
        {"options", detail::resume_options_json(trainer.options()).dump()},
        {"optimizer_steps", std::to_string(st.optimizer_steps)},
        {"history", detail::history_json(trainer.history()).dump()},
    };
    io::write_safetensors(dir / "trainer_state.safetensors", tensors, metadata);
}

// Restores `trainer` (built with the checkpoint's config and seeds) from dir.
template <sae::TrainableSae Sae>
void load_checkpoint(Trainer<Sae>& trainer, const std::filesystem::path& dir) {
    const io::SafetensorsFile file(dir / "trainer_state.safetensors");
    const auto& meta = file.metadata();
    for (const char* key : {"step", "tokens", "data_row", "seeds", "config", "history"})
        if (!meta.count(key)) throw io::SafetensorsError(file.path(), std::string("metadata lacks \"") + key + "\"");
    const auto saved = io::detail::config_from_json(nlohmann::json::parse(meta.at("config")), file.path());
    if (io::detail::config_json(saved) != io::detail::config_json(trainer.config()))
        throw std::invalid_argument(file.path().string() + ": saved with config " + meta.at("config") +
                                    ", not this trainer's " + io::detail::config_json(trainer.config()).dump());
    if (meta.count("options"))  // absent from checkpoints written before it was recorded
        detail::check_resume_options(file.path().string(), nlohmann::json::parse(meta.at("options")),
                                     trainer.options());
    nlohmann::json seeds = nlohmann::json::array();
    for (auto s : trainer.options().seeds) seeds.push_back(s);
    if (nlohmann::json::parse(meta.at("seeds")) != seeds)
        throw std::invalid_argument(file.path().string() + ": saved for seeds " + meta.at("seeds") +
                                    ", this trainer has " + seeds.dump());
    const TrainerState now = trainer.state();
    TrainerState st;
    const auto names = Sae::parameter_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
        st.parameters.push_back(detail::tensor_from(file.at("param." + names[i]), now.parameters[i]));
        st.first.push_back(detail::tensor_from(file.at("adam_m." + names[i]), now.first[i]));
        st.second.push_back(detail::tensor_from(file.at("adam_v." + names[i]), now.second[i]));
    }
    st.firing_counts = detail::tensor_from(file.at("firing_counts"), now.firing_counts);
    st.tokens_since_fired = detail::tensor_from(file.at("tokens_since_fired"), now.tokens_since_fired);
    st.step = std::stoll(meta.at("step"));
    st.tokens = std::stoll(meta.at("tokens"));
    st.data_row = std::stoll(meta.at("data_row"));
    st.optimizer_steps = meta.count("optimizer_steps") ? std::stoll(meta.at("optimizer_steps")) : st.step;
    trainer.restore(st, detail::history_from(nlohmann::json::parse(meta.at("history"))));
}

}  // namespace saematch::train
