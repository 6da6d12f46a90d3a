// Activations on disk as the trainer reads them: a folder of .npy or
// .safetensors shards (or one such file), each a (tokens, d) matrix, taken in
// file-name order (natural order: shard_2 before shard_10) as one long
// sequence of rows. Files are memory-mapped; read() copies the rows asked for
// into float32, converting float16, bfloat16 and float64 on the way.
//
// Everything wrong is reported with the shard's path and, for values, the
// row: a shard of another width, an empty shard, a .npy that is not a 2-D
// C-order float array, a .safetensors file without exactly one 2-D tensor
// (or one named `activations`), and NaN or infinity in a row read.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "saematch/io/printable.hpp"
#include "saematch/io/safetensors.hpp"

namespace saematch::io {

class ShardError : public std::invalid_argument {
public:
    ShardError(const std::filesystem::path& file, const std::string& problem)
        : std::invalid_argument(printable(file.string() + ": " + problem)) {}
};

namespace detail {

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    float magnitude;
    if (exponent == 0)
        magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal (or zero)
    else if (exponent == 31)
        magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    else
        magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
    std::uint32_t bits;
    std::memcpy(&bits, &magnitude, 4);
    bits |= sign;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

inline float bf16_to_float(std::uint16_t h) {
    const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// "shard_10.npy" after "shard_2.npy": digit runs compare as numbers.
inline bool natural_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t i2 = i, j2 = j;
            while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
            while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
            const auto na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
            const auto ta = na.substr(std::min(na.find_first_not_of('0'), na.size()));
            const auto tb = nb.substr(std::min(nb.find_first_not_of('0'), nb.size()));
            if (ta.size() != tb.size()) return ta.size() < tb.size();
            if (ta != tb) return ta < tb;
            i = i2;
            j = j2;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

}  // namespace detail

class ActivationShards {
public:
    struct Shard {
        std::filesystem::path path;
        std::int64_t rows = 0, first_row = 0;  // first_row: in the whole sequence
        Dtype dtype = Dtype::f32;
        const std::byte* data = nullptr;  // rows x d, row-major
    };

    // `path`: a folder of shards or a single shard file.
    explicit ActivationShards(const std::filesystem::path& path) {
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(path)) {
            for (const auto& entry : std::filesystem::directory_iterator(path)) {
                const auto ext = entry.path().extension();
                if (entry.is_regular_file() && (ext == ".npy" || ext == ".safetensors")) files.push_back(entry.path());
            }
            std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
                return detail::natural_less(a.filename().string(), b.filename().string());
            });
            if (files.empty()) throw ShardError(path, "holds no .npy or .safetensors shards");
        } else if (std::filesystem::is_regular_file(path)) {
            files.push_back(path);
        } else {
            throw ShardError(path, "no such file or folder");
        }
        for (const auto& f : files) open(f);
    }

    std::int64_t d() const { return d_; }
    std::int64_t tokens() const { return tokens_; }
    const std::vector<Shard>& shards() const { return shards_; }

    // Rows [start, start + count) of the sequence into out (count x d).
    void read(std::int64_t start, std::int64_t count, float* out) const {
        if (start < 0 || count < 0 || start + count > tokens_)
            throw std::out_of_range("ActivationShards::read: rows " + std::to_string(start) + " .. " +
                                    std::to_string(start + count) + " outside the " + std::to_string(tokens_) +
                                    " tokens");
        std::int64_t row = start;
        while (row < start + count) {
            const auto it = std::upper_bound(shards_.begin(), shards_.end(), row,
                                             [](std::int64_t r, const Shard& s) { return r < s.first_row; }) -
                            1;
            const Shard& s = *it;
            const std::int64_t local = row - s.first_row;
            const std::int64_t take = std::min(start + count - row, s.rows - local);
            float* dst = out + (row - start) * d_;
            convert(s, local, take, dst);
            for (std::int64_t r = 0; r < take; ++r)
                for (std::int64_t c = 0; c < d_; ++c)
                    if (!std::isfinite(dst[r * d_ + c]))
                        throw ShardError(s.path, "row " + std::to_string(local + r) + ", column " +
                                                     std::to_string(c) + " is NaN or infinite");
            row += take;
        }
    }

private:
    void open(const std::filesystem::path& file) {
        Shard s;
        s.path = file;
        std::int64_t cols = 0;
        if (file.extension() == ".npy")
            open_npy(s, cols);
        else
            open_safetensors(s, cols);
        if (s.rows == 0) throw ShardError(file, "is empty (0 rows)");
        if (d_ == 0) d_ = cols;
        if (cols != d_)
            throw ShardError(file, "has rows of width " + std::to_string(cols) + ", the shards before it " +
                                       std::to_string(d_));
        s.first_row = tokens_;
        tokens_ += s.rows;
        shards_.push_back(s);
    }

    void open_safetensors(Shard& s, std::int64_t& cols) {
        auto f = std::make_shared<SafetensorsFile>(s.path);
        const TensorView* t = nullptr;
        if (f->contains("activations"))
            t = &f->at("activations");
        else if (f->tensors().size() == 1)
            t = &f->tensors().front();
        else
            throw ShardError(s.path, "holds " + std::to_string(f->tensors().size()) +
                                         " tensors and none named 'activations'");
        if (t->shape.size() != 2) throw ShardError(s.path, "tensor '" + t->name + "' is not 2-D (tokens, d)");
        if (t->dtype != Dtype::f32 && t->dtype != Dtype::f16 && t->dtype != Dtype::bf16 && t->dtype != Dtype::f64)
            throw ShardError(s.path, std::string("tensor '") + t->name + "' is " + dtype_name(t->dtype) +
                                         ", not a float type");
        s.rows = t->shape[0];
        cols = t->shape[1];
        s.dtype = t->dtype;
        s.data = t->bytes.data();
        safetensors_.push_back(std::move(f));
    }

    void open_npy(Shard& s, std::int64_t& cols) {
        auto bytes = std::make_shared<detail::FileBytes>(s.path);
        const auto all = bytes->bytes();
        const auto* p = reinterpret_cast<const unsigned char*>(all.data());
        if (all.size() < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) throw ShardError(s.path, "is not a .npy file");
        const int major = p[6];
        std::size_t header_len = 0, offset = 0;
        if (major == 1) {
            header_len = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8);
            offset = 10;
        } else if (major == 2 || major == 3) {
            if (all.size() < 12) throw ShardError(s.path, "truncated .npy header");
            header_len = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8) |
                         (static_cast<std::size_t>(p[10]) << 16) | (static_cast<std::size_t>(p[11]) << 24);
            offset = 12;
        } else {
            throw ShardError(s.path, "unknown .npy version " + std::to_string(major));
        }
        if (offset + header_len > all.size()) throw ShardError(s.path, ".npy header runs past the end of the file");
        const std::string header(reinterpret_cast<const char*>(p + offset), header_len);
        // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }
        const auto field = [&](const std::string& key) {
            const auto at = header.find("'" + key + "'");
            if (at == std::string::npos) throw ShardError(s.path, ".npy header lacks '" + key + "'");
            auto value = header.substr(header.find(':', at) + 1);
            return value.substr(std::min(value.find_first_not_of(' '), value.size()));
        };
        const std::string descr_field = field("descr");
        const auto quote = descr_field.find('\'', 1);
        const std::string descr = descr_field.empty() || descr_field[0] != '\'' || quote == std::string::npos
                                      ? descr_field.substr(0, 8)
                                      : descr_field.substr(1, quote - 1);
        if (descr == "<f4")
            s.dtype = Dtype::f32;
        else if (descr == "<f2")
            s.dtype = Dtype::f16;
        else if (descr == "<f8")
            s.dtype = Dtype::f64;
        else
            throw ShardError(s.path, ".npy dtype '" + descr + "' is not little-endian float16, float32 or float64");
        if (field("fortran_order").rfind("True", 0) == 0)
            throw ShardError(s.path, "is in Fortran order; save it C-ordered");
        const std::string shape = field("shape");
        const auto open_paren = shape.find('('), close_paren = shape.find(')');
        std::vector<std::int64_t> dims;
        std::string inside = shape.substr(open_paren + 1, close_paren - open_paren - 1);
        for (std::size_t at = 0; at < inside.size();) {
            const auto comma = inside.find(',', at);
            const std::string part = inside.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            if (part.find_first_not_of(' ') != std::string::npos) dims.push_back(std::stoll(part));
            if (comma == std::string::npos) break;
            at = comma + 1;
        }
        if (dims.size() != 2) throw ShardError(s.path, "is " + std::to_string(dims.size()) + "-D, not (tokens, d)");
        s.rows = dims[0];
        cols = dims[1];
        const std::size_t data_at = offset + header_len;
        const auto need = static_cast<std::uint64_t>(s.rows) * static_cast<std::uint64_t>(cols) * dtype_size(s.dtype);
        if (all.size() - data_at < need)
            throw ShardError(s.path, "truncated: shape needs " + std::to_string(need) + " bytes of data, the file has " +
                                         std::to_string(all.size() - data_at));
        s.data = all.data() + data_at;
        npy_.push_back(std::move(bytes));
    }

    void convert(const Shard& s, std::int64_t local, std::int64_t rows, float* dst) const {
        const std::int64_t count = rows * d_;
        const std::size_t size = dtype_size(s.dtype);
        const std::byte* src = s.data + static_cast<std::size_t>(local * d_) * size;
        switch (s.dtype) {
            case Dtype::f32: std::memcpy(dst, src, static_cast<std::size_t>(count) * 4); break;
            case Dtype::f64:
                for (std::int64_t i = 0; i < count; ++i) {
                    double v;
                    std::memcpy(&v, src + i * 8, 8);
                    dst[i] = static_cast<float>(v);
                }
                break;
            case Dtype::f16:
            case Dtype::bf16:
                for (std::int64_t i = 0; i < count; ++i) {
                    std::uint16_t h;
                    std::memcpy(&h, src + i * 2, 2);
                    dst[i] = s.dtype == Dtype::f16 ? detail::half_to_float(h) : detail::bf16_to_float(h);
                }
                break;
            default: throw ShardError(s.path, "unsupported dtype");
        }
    }

    std::vector<Shard> shards_;
    std::vector<std::shared_ptr<SafetensorsFile>> safetensors_;  // keep the mappings alive
    std::vector<std::shared_ptr<detail::FileBytes>> npy_;
    std::int64_t d_ = 0, tokens_ = 0;
};

}  // namespace saematch::io
