// Error messages quote what they found in a file (a JSON parser's "last
// read" bytes, a field's value), and a file may hold anything. Python turns a
// C++ exception's message into a str, and a message that is not valid UTF-8
// becomes a bare UnicodeDecodeError there, losing the file's name and the
// problem. So every message built from file contents goes through
// printable(): valid UTF-8 passes unchanged (non-ASCII paths stay readable),
// every byte that is not part of a valid sequence, and every control
// character but newline and tab, becomes \xNN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace saematch::io {

namespace detail {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
inline std::size_t utf8_sequence(const std::string& s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
    return len;
}

}  // namespace detail

inline std::string printable(const std::string& s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = detail::utf8_sequence(s, i);
        if (len == 0 || (len == 1 && (c < 0x20 || c == 0x7f) && c != '\n' && c != '\t')) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
            ++i;
        } else {
            out.append(s, i, len);
            i += len;
        }
    }
    return out;
}

}  // namespace saematch::io
