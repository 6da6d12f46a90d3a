// Writes the seed corpus of fuzz_io into the folder given: one input per
// valid SAE folder kind (tests/cpp/support/sae_folder_kinds.hpp) and one per
// kind and tensor with that tensor a row short, in fuzz_io's format (mode
// byte, cfg.json length, cfg.json, weights file).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "support/sae_folder_kinds.hpp"

namespace fs = std::filesystem;

namespace {

std::string input_of(const saematch_test::FolderKind& kind, const saematch_test::FolderFiles& files,
                     const fs::path& scratch) {
    saematch_test::write_folder(scratch, files);
    std::ifstream in(scratch / files.weights_file, std::ios::binary);
    const std::string weights((std::istreambuf_iterator<char>(in)), {});
    std::string out;
    out += static_cast<char>(kind.saelens ? 2 : 1);
    out += static_cast<char>(files.cfg.size() & 0xff);
    out += static_cast<char>((files.cfg.size() >> 8) & 0xff);
    return out + files.cfg + weights;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: fuzz_io_corpus <corpus folder>\n";
        return 2;
    }
    const fs::path out = argv[1];
    fs::create_directories(out);
    const auto scratch = fs::temp_directory_path() / "saematch_fuzz_corpus_scratch";
    int written = 0;
    for (const auto& kind : saematch_test::all_folder_kinds()) {
        const auto good = saematch_test::folder_files(kind);
        std::ofstream(out / ("valid_" + kind.name), std::ios::binary) << input_of(kind, good, scratch);
        ++written;
        for (const auto& tensor : good.tensors) {
            auto bad = good;
            for (auto& t : bad.tensors)
                if (t.name == tensor.name) {
                    t.values.resize(t.values.size() / static_cast<std::size_t>(t.shape[0]) *
                                    static_cast<std::size_t>(t.shape[0] - 1));
                    t.shape[0] -= 1;
                }
            std::ofstream(out / ("short_" + tensor.name + "_" + kind.name), std::ios::binary)
                << input_of(kind, bad, scratch);
            ++written;
        }
    }
    fs::remove_all(scratch);
    std::cout << written << " inputs in " << out.string() << "\n";
    return 0;
}
