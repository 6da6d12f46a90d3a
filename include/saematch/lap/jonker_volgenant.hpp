// Temporary forwarding header (renamed to solve_dense.hpp); removed before commit.
#pragma once
#include "saematch/lap/solve_dense.hpp"
