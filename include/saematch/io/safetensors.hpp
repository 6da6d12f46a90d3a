// The safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor's name to its dtype,
// shape and [begin, end) byte offsets into the data that follows (plus an
// optional "__metadata__" map of strings), then the data.
//
// Reading maps the file and hands out views of its bytes without copying,
// after checking everything a hostile or truncated file could get wrong:
// the header length against the file size, the JSON's types, every dtype,
// that dtype × shape matches the byte count, that offsets lie inside the
// data and that tensors neither overlap nor leave holes. Every error is a
// SafetensorsError naming the file and the problem, in valid UTF-8 whatever
// bytes the file holds (printable.hpp).
//
// Writing goes to a temporary file in the same folder that is renamed over
// the target at the end, so a reader never sees half a file.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saematch/io/printable.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define SAEMATCH_HAVE_MMAP 1
#else
#define SAEMATCH_HAVE_MMAP 0
#endif

namespace saematch::io {

class SafetensorsError : public std::runtime_error {
public:
    SafetensorsError(const std::filesystem::path& file, const std::string& problem)
        : std::runtime_error(printable(file.string() + ": " + problem)) {}
};

enum class Dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

inline const char* dtype_name(Dtype t) {
    switch (t) {
        case Dtype::f64: return "F64";
        case Dtype::f32: return "F32";
        case Dtype::f16: return "F16";
        case Dtype::bf16: return "BF16";
        case Dtype::i64: return "I64";
        case Dtype::i32: return "I32";
        case Dtype::i16: return "I16";
        case Dtype::i8: return "I8";
        case Dtype::u8: return "U8";
        case Dtype::boolean: return "BOOL";
    }
    return "?";
}

inline std::size_t dtype_size(Dtype t) {
    switch (t) {
        case Dtype::f64:
        case Dtype::i64: return 8;
        case Dtype::f32:
        case Dtype::i32: return 4;
        case Dtype::f16:
        case Dtype::bf16:
        case Dtype::i16: return 2;
        case Dtype::i8:
        case Dtype::u8:
        case Dtype::boolean: return 1;
    }
    return 0;
}

inline bool parse_dtype(const std::string& s, Dtype& out) {
    for (auto t : {Dtype::f64, Dtype::f32, Dtype::f16, Dtype::bf16, Dtype::i64, Dtype::i32, Dtype::i16, Dtype::i8,
                   Dtype::u8, Dtype::boolean})
        if (s == dtype_name(t)) {
            out = t;
            return true;
        }
    return false;
}

struct TensorView {
    std::string name;
    Dtype dtype = Dtype::f32;
    std::vector<std::int64_t> shape;
    std::span<const std::byte> bytes;  // into the mapped file

    std::int64_t elements() const {
        std::int64_t n = 1;
        for (auto s : shape) n *= s;
        return n;
    }
};

namespace detail {

// The file's bytes: mapped where the platform allows, read otherwise.
class FileBytes {
public:
    explicit FileBytes(const std::filesystem::path& path) : path_(path) {
#if SAEMATCH_HAVE_MMAP
        const int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0) throw SafetensorsError(path, "cannot open: " + std::string(std::strerror(errno)));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            ::close(fd);
            throw SafetensorsError(path, "cannot stat: " + std::string(std::strerror(errno)));
        }
        if (!S_ISREG(st.st_mode)) {  // a directory opens, then fails to map with a bare "No such device"
            ::close(fd);
            throw SafetensorsError(path, "is not a regular file (a directory?)");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                ::close(fd);
                throw SafetensorsError(path, "cannot map: " + std::string(std::strerror(errno)));
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
#else
        std::ifstream in(path, std::ios::binary);
        if (!in) throw SafetensorsError(path, "cannot open");
        copy_.assign(std::istreambuf_iterator<char>(in), {});
        size_ = copy_.size();
        data_ = reinterpret_cast<const std::byte*>(copy_.data());
#endif
    }
    ~FileBytes() {
#if SAEMATCH_HAVE_MMAP
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
#endif
    }
    FileBytes(const FileBytes&) = delete;
    FileBytes& operator=(const FileBytes&) = delete;

    std::span<const std::byte> bytes() const { return {data_, size_}; }

private:
    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
#if !SAEMATCH_HAVE_MMAP
    std::vector<char> copy_;
#endif
};

}  // namespace detail

// A safetensors file, opened and checked. Views stay valid while it lives.
class SafetensorsFile {
public:
    // Headers beyond this are refused (the reference implementation's limit).
    static constexpr std::uint64_t kMaxHeader = 100'000'000;

    explicit SafetensorsFile(const std::filesystem::path& path)
        : path_(path), file_(std::make_unique<detail::FileBytes>(path)) {
        parse(file_->bytes());
    }

    // Bytes already in memory (which must outlive this), named `name` in
    // errors: for data that never was a file, and for the fuzzer.
    SafetensorsFile(std::span<const std::byte> bytes, const std::string& name) : path_(name) { parse(bytes); }

    const std::filesystem::path& path() const { return path_; }
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    bool contains(const std::string& name) const { return find(name) != nullptr; }

    const TensorView& at(const std::string& name) const {
        if (const TensorView* t = find(name)) return *t;
        throw SafetensorsError(path_, "has no tensor '" + name + "'");
    }

private:
    const TensorView* find(const std::string& name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }

    [[noreturn]] void fail(const std::string& problem) const { throw SafetensorsError(path_, problem); }

    void parse(std::span<const std::byte> all) {
        if (all.size() < 8) fail("truncated: " + std::to_string(all.size()) + " bytes, too short for a header length");
        std::uint64_t n = 0;
        for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<std::uint8_t>(all[static_cast<std::size_t>(b)]);
        if (n > kMaxHeader) fail("header length " + std::to_string(n) + " exceeds the limit of 100 MB");
        if (n > all.size() - 8)
            fail("header length " + std::to_string(n) + " runs past the end of the " + std::to_string(all.size()) +
                 "-byte file");
        const auto* text = reinterpret_cast<const char*>(all.data() + 8);
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(text, text + n);
        } catch (const nlohmann::json::exception& e) {
            fail(std::string("header is not valid JSON: ") + e.what());
        }
        if (!header.is_object()) fail("header is not a JSON object");
        const auto data = all.subspan(8 + static_cast<std::size_t>(n));
        std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
        for (const auto& [name, entry] : header.items()) {
            if (name == "__metadata__") {
                if (!entry.is_object()) fail("__metadata__ is not an object");
                for (const auto& [key, value] : entry.items()) {
                    if (!value.is_string()) fail("__metadata__ value of '" + key + "' is not a string");
                    metadata_[key] = value.get<std::string>();
                }
                continue;
            }
            tensors_.push_back(read_entry(name, entry, data, ranges));
        }
        // Offsets must tile the data exactly: no overlap, no gap.
        std::vector<std::size_t> order(ranges.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ranges[a] < ranges[b]; });
        std::uint64_t expected = 0;
        for (std::size_t i : order) {
            if (ranges[i].first < expected)
                fail("tensor '" + tensors_[i].name + "' overlaps another (bytes " + std::to_string(ranges[i].first) +
                     ".." + std::to_string(ranges[i].second) + ")");
            if (ranges[i].first > expected)
                fail("bytes " + std::to_string(expected) + ".." + std::to_string(ranges[i].first) +
                     " of the data belong to no tensor");
            expected = ranges[i].second;
        }
        if (expected != data.size())
            fail("the data holds " + std::to_string(data.size()) + " bytes but the tensors cover " +
                 std::to_string(expected));
    }

    TensorView read_entry(const std::string& name, const nlohmann::json& e, std::span<const std::byte> data,
                          std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) const {
        const std::string what = "tensor '" + name + "'";
        if (!e.is_object()) fail(what + " is not described by an object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!e.contains(key)) fail(what + " lacks \"" + key + "\"");
        TensorView t;
        t.name = name;
        if (!e["dtype"].is_string() || !parse_dtype(e["dtype"].get<std::string>(), t.dtype))
            fail(what + " has unknown dtype " + e["dtype"].dump());
        if (!e["shape"].is_array()) fail(what + " has a shape that is not an array");
        std::uint64_t elements = 1;
        for (const auto& s : e["shape"]) {
            if (!s.is_number_unsigned()) fail(what + " has a shape entry that is not a non-negative integer: " + s.dump());
            const auto v = s.get<std::uint64_t>();
            if (v != 0 && elements > (std::uint64_t{1} << 62) / v) fail(what + " has an absurdly large shape");
            elements *= v;
            t.shape.push_back(static_cast<std::int64_t>(v));
        }
        const auto& off = e["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            fail(what + " has data_offsets that are not two non-negative integers");
        const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
        if (begin > end) fail(what + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + ") backwards");
        if (end > data.size())
            fail(what + " ends at byte " + std::to_string(end) + " of a " + std::to_string(data.size()) +
                 "-byte data section (file truncated?)");
        const std::uint64_t need = elements * dtype_size(t.dtype);
        if (end - begin != need)
            fail(what + " is " + dtype_name(t.dtype) + " of " + std::to_string(elements) + " elements (" +
                 std::to_string(need) + " bytes) but its offsets span " + std::to_string(end - begin) + " bytes");
        t.bytes = data.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
        ranges.emplace_back(begin, end);
        return t;
    }

    std::filesystem::path path_;
    std::unique_ptr<detail::FileBytes> file_;
    std::vector<TensorView> tensors_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: its bytes are copied out during the write.
struct TensorToWrite {
    std::string name;
    Dtype dtype = Dtype::f32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr;  // elements × dtype_size bytes, little-endian, contiguous
};

// Writes `tensors` (in the given order) and `metadata` to `path`, atomically.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    std::vector<std::uint64_t> sizes;
    for (const auto& t : tensors) {
        if (t.name.empty() || t.name == "__metadata__")
            throw SafetensorsError(path, "cannot write a tensor named '" + t.name + "'");
        if (header.contains(t.name)) throw SafetensorsError(path, "tensor '" + t.name + "' given twice");
        std::uint64_t elements = 1;
        for (auto s : t.shape) {
            if (s < 0) throw SafetensorsError(path, "tensor '" + t.name + "' has a negative dimension");
            elements *= static_cast<std::uint64_t>(s);
        }
        const std::uint64_t bytes = elements * dtype_size(t.dtype);
        if (bytes > 0 && t.data == nullptr) throw SafetensorsError(path, "tensor '" + t.name + "' has no data");
        header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        sizes.push_back(bytes);
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // align the data to 8 bytes, as the reference writer does
    const auto temp = std::filesystem::path(path.string() + ".tmp");
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        if (!out) throw SafetensorsError(path, "cannot create " + temp.string());
        std::uint64_t n = text.size();
        unsigned char length[8];
        for (int b = 0; b < 8; ++b) length[b] = static_cast<unsigned char>((n >> (8 * b)) & 0xff);
        out.write(reinterpret_cast<const char*>(length), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (std::size_t i = 0; i < tensors.size(); ++i)
            out.write(static_cast<const char*>(tensors[i].data), static_cast<std::streamsize>(sizes[i]));
        out.flush();
        if (!out) throw SafetensorsError(path, "write failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) {
        std::filesystem::remove(temp);
        throw SafetensorsError(path, "cannot replace the file: " + ec.message());
    }
}

}  // namespace saematch::io
