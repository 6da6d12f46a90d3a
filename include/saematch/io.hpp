// SAEs and activations on disk, without LibTorch: safetensors, saematch's,
// sparsify's and SAELens's SAE folders, activation shards.
//
//   read_sae_folder(dir) / write_sae_folder(dir, folder)
//   ActivationShards(path)        a folder of .npy / .safetensors shards
//   SafetensorsFile(path) / write_safetensors(path, tensors, metadata)
#pragma once

#include "saematch/io/activation_shards.hpp"
#include "saematch/io/array.hpp"
#include "saematch/io/cfg_json.hpp"
#include "saematch/io/folder_tensors.hpp"
#include "saematch/io/folds.hpp"
#include "saematch/io/printable.hpp"
#include "saematch/io/sae_folder.hpp"
#include "saematch/io/saelens_cfg.hpp"
#include "saematch/io/safetensors.hpp"
