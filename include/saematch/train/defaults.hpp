// TrainOptions' defaults that a caller sees, torch-free: the Python package
// shows them in train()'s signature from here (through _core, which loads no
// torch), so they are written once. Why each value: train/trainer.hpp.
#pragma once

#include <cstdint>

namespace saematch::train::defaults {

inline constexpr std::int64_t batch_size = 4096;               // tokens per step
inline constexpr std::int64_t lr_warmup_steps = 1000;          // capped on short runs (TrainOptions)
inline constexpr std::int64_t dead_after_tokens = 10'000'000;  // sparsify's dead-latent window

}  // namespace saematch::train::defaults
