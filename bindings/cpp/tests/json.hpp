// A minimal JSON reader for the golden data: objects, arrays, strings (with the usual escapes),
// numbers, true, false, null. Numbers keep their source text, so that the caller parses each
// field in its own precision (strtof for float32 fields, strtod for float64 ones) and gets the
// correctly rounded value, not a double rounded a second time to float.

#ifndef MML_TEST_JSON_HPP
#define MML_TEST_JSON_HPP

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // the number's source text, or the string's contents
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool is_null() const { return kind == Kind::Null; }

  const Value& operator[](const std::string& key) const {
    if (kind != Kind::Object) throw std::runtime_error("json: not an object (key " + key + ")");
    auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error("json: missing key " + key);
    return it->second;
  }
  bool has(const std::string& key) const {
    return kind == Kind::Object && object.count(key) != 0;
  }
  const std::vector<Value>& items() const {
    if (kind != Kind::Array) throw std::runtime_error("json: not an array");
    return array;
  }
  const std::string& str() const {
    if (kind != Kind::String) throw std::runtime_error("json: not a string");
    return text;
  }
  bool as_bool() const {
    if (kind != Kind::Bool) throw std::runtime_error("json: not a boolean");
    return boolean;
  }

  // A number, or one of the strings "nan", "inf", "-inf", in precision T (float or double),
  // correctly rounded from the decimal text.
  template <class T>
  T as() const {
    if (kind == Kind::String) {
      if (text == "nan") return std::numeric_limits<T>::quiet_NaN();
      if (text == "inf") return std::numeric_limits<T>::infinity();
      if (text == "-inf") return -std::numeric_limits<T>::infinity();
      throw std::runtime_error("json: not a number: \"" + text + "\"");
    }
    if (kind != Kind::Number) throw std::runtime_error("json: not a number");
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    T value;
    if constexpr (std::is_same_v<T, float>) {
      value = std::strtof(begin, &end);
    } else {
      value = static_cast<T>(std::strtod(begin, &end));
    }
    // ERANGE on underflow still yields the correctly rounded subnormal/zero: accept it.
    if (end != begin + text.size()) throw std::runtime_error("json: bad number " + text);
    return value;
  }
  template <class T>
  std::vector<T> as_vector() const {
    std::vector<T> out;
    out.reserve(items().size());
    for (const Value& v : items()) out.push_back(v.as<T>());
    return out;
  }
};

class Parser {
 public:
  explicit Parser(const std::string& source) : s_(source) {}

  Value parse() {
    Value v = value();
    skip_ws();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("json: " + what + " at offset " + std::to_string(i_));
  }
  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
      ++i_;
    }
  }
  char peek() {
    skip_ws();
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) == 0) {
      i_ += w.size();
      return true;
    }
    return false;
  }

  Value value() {
    Value v;
    const char c = peek();
    if (c == '{') {
      v.kind = Value::Kind::Object;
      ++i_;
      if (peek() == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        if (peek() != '"') fail("expected a key");
        std::string key = string();
        expect(':');
        v.object.emplace(std::move(key), value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::Array;
      ++i_;
      if (peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.array.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.text = string();
      return v;
    }
    if (literal("true")) {
      v.kind = Value::Kind::Bool;
      v.boolean = true;
      return v;
    }
    if (literal("false")) {
      v.kind = Value::Kind::Bool;
      return v;
    }
    if (literal("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      const std::size_t start = i_;
      ++i_;
      while (i_ < s_.size() && ((s_[i_] >= '0' && s_[i_] <= '9') || s_[i_] == '.' ||
                                s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' ||
                                s_[i_] == '-')) {
        ++i_;
      }
      v.kind = Value::Kind::Number;
      v.text = s_.substr(start, i_ - start);
      return v;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("bad escape");
      c = s_[i_++];
      switch (c) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("bad \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          // Names in the golden data are ASCII; keep anything else as UTF-8 (BMP only).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

inline Value parse(const std::string& source) { return Parser(source).parse(); }

}  // namespace json

#endif  // MML_TEST_JSON_HPP
