// Activation shards on disk: .npy and .safetensors shards in natural file
// order, dtype conversion, reads across shard boundaries, and every bad
// shard reported with its path (and row, for values).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "saematch/io/activation_shards.hpp"

namespace io = saematch::io;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) {
    const auto dir = fs::temp_directory_path() / "saematch_shard_tests" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A version-1 .npy file with the given descr and shape, and raw data bytes.
void write_npy(const fs::path& path, const std::string& descr, const std::string& shape, const void* data,
               std::size_t bytes, const std::string& order = "False") {
    std::string header = "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
    header.append(64 - (10 + header.size() + 1) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    out.put(static_cast<char>(len & 0xff));
    out.put(static_cast<char>(len >> 8));
    out << header;
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

std::vector<float> iota(int n, float start) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + static_cast<float>(i);
    return v;
}

}  // namespace

TEST_CASE("shards are read in natural file order, across boundaries, with dtypes converted", "[io]") {
    const auto dir = fresh("ordered");
    const auto a = iota(6, 0.0f);   // 2 rows x 3
    const auto b = iota(9, 6.0f);   // 3 rows x 3
    std::vector<double> c = {15, 16, 17};
    std::vector<std::uint16_t> d = {0x4190, 0x4198, 0x41a0};  // bf16 18, 19, 20
    write_npy(dir / "shard_2.npy", "<f4", "(3, 3)", b.data(), b.size() * 4);
    write_npy(dir / "shard_1.npy", "<f4", "(2, 3)", a.data(), a.size() * 4);
    write_npy(dir / "shard_10.npy", "<f8", "(1, 3)", c.data(), c.size() * 8);
    io::write_safetensors(dir / "shard_11.safetensors", {{"activations", io::Dtype::bf16, {1, 3}, d.data()}});
    std::ofstream(dir / "notes.txt") << "ignored";
    const io::ActivationShards shards(dir);
    REQUIRE(shards.shards().size() == 4);
    CHECK(shards.shards()[2].path.filename() == "shard_10.npy");  // after shard_2
    CHECK(shards.d() == 3);
    CHECK(shards.tokens() == 7);
    std::vector<float> out(21);
    shards.read(0, 7, out.data());
    for (int i = 0; i < 21; ++i) CHECK(out[static_cast<std::size_t>(i)] == static_cast<float>(i));
    std::vector<float> middle(9);
    shards.read(1, 3, middle.data());  // straddles shard_1 and shard_2
    CHECK(middle[0] == 3.0f);
    CHECK(middle[8] == 11.0f);
    CHECK_THROWS_AS(shards.read(5, 3, out.data()), std::out_of_range);
}

TEST_CASE("float16 shards convert exactly, subnormals included", "[io]") {
    const auto dir = fresh("half");
    const std::vector<std::uint16_t> h = {0x3c00, 0xc000, 0x0001, 0x7bff};  // 1, -2, 2^-24, 65504
    write_npy(dir / "x.npy", "<f2", "(2, 2)", h.data(), 8);
    const io::ActivationShards shards(dir / "x.npy");
    std::vector<float> out(4);
    shards.read(0, 2, out.data());
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -2.0f);
    CHECK(out[2] == std::ldexp(1.0f, -24));
    CHECK(out[3] == 65504.0f);
}

TEST_CASE("bad shards are reported with their path, and bad values with their row", "[io]") {
    const auto ok = iota(6, 0.0f);
    const auto error = [](const fs::path& p) -> std::string {
        try {
            io::ActivationShards s(p);
            std::vector<float> out(static_cast<std::size_t>(s.tokens() * s.d()));
            s.read(0, s.tokens(), out.data());
        } catch (const std::exception& e) {
            return e.what();
        }
        return "";
    };
    auto dir = fresh("width");
    write_npy(dir / "a.npy", "<f4", "(2, 3)", ok.data(), 24);
    write_npy(dir / "b.npy", "<f4", "(3, 2)", ok.data(), 24);
    CHECK_THAT(error(dir), Catch::Contains("b.npy") && Catch::Contains("width 2"));
    dir = fresh("empty");
    write_npy(dir / "a.npy", "<f4", "(0, 3)", ok.data(), 0);
    CHECK_THAT(error(dir), Catch::Contains("a.npy: is empty"));
    dir = fresh("nan");
    auto bad = ok;
    bad[4] = std::numeric_limits<float>::quiet_NaN();
    write_npy(dir / "a.npy", "<f4", "(2, 3)", ok.data(), 24);
    write_npy(dir / "b.npy", "<f4", "(2, 3)", bad.data(), 24);
    CHECK_THAT(error(dir), Catch::Contains("b.npy: row 1, column 1 is NaN"));
    dir = fresh("dtype");
    write_npy(dir / "a.npy", "<i4", "(2, 3)", ok.data(), 24);
    CHECK_THAT(error(dir), Catch::Contains("'<i4' is not"));
    dir = fresh("fortran");
    write_npy(dir / "a.npy", "<f4", "(2, 3)", ok.data(), 24, "True");
    CHECK_THAT(error(dir), Catch::Contains("Fortran order"));
    dir = fresh("truncated");
    write_npy(dir / "a.npy", "<f4", "(2, 3)", ok.data(), 20);
    CHECK_THAT(error(dir), Catch::Contains("truncated"));
    dir = fresh("three_d");
    write_npy(dir / "a.npy", "<f4", "(1, 2, 3)", ok.data(), 24);
    CHECK_THAT(error(dir), Catch::Contains("3-D"));
    dir = fresh("not_npy");
    std::ofstream(dir / "a.npy") << "hello, world";
    CHECK_THAT(error(dir), Catch::Contains("not a .npy file"));
    dir = fresh("two_tensors");
    io::write_safetensors(dir / "a.safetensors",
                          {{"x", io::Dtype::f32, {1, 3}, ok.data()}, {"y", io::Dtype::f32, {1, 3}, ok.data()}});
    CHECK_THAT(error(dir), Catch::Contains("none named 'activations'"));
    CHECK_THAT(error(fresh("nothing")), Catch::Contains("holds no .npy or .safetensors shards"));
}
