// formats.json through the C++ binding: bfloat16 and float16 scores (mml::bf16, mml::f16) with
// the float32 loss, the float32 gradient and the gradient rounded to the scores' type; float64
// scores with float64 weights (Options::weight_f64); int32 targets and pitched rows giving the
// same bits; and mml's own error detail.

#include "formats.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>

namespace {

using formats::Case;
using formats::same_bits;
using formats::same_bits16;

template <class H>
void check_half(const Case& k) {
  const mml::MultiMarginLoss loss(k.options());
  const std::vector<H> input = k.input_half<H>();
  const std::vector<std::int32_t> t32 = k.target32();
  const std::size_t n = k.n, c = k.c, nc = n * c;

  // Allocating overloads: the float32 loss, the gradient rounded to H.
  EXPECT_TRUE(same_bits(loss.forward(input, k.target, c), k.forward_f32));
  EXPECT_TRUE(same_bits(loss.forward(input, t32, c), k.forward_f32));
  EXPECT_TRUE(same_bits16(loss.backward(input, k.target, c, k.grad_output_f32), k.grad_input_bits));
  EXPECT_TRUE(same_bits16(loss.backward(input, t32, c, k.grad_output_f32), k.grad_input_bits));
  const auto fb = loss.forward_backward(input, t32, c, k.grad_output_f32);
  EXPECT_TRUE(same_bits(fb.output, k.forward_f32));
  EXPECT_TRUE(same_bits16(fb.grad_input, k.grad_input_bits));

  // Into caller buffers: the float32 gradient, and the rounded one.
  std::vector<float> out(k.forward_f32.size(), 42.0f), grad32(nc, 42.0f);
  std::vector<H> grad16(nc, H::from_bits(0x1234));
  loss.forward(input, k.target, c, mml::span<float>(out));
  EXPECT_TRUE(same_bits(out, k.forward_f32));
  loss.backward(input, t32, c, k.grad_output_f32, mml::span<float>(grad32));
  EXPECT_TRUE(same_bits(grad32, k.grad_input_f32));
  std::fill(out.begin(), out.end(), 42.0f);
  std::fill(grad32.begin(), grad32.end(), 42.0f);
  loss.forward_backward(input, k.target, c, k.grad_output_f32, mml::span<float>(out),
                        mml::span<float>(grad32));
  EXPECT_TRUE(same_bits(out, k.forward_f32));
  EXPECT_TRUE(same_bits(grad32, k.grad_input_f32));
  loss.forward_backward(input, t32, c, k.grad_output_f32, mml::span<float>(out),
                        mml::span<H>(grad16));
  EXPECT_TRUE(same_bits16(grad16, k.grad_input_bits));

  // Pitched rows: each row inside a wider one (the rest NaN), the gradient into rows of another
  // pitch; the gaps keep their bytes.
  const std::size_t pitch = c + 5, grad_pitch = c + 3;
  const H filler = H::from_bits(0x7E01);
  std::vector<H> wide(n == 0 ? 0 : (n - 1) * pitch + c, filler);
  for (std::size_t r = 0; r < n; ++r) {
    std::copy(input.begin() + static_cast<std::ptrdiff_t>(r * c),
              input.begin() + static_cast<std::ptrdiff_t>((r + 1) * c),
              wide.begin() + static_cast<std::ptrdiff_t>(r * pitch));
  }
  std::vector<H> wide_grad(n * grad_pitch, filler);
  std::vector<float> wide_grad32(n * grad_pitch, 42.0f);
  std::fill(out.begin(), out.end(), 42.0f);
  loss.forward(wide.data(), pitch, t32.data(), n, c, out.data(), out.size());
  EXPECT_TRUE(same_bits(out, k.forward_f32));
  loss.backward(wide.data(), pitch, k.target.data(), n, c, k.grad_output_f32.data(),
                k.grad_output_f32.size(), wide_grad.data(), grad_pitch);
  std::fill(out.begin(), out.end(), 42.0f);
  loss.forward_backward(wide.data(), pitch, t32.data(), n, c, k.grad_output_f32.data(),
                        k.grad_output_f32.size(), out.data(), out.size(), wide_grad32.data(),
                        grad_pitch);
  EXPECT_TRUE(same_bits(out, k.forward_f32));
  std::vector<H> rows16;
  std::vector<float> rows32;
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < grad_pitch; ++j) {
      if (j < c) {
        rows16.push_back(wide_grad[r * grad_pitch + j]);
        rows32.push_back(wide_grad32[r * grad_pitch + j]);
      } else {
        EXPECT_EQ(wide_grad[r * grad_pitch + j].bits, filler.bits) << "gap written";
        EXPECT_EQ(wide_grad32[r * grad_pitch + j], 42.0f) << "gap written";
      }
    }
  }
  EXPECT_TRUE(same_bits16(rows16, k.grad_input_bits));
  EXPECT_TRUE(same_bits(rows32, k.grad_input_f32));
}

void check_f64(const Case& k) {
  const mml::MultiMarginLoss loss(k.options());
  const std::vector<std::int32_t> t32 = k.target32();
  const std::size_t n = k.n, c = k.c;
  EXPECT_TRUE(same_bits(loss.forward(k.input_f64, k.target, c), k.forward_f64));
  EXPECT_TRUE(same_bits(loss.forward(k.input_f64, t32, c), k.forward_f64));
  EXPECT_TRUE(same_bits(loss.backward(k.input_f64, k.target, c, k.grad_output_f64),
                        k.grad_input_f64));
  EXPECT_TRUE(same_bits(loss.backward(k.input_f64, t32, c, k.grad_output_f64), k.grad_input_f64));
  const auto fb = loss.forward_backward(k.input_f64, t32, c, k.grad_output_f64);
  EXPECT_TRUE(same_bits(fb.output, k.forward_f64));
  EXPECT_TRUE(same_bits(fb.grad_input, k.grad_input_f64));
  // The C-shaped pointer overloads.
  std::vector<double> out(k.forward_f64.size(), 42.0), grad(n * c, 42.0);
  loss.forward_backward(k.input_f64.data(), k.target.data(), n, c, k.grad_output_f64.data(),
                        k.grad_output_f64.size(), out.data(), out.size(), grad.data(),
                        grad.size());
  EXPECT_TRUE(same_bits(out, k.forward_f64));
  EXPECT_TRUE(same_bits(grad, k.grad_input_f64));
  // Pitched rows.
  const std::size_t pitch = 2 * c + 1;
  std::vector<double> wide(n * pitch, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t r = 0; r < n; ++r) {
    std::copy(k.input_f64.begin() + static_cast<std::ptrdiff_t>(r * c),
              k.input_f64.begin() + static_cast<std::ptrdiff_t>((r + 1) * c),
              wide.begin() + static_cast<std::ptrdiff_t>(r * pitch));
  }
  std::vector<double> wide_grad(n * pitch, 42.0);
  std::fill(out.begin(), out.end(), 42.0);
  loss.forward_backward(wide.data(), pitch, t32.data(), n, c, k.grad_output_f64.data(),
                        k.grad_output_f64.size(), out.data(), out.size(), wide_grad.data(),
                        pitch);
  EXPECT_TRUE(same_bits(out, k.forward_f64));
  std::vector<double> rows;
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < pitch; ++j) {
      if (j < c) {
        rows.push_back(wide_grad[r * pitch + j]);
      } else {
        EXPECT_EQ(wide_grad[r * pitch + j], 42.0) << "gap written";
      }
    }
  }
  EXPECT_TRUE(same_bits(rows, k.grad_input_f64));
}

TEST(Formats, EveryHalfCaseBitForBit) {
  REQUIRE_FORMATS(all);
  std::size_t bf = 0, h = 0;
  for (const Case& k : *all) {
    SCOPED_TRACE(k.name);
    if (k.dtype == "bfloat16") {
      check_half<mml::bf16>(k);
      ++bf;
    } else if (k.dtype == "float16") {
      check_half<mml::f16>(k);
      ++h;
    }
  }
  EXPECT_EQ(bf, 51u);
  EXPECT_EQ(h, 51u);
}

TEST(Formats, EveryFloat64CaseBitForBit) {
  REQUIRE_FORMATS(all);
  std::size_t count = 0;
  for (const Case& k : *all) {
    if (k.dtype != "float64") continue;
    SCOPED_TRACE(k.name);
    check_f64(k);
    ++count;
  }
  EXPECT_EQ(count, 36u);
}

// float64 weights matter: rounded to float (Options::weight), the float64 cases with weights
// differ from PyTorch's float64 result somewhere.
TEST(Formats, Float64WeightsAreUsedAsGiven) {
  REQUIRE_FORMATS(all);
  std::size_t differ = 0;
  for (const Case& k : *all) {
    if (k.dtype != "float64" || !k.has_weight) continue;
    mml::Options rounded = k.options();
    rounded.weight.assign(rounded.weight_f64.begin(), rounded.weight_f64.end());
    rounded.weight_f64.clear();
    const mml::MultiMarginLoss loss(rounded);
    if (!same_bits(loss.forward(k.input_f64, k.target, k.c), k.forward_f64)) ++differ;
  }
  EXPECT_GT(differ, 0u);
}

// mml::bf16 / mml::f16 conversions: widening matches the file's float32 copy of every score,
// narrowing (round to nearest even) the file's rounded gradient, and every non-NaN pattern
// survives a round trip.
TEST(Formats, HalfConversionsMatchPyTorch) {
  REQUIRE_FORMATS(all);
  for (const Case& k : *all) {
    if (!k.half()) continue;
    SCOPED_TRACE(k.name);
    for (std::size_t i = 0; i < k.input_bits.size(); ++i) {
      const float wide = k.dtype == "bfloat16" ? mml::bf16{k.input_bits[i]}.to_float()
                                               : mml::f16{k.input_bits[i]}.to_float();
      EXPECT_TRUE(same_bits(std::vector<float>{wide}, std::vector<float>{k.input_f32[i]}));
    }
    for (std::size_t i = 0; i < k.grad_input_f32.size(); ++i) {
      const std::uint16_t narrow = k.dtype == "bfloat16"
                                       ? mml::bf16::from_float(k.grad_input_f32[i]).bits
                                       : mml::f16::from_float(k.grad_input_f32[i]).bits;
      EXPECT_EQ(narrow, k.grad_input_bits[i]) << "element " << i;
    }
  }
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const bool bf_nan = (bits & 0x7FFF) > 0x7F80, h_nan = (bits & 0x7FFF) > 0x7C00;
    if (!bf_nan) {
      ASSERT_EQ(mml::bf16::from_float(mml::bf16{bits}.to_float()).bits, bits);
    }
    if (!h_nan) {
      ASSERT_EQ(mml::f16::from_float(mml::f16{bits}.to_float()).bits, bits);
    }
  }
  // Ties to even, overflow, the smallest subnormal and below it.
  EXPECT_EQ(mml::bf16::from_float(1.00390625f).bits, 0x3F80);    // halfway: down to even
  EXPECT_EQ(mml::bf16::from_float(1.01171875f).bits, 0x3F82);    // halfway: up to even
  EXPECT_EQ(mml::f16::from_float(65520.0f).bits, 0x7C00);        // rounds to infinity
  EXPECT_EQ(mml::f16::from_float(65519.0f).bits, 0x7BFF);        // the largest finite
  EXPECT_EQ(mml::f16::from_float(5.9604644775390625e-8f).bits, 0x0001);
  EXPECT_EQ(mml::f16::from_float(2.98023223876953125e-8f).bits, 0x0000);  // tie to even: 0
  EXPECT_EQ(mml::f16::from_float(-3.0e-8f).bits, 0x8001);
  EXPECT_EQ(mml::f16::from_float(-std::numeric_limits<float>::quiet_NaN()).bits, 0xFE00);
  EXPECT_EQ(mml::bf16::from_float(-std::numeric_limits<float>::quiet_NaN()).bits, 0x7FC0);
}

// Errors carry mml's own detail: the argument, the bad row and value, mml's message.
TEST(Formats, ErrorsCarryTheLibrarysDetail) {
  const mml::MultiMarginLoss loss;
  const std::vector<mml::bf16> input(6, mml::bf16::from_float(0.5f));
  const std::vector<std::int32_t> target = {0, 7};
  std::vector<float> out(1, 42.0f);
  try {
    loss.forward(input, target, 3, mml::span<float>(out));
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::TargetOutOfRange);
    EXPECT_EQ(e.argument(), mml::Argument::Target);
    EXPECT_EQ(e.detail().row, 1u);
    EXPECT_EQ(e.detail().value, 7);
    ASSERT_TRUE(e.bad_target().has_value());
    EXPECT_EQ(e.bad_target()->row, 1u);
    EXPECT_NE(e.detail().message.find("target[1] = 7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(e.detail().message), std::string::npos) << e.what();
  }
  EXPECT_EQ(out[0], 42.0f);
  // A pitch below c is the library's InvalidLayout, about the input.
  const std::vector<std::int64_t> t64 = {0, 1};
  try {
    loss.forward(input.data(), 2, t64.data(), 2, 3, out.data(), 1);
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::InvalidLayout) << e.what();
    EXPECT_EQ(e.argument(), mml::Argument::Input) << e.what();
    EXPECT_FALSE(e.detail().message.empty());
  }
  // A wrong output length: expected and actual lengths from mml.
  std::vector<float> two(2, 42.0f);
  try {
    loss.forward(input, t64, 3, mml::span<float>(two));
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::ShapeMismatch) << e.what();
    EXPECT_EQ(e.argument(), mml::Argument::Output);
    EXPECT_EQ(e.detail().expected, 1u);
    EXPECT_EQ(e.detail().actual, 2u);
  }
  EXPECT_EQ(two[0], 42.0f);
}

}  // namespace
