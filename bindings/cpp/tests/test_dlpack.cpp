// The DLPack overloads (mml_dlpack.hpp) on every formats.json case: bfloat16, float16 and
// float64 scores as DLTensors laid out contiguously, in pitched rows, column-major and with a
// byte offset, int64 and int32 targets; all give the contiguous pointer call's bits. And a
// tensor mml does not take gets mml's own status and detail, with nothing written.

#include <mml_dlpack.hpp>

#include "formats.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace {

using formats::Case;
using formats::same_bits;
using formats::same_bits16;

template <class T>
DLDataType dl_type();
template <>
DLDataType dl_type<float>() { return {kDLFloat, 32, 1}; }
template <>
DLDataType dl_type<double>() { return {kDLFloat, 64, 1}; }
template <>
DLDataType dl_type<mml::bf16>() { return {kDLBfloat, 16, 1}; }
template <>
DLDataType dl_type<mml::f16>() { return {kDLFloat, 16, 1}; }
template <>
DLDataType dl_type<std::int64_t>() { return {kDLInt, 64, 1}; }
template <>
DLDataType dl_type<std::int32_t>() { return {kDLInt, 32, 1}; }

// A CPU DLTensor that owns its shape and strides.
struct Tensor {
  DLTensor t{};
  std::vector<std::int64_t> shape, strides;
  template <class T>
  Tensor(T* data, std::vector<std::int64_t> shape_, std::vector<std::int64_t> strides_,
         std::uint64_t byte_offset = 0)
      : shape(std::move(shape_)), strides(std::move(strides_)) {
    t.data = const_cast<std::remove_const_t<T>*>(data);
    t.device = {kDLCPU, 0};
    t.ndim = static_cast<std::int32_t>(shape.size());
    t.dtype = dl_type<std::remove_const_t<T>>();
    t.shape = shape.empty() ? nullptr : shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
    t.byte_offset = byte_offset;
  }
};

enum class Layout { Contiguous, Pitched, ColumnMajor, Offset };
constexpr Layout kLayouts[] = {Layout::Contiguous, Layout::Pitched, Layout::ColumnMajor,
                               Layout::Offset};

// A matrix of n x c values of T in `layout`, over its own buffer (gaps filled with `filler`).
template <class T>
struct Matrix {
  std::vector<T> buffer;
  std::int64_t row_stride = 0, col_stride = 1;
  std::size_t offset = 0;  // elements, given to DLPack as byte_offset
  std::size_t n, c;
  Matrix(std::size_t n_, std::size_t c_, Layout layout, T filler) : n(n_), c(c_) {
    const auto N = static_cast<std::int64_t>(n), C = static_cast<std::int64_t>(c);
    switch (layout) {
      case Layout::Contiguous: row_stride = C; break;
      case Layout::Pitched: row_stride = C + 3; break;
      case Layout::ColumnMajor: row_stride = 1; col_stride = N; break;
      case Layout::Offset: row_stride = C; offset = 5; break;
    }
    buffer.assign(offset + static_cast<std::size_t>(N * std::max(row_stride, C) + N * C + 1),
                  filler);
  }
  T& at(std::size_t r, std::size_t j) {
    return buffer[offset + r * static_cast<std::size_t>(row_stride) +
                  j * static_cast<std::size_t>(col_stride)];
  }
  void fill_from(const std::vector<T>& rows) {
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t j = 0; j < c; ++j) at(r, j) = rows[r * c + j];
    }
  }
  std::vector<T> rows() {
    std::vector<T> v;
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t j = 0; j < c; ++j) v.push_back(at(r, j));
    }
    return v;
  }
  // A 2-D tensor, or for a one_d case the single row as a 1-D tensor.
  Tensor tensor(bool one_d) {
    const auto N = static_cast<std::int64_t>(n), C = static_cast<std::int64_t>(c);
    if (one_d) return Tensor(buffer.data(), {C}, {col_stride}, offset * sizeof(T));
    return Tensor(buffer.data(), {N, C}, {row_stride, col_stride}, offset * sizeof(T));
  }
};

// The loss's tensor: (n) for none, () for mean and sum.
template <class O>
Tensor loss_tensor(std::vector<O>& v, const Case& k) {
  if (k.reduction == mml::Reduction::None) {
    return Tensor(v.data(), {static_cast<std::int64_t>(v.size())}, {});
  }
  return Tensor(v.data(), {}, {});
}

template <class T>
Tensor target_tensor(std::vector<T>& v, const Case& k) {
  if (k.one_d) return Tensor(v.data(), {}, {});
  return Tensor(v.data(), {static_cast<std::int64_t>(v.size())}, {1});
}

// Runs case k with scores of type S, gradient of type G, targets of type I in every layout.
template <class S, class G, class I, class O>
void check(const Case& k, const std::vector<S>& input, const std::vector<O>& grad_output,
           const std::vector<O>& want_loss, const std::function<void(std::vector<G>&)>& check_grad) {
  const mml::MultiMarginLoss loss(k.options());
  std::vector<I> target(k.target.begin(), k.target.end());
  std::vector<O> go = grad_output;
  for (Layout layout : kLayouts) {
    SCOPED_TRACE(static_cast<int>(layout));
    Matrix<S> in(k.n, k.c, layout, input.empty() ? S{} : input[0]);
    in.fill_from(input);
    Matrix<G> grad(k.n, k.c, layout, G{});
    Tensor tin = in.tensor(k.one_d), tgrad = grad.tensor(k.one_d);
    Tensor tt = target_tensor(target, k);
    Tensor tgo = loss_tensor(go, k);
    std::vector<O> out(want_loss.size(), O(42));
    Tensor tout = loss_tensor(out, k);
    loss.forward(tin.t, tt.t, tout.t);
    EXPECT_TRUE(same_bits(out, want_loss));
    loss.backward(tin.t, tt.t, tgo.t, tgrad.t);
    std::vector<G> g = grad.rows();
    check_grad(g);
    std::fill(out.begin(), out.end(), O(42));
    Matrix<G> grad2(k.n, k.c, layout, G{});
    Tensor tgrad2 = grad2.tensor(k.one_d);
    loss.forward_backward(tin.t, tt.t, tgo.t, tout.t, tgrad2.t);
    EXPECT_TRUE(same_bits(out, want_loss));
    std::vector<G> g2 = grad2.rows();
    check_grad(g2);
  }
}

template <class H, class I>
void check_half(const Case& k) {
  const std::vector<H> input = k.input_half<H>();
  check<H, H, I, float>(k, input, k.grad_output_f32, k.forward_f32,
                        [&](std::vector<H>& g) { EXPECT_TRUE(same_bits16(g, k.grad_input_bits)); });
  check<H, float, I, float>(k, input, k.grad_output_f32, k.forward_f32,
                            [&](std::vector<float>& g) { EXPECT_TRUE(same_bits(g, k.grad_input_f32)); });
}

TEST(DLPack, EveryFormatsCaseInEveryLayout) {
  REQUIRE_FORMATS(all);
  for (const Case& k : *all) {
    SCOPED_TRACE(k.name);
    if (k.dtype == "bfloat16") {
      check_half<mml::bf16, std::int64_t>(k);
      check_half<mml::bf16, std::int32_t>(k);
    } else if (k.dtype == "float16") {
      check_half<mml::f16, std::int64_t>(k);
      check_half<mml::f16, std::int32_t>(k);
    } else {
      const auto grad = [&](std::vector<double>& g) { EXPECT_TRUE(same_bits(g, k.grad_input_f64)); };
      check<double, double, std::int64_t, double>(k, k.input_f64, k.grad_output_f64,
                                                  k.forward_f64, grad);
      check<double, double, std::int32_t, double>(k, k.input_f64, k.grad_output_f64,
                                                  k.forward_f64, grad);
    }
  }
}

// A tensor mml does not take: mml's status and detail, nothing written.
TEST(DLPack, RefusedTensorsCarryTheLibrarysDetail) {
  const mml::MultiMarginLoss loss;
  std::vector<float> scores = {0.5f, 1.5f, -1.0f, 2.0f, 0.0f, 1.0f};
  std::vector<std::int64_t> target = {0, 2};
  std::vector<float> out(1, 42.0f);
  Tensor in(scores.data(), {2, 3}, {});
  Tensor t(target.data(), {2}, {});
  Tensor o(out.data(), {}, {});
  // Another device.
  Tensor gpu = in;
  gpu.t.shape = gpu.shape.data();
  gpu.t.device = {kDLCUDA, 0};
  try {
    loss.forward(gpu.t, t.t, o.t);
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::UnsupportedTensor) << e.what();
    EXPECT_EQ(e.argument(), mml::Argument::Input) << e.what();
    EXPECT_FALSE(e.detail().message.empty());
  }
  EXPECT_EQ(out[0], 42.0f);
  // A target out of range: its row and value.
  target[1] = 3;
  try {
    loss.forward(in.t, t.t, o.t);
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::TargetOutOfRange) << e.what();
    EXPECT_EQ(e.detail().row, 1u);
    EXPECT_EQ(e.detail().value, 3);
    EXPECT_NE(e.detail().message.find("target[1] = 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(out[0], 42.0f);
}

}  // namespace
