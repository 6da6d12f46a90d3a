// saematch/lap.hpp compiles on its own, first in its translation unit and
// without the tests' precompiled headers (which would hide a missing include).
#include "saematch/lap.hpp"
