// libFuzzer target for the checkpoint parsers (io/): whatever bytes arrive,
// the safetensors reader and the SAE folder reader (cfg.json of saematch's,
// sparsify's and SAELens's kinds) must either succeed or throw one of their
// documented exceptions; AddressSanitizer and UBSan catch everything else.
//
// The first input byte picks the target: 0-127 safetensors bytes (in memory),
// 128-191 a cfg.json next to a valid sparsify-layout sae.safetensors,
// 192-255 a cfg.json next to a valid SAELens-layout sae_weights.safetensors.
//
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSAEMATCH_FUZZ=ON \
//         -DSAEMATCH_BUILD_TESTS=OFF -DSAEMATCH_WITH_TORCH=OFF
//   cmake --build build/fuzz --target fuzz_io && build/fuzz/fuzz/fuzz_io -runs=1000000
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "saematch/io/sae_folder.hpp"
#include "saematch/io/safetensors.hpp"

namespace io = saematch::io;
namespace fs = std::filesystem;

namespace {

// A folder per process with valid weights for an SAE of d = 4, n = 6, k = 2.
const fs::path& folder(bool saelens) {
    static const fs::path dirs[2] = {
        fs::temp_directory_path() / ("saematch_fuzz_sparsify_" + std::to_string(::getpid())),
        fs::temp_directory_path() / ("saematch_fuzz_saelens_" + std::to_string(::getpid()))};
    static bool made = false;
    if (!made) {
        const std::vector<float> enc(24, 0.5f), bias(6, 0.0f), dec(24, 0.25f), bdec(4, 0.0f), thr(6, 0.1f);
        fs::create_directories(dirs[0]);
        fs::create_directories(dirs[1]);
        io::write_safetensors(dirs[0] / "sae.safetensors", {{"encoder.weight", io::Dtype::f32, {6, 4}, enc.data()},
                                                            {"encoder.bias", io::Dtype::f32, {6}, bias.data()},
                                                            {"W_dec", io::Dtype::f32, {6, 4}, dec.data()},
                                                            {"b_dec", io::Dtype::f32, {4}, bdec.data()}});
        io::write_safetensors(dirs[1] / "sae_weights.safetensors", {{"W_enc", io::Dtype::f32, {4, 6}, enc.data()},
                                                                    {"b_enc", io::Dtype::f32, {6}, bias.data()},
                                                                    {"W_dec", io::Dtype::f32, {6, 4}, dec.data()},
                                                                    {"b_dec", io::Dtype::f32, {4}, bdec.data()},
                                                                    {"threshold", io::Dtype::f32, {6}, thr.data()}});
        made = true;
    }
    return dirs[saelens ? 1 : 0];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto* bytes = reinterpret_cast<const std::byte*>(data + 1);
    try {
        if (data[0] < 128) {
            const io::SafetensorsFile f(std::span<const std::byte>(bytes, size - 1), "fuzz input");
            std::size_t total = 0;
            for (const auto& t : f.tensors()) total += t.bytes.size();  // touch every view
            (void)total;
        } else {
            const fs::path& dir = folder(data[0] >= 192);
            {
                std::ofstream cfg(dir / "cfg.json", std::ios::binary | std::ios::trunc);
                cfg.write(reinterpret_cast<const char*>(bytes), static_cast<std::streamsize>(size - 1));
            }
            const auto sae = io::read_sae_folder(dir);
            (void)sae;
        }
    } catch (const io::SafetensorsError&) {
    } catch (const std::invalid_argument&) {  // includes ShardError, bad configs
    } catch (const std::out_of_range&) {
    }
    return 0;
}
