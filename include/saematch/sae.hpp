// The SAE architectures (LibTorch): TopK, BatchTopK, ReLU-L1, Gated and
// JumpReLU, each with its loss and hand-written gradients, the registry
// that picks one by name, and the exchange of data-parallel steps
// (batch_share.hpp). Their torch-free config is sae/config.hpp.
#pragma once

#include "saematch/sae/archetypal.hpp"
#include "saematch/sae/architecture.hpp"
#include "saematch/sae/batch_share.hpp"
#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/execution_path.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/registry.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/sae/sparse_rows.hpp"
#include "saematch/sae/topk.hpp"
