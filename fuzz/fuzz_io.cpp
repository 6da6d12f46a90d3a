// libFuzzer target for the checkpoint parsers (io/): whatever bytes arrive,
// the safetensors reader and the SAE folder reader (cfg.json of saematch's,
// sparsify's and SAELens's kinds, and the weights file) must either succeed
// with consistent arrays or throw one of their documented exceptions;
// AddressSanitizer and UBSan catch everything else.
//
// An input is one of (first byte modulo 3):
//   0  safetensors bytes, parsed in memory;
//   1  a whole sparsify-layout folder, 2 a whole SAELens-layout folder:
//      two bytes of cfg.json length (little-endian), cfg.json, then the
//      weights file (sae.safetensors, sae_weights.safetensors).
// fuzz_io_corpus writes a seed corpus of valid folders of every layout and
// architecture (tests/cpp/support/sae_folder_kinds.hpp), SAELens's with
// apply_b_dec_to_input both ways and TopK with rescale_acts_by_decoder_norm,
// plus each with one tensor a row short, so the mutations start where the
// shape checks and the weight folds are.
//
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSAEMATCH_FUZZ=ON \
//         -DSAEMATCH_BUILD_TESTS=OFF -DSAEMATCH_WITH_TORCH=OFF
//   cmake --build build/fuzz --target fuzz_io fuzz_io_corpus
//   build/fuzz/fuzz/fuzz_io_corpus build/fuzz/corpus
//   build/fuzz/fuzz/fuzz_io build/fuzz/corpus -runs=1000000
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "saematch/io/sae_folder.hpp"
#include "saematch/io/safetensors.hpp"

namespace io = saematch::io;
namespace fs = std::filesystem;

namespace {

const fs::path& folder() {
    static const fs::path dir = [] {
        auto d = fs::temp_directory_path() / ("saematch_fuzz_folder_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

void write(const fs::path& path, const std::uint8_t* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// What a successful read promises: every array holds as many values as its
// shape says, the matrices are (num_latents, d_in), and the values are finite.
void check(const io::SaeFolder& f) {
    for (const auto& [name, a] : f.parameters) {
        std::size_t size = 1;
        for (auto s : a.shape) size *= static_cast<std::size_t>(s);
        if (size != a.values.size()) std::abort();
        const bool matrix = name == "W_enc" || name == "encoder.weight" || name == "W_dec";
        if (matrix && (a.shape.size() != 2 || a.shape[0] != f.config.num_latents || a.shape[1] != f.config.d_in))
            std::abort();
        for (float v : a.values)
            if (!std::isfinite(v)) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const int mode = data[0] % 3;
    try {
        if (mode == 0) {
            const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
            const io::SafetensorsFile f(std::span<const std::byte>(bytes, size - 1), "fuzz input");
            std::size_t total = 0;
            for (const auto& t : f.tensors()) total += t.bytes.size();  // touch every view
            (void)total;
            return 0;
        }
        if (size < 3) return 0;
        const std::size_t cfg_size = std::min<std::size_t>(data[1] | (std::size_t{data[2]} << 8), size - 3);
        const fs::path& dir = folder();
        const bool saelens = mode == 2;
        write(dir / "cfg.json", data + 3, cfg_size);
        write(dir / (saelens ? "sae_weights.safetensors" : "sae.safetensors"), data + 3 + cfg_size,
              size - 3 - cfg_size);
        fs::remove(dir / (saelens ? "sae.safetensors" : "sae_weights.safetensors"));
        check(io::read_sae_folder(dir));
    } catch (const io::SafetensorsError&) {
    } catch (const std::invalid_argument&) {  // includes ShardError, bad configs
    } catch (const std::out_of_range&) {
    }
    return 0;
}
