// The two ways a cost matrix can be unusable. Both derive from
// std::invalid_argument, so the Python module raises ValueError for them, as
// SciPy does, and their messages start with SciPy's wording.
#pragma once

#include <stdexcept>
#include <string>

namespace saematch::lap {

// NaN anywhere, or an infinity of the wrong sign (−inf when minimising, +inf
// when maximising): the problem has no meaning.
struct InvalidCostError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// The forbidden entries leave no way to assign every row of the smaller side.
struct InfeasibleCostError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

}  // namespace saematch::lap
