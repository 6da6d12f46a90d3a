// Reading an SAE folder's cfg.json strictly. JSON has one number type, and
// nlohmann's conversions are lenient where a checkpoint must not be: 8.5 or
// true read as an int64 give 8 and 1, and an integer beyond 64 bits arrives
// as a double that converts to a meaningless (negative) int64. Every field
// here is read by a function that says which file, which field and what
// value was wrong; every message is valid UTF-8 (printable.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "saematch/io/printable.hpp"

namespace saematch::io::detail {

[[noreturn]] inline void cfg_error(const std::filesystem::path& file, const std::string& problem) {
    throw std::invalid_argument(printable(file.string() + ": " + problem));
}

// The parsed cfg.json, which must be a regular file holding a JSON object.
inline nlohmann::json read_cfg(const std::filesystem::path& cfg_path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(cfg_path, ec))
        cfg_error(cfg_path, std::filesystem::is_directory(cfg_path, ec)
                                ? "is a directory, not the SAE's config file"
                                : "is not a regular file");
    std::ifstream in(cfg_path, std::ios::binary);
    if (!in) cfg_error(cfg_path, "cannot open");
    nlohmann::json cfg;
    try {
        cfg = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        cfg_error(cfg_path, std::string("not valid JSON (or not UTF-8): ") + e.what());
    } catch (const std::ios_base::failure& e) {
        cfg_error(cfg_path, std::string("cannot read: ") + e.what());
    }
    if (!cfg.is_object()) cfg_error(cfg_path, "not a JSON object");
    return cfg;
}

// An integer field: a JSON integer within int64, or a float with an integral
// value below 2^53 (some writers emit 8.0). 8.5, true, "8" and 2**70 are
// refused.
inline std::int64_t integer_value(const nlohmann::json& v, const char* key, const std::filesystem::path& file) {
    const auto wrong = [&](const std::string& why) {
        return std::string("cfg.json field \"") + key + "\" " + why + ", got " + v.dump();
    };
    if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            cfg_error(file, wrong("must be an integer below 2^63"));
        return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
        const double x = v.get<double>();
        if (!std::isfinite(x) || std::fabs(x) >= 9007199254740992.0) cfg_error(file, wrong("must be an integer below 2^53"));
        if (x != std::floor(x)) cfg_error(file, wrong("must be an integer"));
        return static_cast<std::int64_t>(x);
    }
    cfg_error(file, wrong("has the wrong type: must be an integer"));
}

// Field `key` of `j` as T (std::int64_t, double, bool or std::string), with
// no conversion between JSON types.
template <class T>
T json_field(const nlohmann::json& j, const char* key, const std::filesystem::path& file) {
    if (!j.contains(key)) cfg_error(file, std::string("cfg.json lacks \"") + key + "\"");
    const auto& v = j.at(key);
    if constexpr (std::is_same_v<T, std::int64_t>) {
        return integer_value(v, key, file);
    } else {
        bool ok;
        if constexpr (std::is_same_v<T, bool>)
            ok = v.is_boolean();
        else if constexpr (std::is_same_v<T, std::string>)
            ok = v.is_string();
        else
            ok = v.is_number();
        if (!ok) cfg_error(file, std::string("cfg.json field \"") + key + "\" has the wrong type (" + v.dump() + ")");
        return v.get<T>();
    }
}

}  // namespace saematch::io::detail
