// Training one SAE per seed on the same batches in one pass (LibTorch):
//
//   Trainer<Sae>(config, options)             step(batch), train(data), next_slice(...)
//   save_checkpoint / load_checkpoint(t, dir)  resume bitwise where the run stopped
#pragma once

#include "saematch/sae.hpp"
#include "saematch/train/checkpoint.hpp"
#include "saematch/train/defaults.hpp"
#include "saematch/train/optimizer.hpp"
#include "saematch/train/trainer.hpp"
