// Reading SAE folders of every layout and architecture: each tensor's shape
// is checked before its values are used (a short bias vector once corrupted
// the heap while b_dec was folded into it), cfg.json is read strictly, error
// messages name the file and stay valid UTF-8 whatever bytes it holds, and
// SAELens's function-changing flags are folded or refused. Runs under
// AddressSanitizer in CI (build/sanitize).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "saematch/io/printable.hpp"
#include "saematch/io/sae_folder.hpp"
#include "support/sae_folder_kinds.hpp"

namespace io = saematch::io;
namespace fs = std::filesystem;
using saematch_test::FolderFiles;
using saematch_test::FolderKind;

namespace {

fs::path scratch(const std::string& name) {
    const auto dir = fs::temp_directory_path() / "saematch_sae_folder_tests" / name;
    fs::remove_all(dir);
    return dir;
}

std::string error_reading(const fs::path& dir) {
    try {
        (void)io::read_sae_folder(dir);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

FolderKind kind_named(const std::string& name) {
    for (const auto& k : saematch_test::all_folder_kinds())
        if (k.name == name) return k;
    FAIL("no folder kind " << name);
    return {};
}

}  // namespace

TEST_CASE("every layout and architecture reads with consistent shapes", "[io]") {
    for (const auto& kind : saematch_test::all_folder_kinds()) {
        INFO(kind.name);
        const auto dir = scratch(kind.name);
        saematch_test::write_folder(dir, saematch_test::folder_files(kind));
        const auto f = io::read_sae_folder(dir);
        CHECK(saematch::sae::architecture_name(f.config.architecture) == kind.architecture);
        CHECK(f.config.d_in == 4);
        CHECK(f.config.num_latents == 6);
        CHECK(f.unsupported.empty());
        for (const auto& [name, a] : f.parameters) {
            std::int64_t size = 1;
            for (auto s : a.shape) size *= s;
            CHECK(static_cast<std::int64_t>(a.values.size()) == size);
        }
        CHECK(f.parameter("W_dec").shape == std::vector<std::int64_t>{6, 4});
    }
}

TEST_CASE("a tensor of the wrong shape is refused, naming file, tensor and both shapes", "[io]") {
    // Every tensor of every kind in turn, one entry short (or, for a matrix,
    // a row short), while the others stay valid: the b_dec fold
    // (apply_b_dec_to_input = false) and the decoder-norm fold must never
    // see it.
    for (const auto& kind : saematch_test::all_folder_kinds()) {
        const FolderFiles good = saematch_test::folder_files(kind);
        for (std::size_t t = 0; t < good.tensors.size(); ++t) {
            FolderFiles bad = good;
            auto& tensor = bad.tensors[t];
            const auto was = io::detail::shape_text(tensor.shape);
            tensor.shape[0] -= 1;
            tensor.values.resize(tensor.values.size() / static_cast<std::size_t>(tensor.shape[0] + 1) *
                                 static_cast<std::size_t>(tensor.shape[0]));
            INFO(kind.name << ": " << tensor.name << " " << io::detail::shape_text(tensor.shape));
            const auto dir = scratch(kind.name + "_short_" + tensor.name);
            saematch_test::write_folder(dir, bad);
            const auto message = error_reading(dir);
            if (!kind.saelens && !kind.ours && tensor.name == "encoder.weight") {
                // sparsify's sizes are encoder.weight's, checked against cfg.json.
                CHECK(message.find("cfg.json: num_latents 6 but encoder.weight has 5 rows") != std::string::npos);
                continue;
            }
            CHECK(message.find(good.weights_file) != std::string::npos);
            CHECK(message.find("tensor '" + tensor.name + "'") != std::string::npos);
            CHECK(message.find(io::detail::shape_text(tensor.shape)) != std::string::npos);
            CHECK(message.find("expected") != std::string::npos);
            CHECK(message.find(was) != std::string::npos);
        }
    }
}

TEST_CASE("a short encoder bias in an SAELens folder without b_dec subtraction is an error, not heap damage", "[io]") {
    // The case that corrupted the heap: d_sae = 6 in cfg.json, b_enc of 3.
    for (const char* arch : {"relu", "jumprelu", "topk", "gated"}) {
        const auto kind = kind_named(std::string("saelens_") + arch + "_no_b_dec");
        FolderFiles f = saematch_test::folder_files(kind);
        for (auto& t : f.tensors)
            if (t.name == "b_enc" || t.name == "b_gate" || t.name == "b_mag" || t.name == "r_mag") {
                t.shape = {3};
                t.values.resize(3);
            }
        const auto dir = scratch(std::string("short_bias_") + arch);
        saematch_test::write_folder(dir, f);
        const auto message = error_reading(dir);
        INFO(message);
        CHECK(message.find("sae_weights.safetensors: tensor '") != std::string::npos);
        CHECK(message.find("[3], expected (d_sae) = [6]") != std::string::npos);
    }
}

TEST_CASE("finite weights whose SAELens folds overflow float32 are refused, not returned as infinities", "[io]") {
    // Found by the fuzzer: W_enc b_dec (apply_b_dec_to_input false) and the
    // decoder-norm scaling multiply stored values, which can each be finite.
    for (const char* name : {"saelens_relu_no_b_dec", "saelens_gated_no_b_dec", "saelens_topk_rescaled"}) {
        FolderFiles f = saematch_test::folder_files(kind_named(name));
        for (auto& t : f.tensors)
            if (t.name == "W_enc" || t.name == "b_dec" || t.name == "W_dec")
                for (auto& x : t.values) x = x < 0 ? -1e30f : 1e30f;
        const auto dir = scratch(std::string("overflow_") + name);
        saematch_test::write_folder(dir, f);
        const auto message = error_reading(dir);
        INFO(name << ": " << message);
        CHECK(message.find("overflows float32") != std::string::npos);
        CHECK(message.find("sae_weights.safetensors") != std::string::npos);
    }
}

TEST_CASE("a tensor the architecture does not have is refused", "[io]") {
    FolderFiles f = saematch_test::folder_files(kind_named("sparsify_topk"));
    f.tensors.push_back({"W_skip", {4, 4}, std::vector<float>(16, 0.5f)});
    auto dir = scratch("skip");
    saematch_test::write_folder(dir, f);
    auto message = error_reading(dir);
    CHECK(message.find("unexpected tensor 'W_skip' for a topk SAE in sparsify's layout") != std::string::npos);

    // b_gate belongs to gated SAEs only.
    f = saematch_test::folder_files(kind_named("saelens_relu"));
    f.tensors.push_back({"b_gate", {6}, std::vector<float>(6, 0.0f)});
    dir = scratch("stray_gate");
    saematch_test::write_folder(dir, f);
    message = error_reading(dir);
    CHECK(message.find("unexpected tensor 'b_gate' for a relu SAE in SAELens's layout") != std::string::npos);
}

TEST_CASE("cfg.json integers are integers: no fractions, booleans or values beyond 64 bits", "[io]") {
    const auto kind = kind_named("saelens_relu");
    struct Case {
        std::string value, expect;
    };
    for (const auto& c : std::vector<Case>{{"8.5", "must be an integer, got 8.5"},
                                           {"1180591620717411303424", "must be an integer below 2^53"},
                                           {"18446744073709551615", "must be an integer below 2^63"},
                                           {"true", "has the wrong type: must be an integer, got true"},
                                           {"\"4\"", "has the wrong type: must be an integer, got \"4\""}}) {
        FolderFiles f = saematch_test::folder_files(kind);
        auto cfg = nlohmann::json::parse(f.cfg);
        f.cfg = cfg.dump();
        const auto pos = f.cfg.find("\"d_in\":4");
        REQUIRE(pos != std::string::npos);
        f.cfg.replace(pos, 8, "\"d_in\":" + c.value);
        const auto dir = scratch("d_in");
        saematch_test::write_folder(dir, f);
        const auto message = error_reading(dir);
        INFO(c.value << " -> " << message);
        CHECK(message.find("cfg.json: cfg.json field \"d_in\" " + c.expect) != std::string::npos);
    }
    // An integral float is the integer (some writers emit 4.0).
    FolderFiles f = saematch_test::folder_files(kind);
    const auto pos = f.cfg.find("\"d_in\": 4");
    REQUIRE(pos != std::string::npos);
    f.cfg.replace(pos, 9, "\"d_in\": 4.0");
    const auto dir = scratch("d_in_float");
    saematch_test::write_folder(dir, f);
    CHECK(io::read_sae_folder(dir).config.d_in == 4);
}

TEST_CASE("invalid UTF-8 and a directory for cfg.json are reported with the file's name in valid UTF-8", "[io]") {
    const auto kind = kind_named("sparsify_topk");
    FolderFiles f = saematch_test::folder_files(kind);
    f.cfg.insert(1, "\"activ\xff\xfetion\": 1, ");
    auto dir = scratch("bad_utf8_cfg");
    saematch_test::write_folder(dir, f);
    auto message = error_reading(dir);
    CHECK(message.find((dir / "cfg.json").string() + ": not valid JSON") != std::string::npos);
    CHECK(message.find("\\xff") != std::string::npos);
    CHECK(io::printable(message) == message);  // nothing left to escape: valid UTF-8

    // In the safetensors header: a tensor name with a stray byte.
    dir = scratch("bad_utf8_header");
    saematch_test::write_folder(dir, saematch_test::folder_files(kind));
    {
        std::fstream st(dir / "sae.safetensors", std::ios::binary | std::ios::in | std::ios::out);
        std::string bytes((std::istreambuf_iterator<char>(st)), {});
        const auto at = bytes.find("encoder.bias");
        REQUIRE(at != std::string::npos);
        st.seekp(static_cast<std::streamoff>(at + 3));
        st.put('\xc3');  // a lead byte followed by ASCII: ill-formed
    }
    message = error_reading(dir);
    CHECK(message.find((dir / "sae.safetensors").string() + ": header is not valid JSON") != std::string::npos);
    CHECK(io::printable(message) == message);

    dir = scratch("cfg_is_a_directory");
    saematch_test::write_folder(dir, saematch_test::folder_files(kind));
    fs::remove(dir / "cfg.json");
    fs::create_directories(dir / "cfg.json");
    message = error_reading(dir);
    CHECK(message == (dir / "cfg.json").string() + ": is a directory, not the SAE's config file");

    dir = scratch("weights_are_a_directory");
    saematch_test::write_folder(dir, saematch_test::folder_files(kind));
    fs::remove(dir / "sae.safetensors");
    fs::create_directories(dir / "sae.safetensors");
    message = error_reading(dir);
    CHECK(message == (dir / "sae.safetensors").string() + ": is not a regular file (a directory?)");
}

TEST_CASE("printable escapes what is not valid UTF-8 and keeps what is", "[io]") {
    CHECK(io::printable("plain") == "plain");
    CHECK(io::printable("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // é, €
    CHECK(io::printable("a\xff" "b") == "a\\xffb");
    CHECK(io::printable("\xc3(") == "\\xc3(");            // lead byte without continuation
    CHECK(io::printable("\xe0\x80\x80") == "\\xe0\\x80\\x80");  // overlong
    CHECK(io::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
    CHECK(io::printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    CHECK(io::printable(std::string("nul\0here", 8)) == "nul\\x00here");
    CHECK(io::printable("tab\tand\nnewline") == "tab\tand\nnewline");
}

TEST_CASE("SAELens's rescale_acts_by_decoder_norm is folded: unit decoder rows, encoder scaled by their norms", "[io]") {
    const auto kind = kind_named("saelens_topk_rescaled");
    const FolderFiles f = saematch_test::folder_files(kind);
    const auto dir = scratch("rescaled");
    saematch_test::write_folder(dir, f);
    const auto folder = io::read_sae_folder(dir);
    REQUIRE(folder.metadata.count("folded"));
    CHECK(folder.metadata.at("folded").find("rescale_acts_by_decoder_norm") != std::string::npos);
    const auto& W_enc = f.tensors[0];  // (d, n) as SAELens stores it
    const auto& W_dec = f.tensors[1];
    const auto& b_enc = f.tensors[3];
    REQUIRE(W_enc.name == "W_enc");
    REQUIRE(b_enc.name == "b_enc");
    const auto& enc = folder.parameter("encoder.weight");
    const auto& dec = folder.parameter("W_dec");
    const auto& bias = folder.parameter("encoder.bias");
    for (int i = 0; i < 6; ++i) {
        double norm = 0, folded_norm = 0;
        for (int c = 0; c < 4; ++c) {
            norm += double(W_dec.values[i * 4 + c]) * W_dec.values[i * 4 + c];
            folded_norm += double(dec.values[i * 4 + c]) * dec.values[i * 4 + c];
        }
        norm = std::sqrt(norm);
        CHECK(std::sqrt(folded_norm) == Approx(1.0).epsilon(1e-6));
        for (int c = 0; c < 4; ++c) {
            CHECK(enc.values[i * 4 + c] == Approx(W_enc.values[c * 6 + i] * norm).epsilon(1e-6));
            CHECK(dec.values[i * 4 + c] == Approx(W_dec.values[i * 4 + c] / norm).epsilon(1e-6));
        }
        CHECK(bias.values[i] == Approx(b_enc.values[i] * norm).epsilon(1e-6));
    }
    // Flagged false, nothing is folded.
    const auto plain = scratch("plain_topk");
    saematch_test::write_folder(plain, saematch_test::folder_files(kind_named("saelens_topk")));
    CHECK(io::read_sae_folder(plain).metadata.count("folded") == 0);
}

TEST_CASE("SAELens flags saematch cannot compute mark the folder unsupported, naming the flag", "[io]") {
    const auto kind = kind_named("saelens_relu");
    for (const std::string mode : {"layer_norm", "constant_norm_rescale", "covariance_whitening"}) {
        FolderFiles f = saematch_test::folder_files(kind);
        auto cfg = nlohmann::json::parse(f.cfg);
        cfg["normalize_activations"] = mode;
        f.cfg = cfg.dump();
        const auto dir = scratch("norm_" + mode);
        saematch_test::write_folder(dir, f);
        const auto folder = io::read_sae_folder(dir);  // the directions stay readable
        INFO(folder.unsupported);
        CHECK(folder.unsupported.find("cfg.json: normalize_activations = " + mode) != std::string::npos);
    }
    FolderFiles f = saematch_test::folder_files(kind);
    auto cfg = nlohmann::json::parse(f.cfg);
    cfg["normalize_activations"] = "expected_average_only_in";
    cfg["reshape_activations"] = "hook_z";
    f.cfg = cfg.dump();
    auto dir = scratch("norm_expected_average");
    saematch_test::write_folder(dir, f);
    auto folder = io::read_sae_folder(dir);
    CHECK(folder.unsupported.empty());
    CHECK(folder.metadata.at("notes").find("expected_average_only_in") != std::string::npos);
    CHECK(folder.metadata.at("notes").find("hook_z") != std::string::npos);

    // A fine-tuning scaling factor of SAELens < 6: all ones is none.
    for (const float value : {1.0f, 1.5f}) {
        f = saematch_test::folder_files(kind);
        f.tensors.push_back({"scaling_factor", {6}, std::vector<float>(6, value)});
        dir = scratch("scaling_factor");
        saematch_test::write_folder(dir, f);
        folder = io::read_sae_folder(dir);
        CHECK(folder.unsupported.empty() == (value == 1.0f));
        for (const auto& [name, a] : folder.parameters) CHECK(name != "scaling_factor");
    }

    cfg = nlohmann::json::parse(saematch_test::folder_files(kind).cfg);
    cfg["architecture"] = "batchtopk";
    f = saematch_test::folder_files(kind);
    f.cfg = cfg.dump();
    dir = scratch("saelens_batchtopk");
    saematch_test::write_folder(dir, f);
    CHECK(error_reading(dir).find("save_inference_model") != std::string::npos);
}
