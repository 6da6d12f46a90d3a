// The safetensors reader and writer: round trips of every dtype, and every
// kind of damage a file can carry reported as a SafetensorsError naming the
// file and the problem, never a crash.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "saematch/io/safetensors.hpp"

namespace io = saematch::io;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
    const auto dir = fs::temp_directory_path() / "saematch_safetensors_tests";
    fs::create_directories(dir);
    return dir / name;
}

// A file made of a header length, a header text and `data_bytes` bytes.
fs::path raw_file(const std::string& name, const std::string& header, std::size_t data_bytes,
                  std::uint64_t claimed_length = ~std::uint64_t{0}) {
    const auto path = scratch(name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const std::uint64_t n = claimed_length == ~std::uint64_t{0} ? header.size() : claimed_length;
    for (int b = 0; b < 8; ++b) out.put(static_cast<char>((n >> (8 * b)) & 0xff));
    out << header;
    out << std::string(data_bytes, '\0');
    return path;
}

std::string error_of(const fs::path& path) {
    try {
        io::SafetensorsFile f(path);
    } catch (const io::SafetensorsError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("safetensors round trip: dtypes, shapes, metadata, views without copies", "[io]") {
    const std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f};
    const std::vector<double> b = {0.1, 0.2};
    const std::vector<std::uint16_t> h = {0x3f80, 0xbf80, 0x4000};  // bf16 1, -1, 2
    const std::vector<std::int64_t> counts = {7, 0, 1LL << 40};
    const auto path = scratch("round_trip.safetensors");
    io::write_safetensors(path,
                          {{"W_dec", io::Dtype::f32, {2, 3}, w.data()},
                           {"b_dec", io::Dtype::f64, {2}, b.data()},
                           {"half", io::Dtype::bf16, {3}, h.data()},
                           {"counts", io::Dtype::i64, {3}, counts.data()},
                           {"empty", io::Dtype::f32, {0, 4}, nullptr}},
                          {{"format", "pt"}, {"saematch", "0.1"}});
    const io::SafetensorsFile f(path);
    REQUIRE(f.tensors().size() == 5);
    CHECK(f.metadata().at("format") == "pt");
    const auto& t = f.at("W_dec");
    CHECK(t.dtype == io::Dtype::f32);
    CHECK(t.shape == std::vector<std::int64_t>{2, 3});
    CHECK(std::memcmp(t.bytes.data(), w.data(), 24) == 0);
    CHECK(std::memcmp(f.at("b_dec").bytes.data(), b.data(), 16) == 0);
    CHECK(std::memcmp(f.at("half").bytes.data(), h.data(), 6) == 0);
    CHECK(std::memcmp(f.at("counts").bytes.data(), counts.data(), 24) == 0);
    CHECK(f.at("empty").elements() == 0);
    CHECK_FALSE(f.contains("W_enc"));
    CHECK_THROWS_WITH(f.at("W_enc"), Catch::Contains("has no tensor 'W_enc'"));
    // The header is padded so that the data starts 8-byte aligned.
    CHECK(reinterpret_cast<std::uintptr_t>(t.bytes.data()) % 8 == 0);
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_CASE("damaged safetensors files are reported, naming the file and the problem", "[io]") {
    const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    CHECK(error_of(raw_file("fine.st", "{" + ok_entry + "}", 8)).empty());

    const auto short_file = scratch("short.st");
    std::ofstream(short_file, std::ios::binary) << "abc";
    CHECK_THAT(error_of(short_file), Catch::Contains("short.st") && Catch::Contains("truncated"));
    CHECK_THAT(error_of(raw_file("long_header.st", "{}", 0, 1000)), Catch::Contains("runs past the end"));
    CHECK_THAT(error_of(raw_file("huge_header.st", "{}", 0, 1ULL << 40)), Catch::Contains("exceeds the limit"));
    CHECK_THAT(error_of(raw_file("not_json.st", "{\"a\": [1,", 0)), Catch::Contains("not valid JSON"));
    CHECK_THAT(error_of(raw_file("array.st", "[1, 2]", 0)), Catch::Contains("not a JSON object"));
    CHECK_THAT(error_of(raw_file("dtype.st", R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2)),
               Catch::Contains("unknown dtype \"F8\""));
    CHECK_THAT(error_of(raw_file("missing.st", R"({"a":{"dtype":"F32","shape":[2]}})", 8)),
               Catch::Contains("lacks \"data_offsets\""));
    CHECK_THAT(error_of(raw_file("shape.st", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("not a non-negative integer"));
    CHECK_THAT(error_of(raw_file("shape_type.st", R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8)),
               Catch::Contains("shape that is not an array"));
    CHECK_THAT(error_of(raw_file("bytes.st", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("12 bytes") && Catch::Contains("span 8 bytes"));
    CHECK_THAT(error_of(raw_file("past.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4)),
               Catch::Contains("ends at byte 8 of a 4-byte data section"));
    CHECK_THAT(error_of(raw_file("backwards.st", R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4)),
               Catch::Contains("backwards"));
    CHECK_THAT(error_of(raw_file("overlap.st",
                                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 8)),
               Catch::Contains("overlaps"));
    CHECK_THAT(error_of(raw_file("gap.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
               Catch::Contains("belong to no tensor"));
    CHECK_THAT(error_of(raw_file("tail.st", "{" + ok_entry + "}", 12)), Catch::Contains("cover 8"));
    CHECK_THAT(error_of(raw_file("meta.st", R"({"__metadata__":{"a":1}})", 0)), Catch::Contains("not a string"));
    CHECK_THAT(error_of(raw_file("huge_shape.st",
                                 R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8)),
               Catch::Contains("absurdly large"));
    CHECK_THAT(error_of(scratch("does_not_exist.st")), Catch::Contains("cannot open"));
}

TEST_CASE("the writer refuses what it cannot write", "[io]") {
    const float x = 1.0f;
    const auto path = scratch("refused.safetensors");
    CHECK_THROWS_AS(io::write_safetensors(path, {{"__metadata__", io::Dtype::f32, {1}, &x}}), io::SafetensorsError);
    CHECK_THROWS_AS(io::write_safetensors(path, {{"a", io::Dtype::f32, {1}, &x}, {"a", io::Dtype::f32, {1}, &x}}),
                    io::SafetensorsError);
    CHECK_THROWS_AS(io::write_safetensors(path, {{"a", io::Dtype::f32, {-1}, &x}}), io::SafetensorsError);
    CHECK_THROWS_AS(io::write_safetensors(path, {{"a", io::Dtype::f32, {1}, nullptr}}), io::SafetensorsError);
}

TEST_CASE("safetensors bytes in memory parse like the file", "[io]") {
    const std::vector<float> w = {1.0f, 2.0f, 3.0f};
    const auto path = scratch("memory.safetensors");
    io::write_safetensors(path, {{"w", io::Dtype::f32, {3}, w.data()}});
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    const io::SafetensorsFile f(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()),
                                "in memory");
    CHECK(std::memcmp(f.at("w").bytes.data(), w.data(), 12) == 0);
    CHECK_THROWS_WITH(io::SafetensorsFile(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()),
                                                                     bytes.size() - 1),
                                          "in memory"),
                      Catch::StartsWith("in memory: "));
}
