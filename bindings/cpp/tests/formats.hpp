// The cases of tests/data/formats.json (tests/data/README.md): bfloat16 and float16 scores with
// PyTorch autocast's float32 loss and gradient (and the gradient rounded to the scores' type),
// and float64 cases with float64 weights. Shared by test_formats.cpp and test_dlpack.cpp.
#pragma once

#include <mml.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "json.hpp"

#ifndef MML_GOLDEN_DIR
#define MML_GOLDEN_DIR ""
#endif

namespace formats {

struct Case {
  std::string name, dtype;  // "bfloat16", "float16" or "float64"
  std::size_t n = 0, c = 0;
  bool one_d = false;
  std::uint32_t p = 1;
  double margin = 1.0;
  mml::Reduction reduction = mml::Reduction::Mean;
  bool has_weight = false;
  std::vector<double> weight;  // float32 values for the half cases, doubles for float64
  std::vector<std::int64_t> target;
  // Half cases.
  std::vector<std::uint16_t> input_bits, grad_input_bits;
  std::vector<float> input_f32, grad_output_f32, forward_f32, grad_input_f32;
  // float64 cases.
  std::vector<double> input_f64, grad_output_f64, forward_f64, grad_input_f64;

  bool half() const { return dtype != "float64"; }
  // The loss these cases were computed with: float32 weights for half scores, float64 weights
  // (mml_create_f64) for float64 ones.
  mml::Options options() const {
    mml::Options o{p, margin, {}, reduction};
    if (has_weight && half()) o.weight.assign(weight.begin(), weight.end());
    if (has_weight && !half()) o.weight_f64 = weight;
    return o;
  }
  std::vector<std::int32_t> target32() const { return {target.begin(), target.end()}; }
  template <class H>
  std::vector<H> input_half() const {
    std::vector<H> v;
    for (std::uint16_t b : input_bits) v.push_back(H::from_bits(b));
    return v;
  }
};

inline std::string path() {
  const char* env = std::getenv("MML_GOLDEN_DIR");
  return std::string(env != nullptr && *env != '\0' ? env : MML_GOLDEN_DIR) + "/formats.json";
}

inline mml::Reduction reduction(const std::string& s) {
  if (s == "none") return mml::Reduction::None;
  if (s == "mean") return mml::Reduction::Mean;
  if (s == "sum") return mml::Reduction::Sum;
  throw std::runtime_error("unknown reduction " + s);
}

template <class T>
std::vector<T> integers(const json::Value& v) {
  std::vector<T> out;
  for (const json::Value& x : v.items()) out.push_back(static_cast<T>(std::stoll(x.text)));
  return out;
}

// Every case, or nullptr when the file cannot be read. Parsed once.
inline const std::vector<Case>* cases() {
  static const std::pair<bool, std::vector<Case>> loaded = [] {
    std::ifstream file(path(), std::ios::binary);
    if (!file) return std::make_pair(false, std::vector<Case>{});
    std::stringstream buffer;
    buffer << file.rdbuf();
    std::vector<Case> all;
    const json::Value root = json::parse(buffer.str());
    for (const json::Value& v : root.items()) {
      Case k;
      k.name = v["name"].str();
      k.dtype = v["dtype"].str();
      k.n = static_cast<std::size_t>(std::stoull(v["n"].text));
      k.c = static_cast<std::size_t>(std::stoull(v["c"].text));
      k.one_d = v["one_d"].as_bool();
      k.p = static_cast<std::uint32_t>(std::stoul(v["p"].text));
      k.margin = v["margin"].as<double>();
      k.reduction = reduction(v["reduction"].str());
      k.target = integers<std::int64_t>(v["target"]);
      k.has_weight = !v["weight"].is_null();
      if (k.half()) {
        if (k.has_weight) {
          for (float w : v["weight"].as_vector<float>()) k.weight.push_back(w);
        }
        k.input_bits = integers<std::uint16_t>(v["input_bits"]);
        k.grad_input_bits = integers<std::uint16_t>(v["grad_input_bits"]);
        k.input_f32 = v["input"].as_vector<float>();
        k.grad_output_f32 = v["grad_output"].as_vector<float>();
        k.forward_f32 = v["forward"].as_vector<float>();
        k.grad_input_f32 = v["grad_input_f32"].as_vector<float>();
      } else {
        if (k.has_weight) k.weight = v["weight"].as_vector<double>();
        k.input_f64 = v["input"].as_vector<double>();
        k.grad_output_f64 = v["grad_output"].as_vector<double>();
        k.forward_f64 = v["forward"].as_vector<double>();
        k.grad_input_f64 = v["grad_input_f64"].as_vector<double>();
      }
      const std::size_t inputs = k.half() ? k.input_bits.size() : k.input_f64.size();
      if (inputs != k.n * k.c || k.target.size() != k.n) {
        throw std::runtime_error("formats case " + k.name + " has inconsistent lengths");
      }
      all.push_back(std::move(k));
    }
    return std::make_pair(true, std::move(all));
  }();
  return loaded.first ? &loaded.second : nullptr;
}

// The cases, failing the test (never skipping it) when the file is missing; and checking that
// every kind is there (51 bfloat16, 51 float16, 36 float64).
#define REQUIRE_FORMATS(all)                                                                 \
  const std::vector<formats::Case>* all = formats::cases();                                  \
  if (all == nullptr) FAIL() << "formats data not readable at " << formats::path();          \
  ASSERT_EQ(all->size(), 138u) << formats::path()

// Bit equality; an expected NaN ("nan" in the file, no sign or payload) matches any NaN.
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "length " << got.size() << ", expected " << want.size();
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << std::hexfloat << got[i] << ", expected " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// Exact 16-bit patterns (PyTorch's rounding fixes every NaN's bits too).
template <class H>
::testing::AssertionResult same_bits16(const std::vector<H>& got,
                                       const std::vector<std::uint16_t>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "length " << got.size() << ", expected " << want.size();
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].bits != want[i]) {
      return ::testing::AssertionFailure() << "element " << i << ": got 0x" << std::hex
                                           << got[i].bits << ", expected 0x" << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace formats
