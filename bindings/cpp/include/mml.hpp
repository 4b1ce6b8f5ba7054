// mml.hpp: header-only C++17 binding of mml, PyTorch-exact MultiMarginLoss.
//
// A thin, zero-copy layer over the C ABI in mml.h: RAII ownership of the handle, exceptions
// instead of status codes, overloads for pointer + size, std::vector and spans, for float,
// double, bfloat16 and float16 scores and int64 or int32 targets.
//
//     #include <mml.hpp>
//
//     mml::MultiMarginLoss loss(mml::Options{/*p=*/2, /*margin=*/1.0});   // reduction: Mean
//     std::vector<float> scores(n * c);
//     std::vector<int64_t> target(n);
//     auto r = loss.forward_backward(scores, target, c);   // r.output[0], r.grad_input (n*c)
//
// Shapes. Input is n x c scores, row-major, as one flat buffer. The span and vector overloads
// take n from `target.size()` and `c` explicitly, and check `input.size() == n * c` (and
// grad_input's) before calling mml; the pointer overloads mirror the C functions argument for
// argument. In both, an n * c too large for memory is Status::InvalidArgument, as the C library
// reports it.
//
// Types. Scores: float, double, mml::bf16 or mml::f16 (16-bit storage structs below); targets:
// std::int64_t or std::int32_t. The loss and grad_output are float (double for double scores);
// the gradient is of the scores' type (half scores: the float gradient rounded to nearest even,
// as PyTorch's autocast returns it) or, into a float buffer, the float gradient itself. The
// typed pointer overloads take a row pitch (`forward(input, input_pitch, target, n, c, ...)`):
// rows further apart than c run at full speed. <mml_dlpack.hpp> adds DLTensor overloads.
//
// Errors. Every failure throws mml::Error (a std::runtime_error) carrying the mml::Status,
// mml's own detail (Error::detail(): the argument at fault, expected and actual lengths, the
// bad target's row and value, mml's message) and a message "<function>: <status text>: <mml's
// message>". The binding computes nothing of it: every call goes to mml's typed entry points
// with an MmlError, except the C-shaped overloads that take grad_input_len, which call the
// untyped ones and ask mml_explain. The binding's own checks are the lengths only it knows
// (a span's input, and grad_input, must hold n * c values). On any error nothing has been
// written to the output buffers.
//
// Thread safety. A MultiMarginLoss is immutable after construction and every compute method is
// const: one object (e.g. a `const MultiMarginLoss&`) may be used by any number of threads at
// once without locking. Moving, assigning or destroying an object while another thread uses it
// is a data race, as for any C++ object. set_num_threads() is process-wide and may be called at
// any time; results never depend on the thread count.

// Below C++17 the header says so and compiles nothing else: the include guard is defined
// early, so the compiler reports this one line instead of errors deep inside the header.
// (MSVC reports the standard in _MSVC_LANG; __cplusplus stays 199711L without /Zc:__cplusplus.)
#if !defined(MML_HPP) && (!defined(__cplusplus) || (__cplusplus < 201703L && \
    (!defined(_MSVC_LANG) || _MSVC_LANG < 201703L)))
#error "mml.hpp requires C++17 or later (e.g. -std=c++17, /std:c++17); from C or older C++, include <mml.h>"
#define MML_HPP
#endif

#ifndef MML_HPP
#define MML_HPP

#include <mml.h>
#ifdef MML_HPP_DLPACK
#include <mml_dlpack.h>  // mml_dlpack.hpp asked for the DLPack overloads
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__has_include)
#if __has_include(<version>)
#include <version>
#endif
#endif
// Under C++20, mml::span converts to and from std::span (see below).
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#endif
#if defined(__cpp_lib_ranges) && __cpp_lib_ranges >= 201911L
#include <ranges>
#endif

namespace mml {

// ---------------------------------------------------------------------------------------------
// Spans: a minimal std::span<T> (dynamic extent), the same class under C++17 and C++20, so that
// both accept the same construction expressions and translation units of either standard see
// one definition. A span<T> is made from a pointer and a size (`span<const float>(nullptr, 0)`
// is the empty span), a C array, std::array or any contiguous container with std::data and
// std::size (std::vector, std::string, std::span, ...); span<const T> also from rvalue
// containers and from span<T>. Under C++20 a std::span (also an rvalue) converts to mml::span,
// and an mml::span to std::span (it is a contiguous, sized, borrowed range).

namespace detail {
template <class C, class T, class = void>
struct is_compatible_container : std::false_type {};
template <class C, class T>
struct is_compatible_container<
    C, T,
    std::void_t<decltype(std::data(std::declval<C&>())), decltype(std::size(std::declval<C&>()))>>
    : std::is_convertible<std::remove_pointer_t<decltype(std::data(std::declval<C&>()))> (*)[],
                          T (*)[]> {};
// Views whose elements outlive them: an rvalue of one may give a span<T> of non-const T.
template <class C>
struct is_borrowed_view : std::false_type {};
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
template <class U, std::size_t E>
struct is_borrowed_view<std::span<U, E>> : std::true_type {};
#endif
}  // namespace detail

template <class T>
class span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using const_pointer = const T*;
  using reference = T&;
  using const_reference = const T&;
  using iterator = T*;

  constexpr span() noexcept = default;
  constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <std::size_t N>
  constexpr span(T (&array)[N]) noexcept : data_(array), size_(N) {}
  template <class C,
            class D = std::remove_cv_t<std::remove_reference_t<C>>,
            class = std::enable_if_t<
                !std::is_same_v<D, span> && !std::is_array_v<D> &&
                detail::is_compatible_container<std::remove_reference_t<C>, T>::value &&
                (std::is_lvalue_reference_v<C> || std::is_const_v<T> ||
                 detail::is_borrowed_view<D>::value)>>
  constexpr span(C&& container) noexcept(noexcept(std::data(container)))
      : data_(std::data(container)), size_(std::size(container)) {}
  template <class U, class = std::enable_if_t<!std::is_same_v<U, T> &&
                                              std::is_convertible_v<U (*)[], T (*)[]>>>
  constexpr span(const span<U>& other) noexcept : data_(other.data()), size_(other.size()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  constexpr T& front() const noexcept { return data_[0]; }
  constexpr T& back() const noexcept { return data_[size_ - 1]; }
  constexpr span first(std::size_t count) const noexcept { return {data_, count}; }
  constexpr span last(std::size_t count) const noexcept { return {data_ + size_ - count, count}; }
  constexpr span subspan(std::size_t offset, std::size_t count) const noexcept {
    return {data_ + offset, count};
  }
  constexpr span subspan(std::size_t offset) const noexcept {
    return {data_ + offset, size_ - offset};
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// As std::span's: mml::span(v) is a span<float> for a std::vector<float> v, a span<const float>
// for a const one (pointer + size and C arrays deduce through the constructors).
template <class C>
span(C&&) -> span<std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>>;

// ---------------------------------------------------------------------------------------------
// Enumerations, errors and free functions.

// How the per-sample losses are combined (PyTorch's `reduction`).
enum class Reduction : std::uint32_t {
  None = MML_REDUCTION_NONE,  // n values, one per sample
  Mean = MML_REDUCTION_MEAN,  // one value: the sum divided by n
  Sum = MML_REDUCTION_SUM,    // one value: the sum
};

// The status codes of the C ABI.
enum class Status : std::uint32_t {
  Ok = MML_STATUS_OK,
  NullPointer = MML_STATUS_NULL_POINTER,
  InvalidArgument = MML_STATUS_INVALID_ARGUMENT,
  ShapeMismatch = MML_STATUS_SHAPE_MISMATCH,
  TargetOutOfRange = MML_STATUS_TARGET_OUT_OF_RANGE,
  AliasedBuffers = MML_STATUS_ALIASED_BUFFERS,
  InternalError = MML_STATUS_INTERNAL_ERROR,
  // The library could not allocate memory (in the constructor, for its copy of the weights).
  // Nothing was written to the outputs.
  OutOfMemory = MML_STATUS_OUT_OF_MEMORY,
  // A dtype, device, lanes or ndim mml does not take (the typed and DLPack calls).
  UnsupportedTensor = MML_STATUS_UNSUPPORTED_TENSOR,
  // A stride or pitch that overflows, or a pitch below c.
  InvalidLayout = MML_STATUS_INVALID_LAYOUT,
};

// Which argument a failure is about (MML_ARG_*, the library's MmlError::argument).
enum class Argument : std::uint32_t {
  None = MML_ARG_NONE,
  Loss = MML_ARG_LOSS,
  Input = MML_ARG_INPUT,
  Target = MML_ARG_TARGET,
  Weight = MML_ARG_WEIGHT,
  Output = MML_ARG_OUTPUT,
  GradOutput = MML_ARG_GRAD_OUTPUT,
  GradInput = MML_ARG_GRAD_INPUT,
  P = MML_ARG_P,
  Reduction = MML_ARG_REDUCTION,
  Classes = MML_ARG_CLASSES,
  Dtype = MML_ARG_DTYPE,
  Error = MML_ARG_ERROR,  // the MmlError itself overlaps a buffer of the call
};

// The library's static English text for a status (any value, known or not).
inline const char* status_message(Status status) noexcept {
  return mml_status_message(static_cast<std::uint32_t>(status));
}

// A target outside [0, c): its row and value.
struct BadTarget {
  std::size_t row;
  std::int64_t value;
};

// What mml said about a failed call (its MmlError): the argument at fault, the expected and
// actual lengths where one is wrong, the first bad target's row and value, and mml's own text.
struct ErrorDetail {
  Argument argument = Argument::None;
  std::uint64_t expected = 0;
  std::uint64_t actual = 0;
  std::uint64_t row = 0;
  std::int64_t value = 0;
  std::string message;  // mml's text, e.g. "target[3] = 12 is outside [0, 10)"
};

// The exception thrown for every mml failure.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message,
        std::optional<BadTarget> bad_target = std::nullopt, ErrorDetail detail = {})
      : std::runtime_error(message),
        status_(status),
        bad_target_(bad_target),
        detail_(std::move(detail)) {}

  // The status code the failing call returned (or that the C++ layer detected).
  Status status() const noexcept { return status_; }
  std::uint32_t code() const noexcept { return static_cast<std::uint32_t>(status_); }
  // For Status::TargetOutOfRange: the first target outside [0, c).
  const std::optional<BadTarget>& bad_target() const noexcept { return bad_target_; }
  // mml's own detail for a failure the library reported (for one the C++ layer found, such as
  // a span shorter than n * c, the binding fills it the same way).
  const ErrorDetail& detail() const noexcept { return detail_; }
  Argument argument() const noexcept { return detail_.argument; }

 private:
  Status status_;
  std::optional<BadTarget> bad_target_;
  ErrorDetail detail_;
};

// The first target outside [0, c), or nothing when all are in range (mml_check_targets).
inline std::optional<BadTarget> find_bad_target(span<const std::int64_t> target, std::size_t c) {
  std::size_t row = 0;
  std::int64_t value = 0;
  if (mml_check_targets(target.data(), target.size(), c, &row, &value) == MML_STATUS_OK) {
    return std::nullopt;
  }
  return BadTarget{row, value};
}

// The library's version, "MAJOR.MINOR.PATCH". The header's is MML_VERSION_STRING.
inline std::string_view version() noexcept { return mml_version(); }
// The library's C ABI version. The header's is MML_ABI_VERSION.
inline std::uint32_t abi_version() noexcept { return mml_abi_version(); }
// True when the loaded library is the one this header was written for.
inline bool library_matches_header() noexcept {
  return abi_version() == MML_ABI_VERSION && version() == std::string_view(MML_VERSION_STRING);
}

// Sets how many threads (the calling thread included) large calls use, process-wide; 0 restores
// the default (MML_NUM_THREADS from the environment, else the available parallelism).
// Throws mml::Error(InvalidArgument) above MML_MAX_THREADS.
inline void set_num_threads(std::size_t n) {
  const std::uint32_t status = mml_set_num_threads(n);
  if (status != MML_STATUS_OK) {
    throw Error(static_cast<Status>(status),
                std::string("mml::set_num_threads(") + std::to_string(n) +
                    "): " + mml_status_message(status) + " (the maximum is " +
                    std::to_string(MML_MAX_THREADS) + ")");
  }
}
// The number of threads (the calling thread included) that large calls use.
inline std::size_t num_threads() noexcept { return mml_get_num_threads(); }

// ---------------------------------------------------------------------------------------------
// 16-bit storage types. mml::bf16 (bfloat16) and mml::f16 (IEEE binary16) hold the raw bits of
// a half-precision score, like PyTorch's at::BFloat16 / at::Half: no arithmetic, only exact
// widening to float and round-to-nearest-even narrowing from it (PyTorch's rounding; a NaN
// becomes 0x7FC0 for bf16, sign | 0x7E00 for f16). Any 16-bit type with the same layout
// (std::bfloat16_t, std::float16_t, _Float16, __bf16) converts through its bits:
// `mml::bf16{std::bit_cast<std::uint16_t>(x)}`, or a pointer reinterpretation of a buffer.

namespace detail {
inline std::uint32_t float_bits(float f) noexcept {
  std::uint32_t u;
  static_assert(sizeof u == sizeof f);
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(std::uint32_t u) noexcept {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
}  // namespace detail

struct bf16 {
  std::uint16_t bits = 0;

  static constexpr bf16 from_bits(std::uint16_t b) noexcept { return bf16{b}; }
  // Round to nearest even.
  static bf16 from_float(float f) noexcept {
    const std::uint32_t u = detail::float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return bf16{0x7FC0};
    const std::uint32_t rounded = u + 0x7FFFu + ((u >> 16) & 1u);
    return bf16{static_cast<std::uint16_t>(rounded >> 16)};
  }
  // Exact.
  float to_float() const noexcept { return detail::bits_float(std::uint32_t{bits} << 16); }
  explicit operator float() const noexcept { return to_float(); }
  friend bool operator==(bf16 a, bf16 b) noexcept { return a.bits == b.bits; }  // bit equality
  friend bool operator!=(bf16 a, bf16 b) noexcept { return a.bits != b.bits; }
};

struct f16 {
  std::uint16_t bits = 0;

  static constexpr f16 from_bits(std::uint16_t b) noexcept { return f16{b}; }
  // Round to nearest even; overflow gives infinity, tiny values subnormals or zero.
  static f16 from_float(float f) noexcept {
    const std::uint32_t u = detail::float_bits(f);
    const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return f16{static_cast<std::uint16_t>(sign | 0x7E00u)};
    if (a >= 0x47800000u) return f16{static_cast<std::uint16_t>(sign | 0x7C00u)};  // >= 65536
    if (a < 0x38800000u) {  // below 2^-14: a subnormal or zero
      // The value in units of 2^-24, rounded to nearest even.
      const std::uint32_t exponent = a >> 23;
      if (exponent < 102) return f16{sign};  // below 2^-25: rounds to zero
      const std::uint32_t mantissa = (a & 0x7FFFFFu) | 0x800000u;
      const std::uint32_t shift = 126 - exponent;  // 14..24
      std::uint32_t half = mantissa >> shift;
      const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
      const std::uint32_t midpoint = 1u << (shift - 1);
      if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
      return f16{static_cast<std::uint16_t>(sign | half)};
    }
    // Normal: rebias the exponent, round the 13 dropped bits to nearest even (a carry into the
    // exponent is correct, up to infinity).
    const std::uint32_t rebiased = a - (112u << 23);
    const std::uint32_t rounded = rebiased + 0xFFFu + ((rebiased >> 13) & 1u);
    return f16{static_cast<std::uint16_t>(sign | (rounded >> 13))};
  }
  // Exact.
  float to_float() const noexcept {
    const std::uint32_t sign = std::uint32_t{bits & 0x8000u} << 16;
    const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
    const std::uint32_t mantissa = bits & 0x3FFu;
    if (exponent == 0x1F) return detail::bits_float(sign | 0x7F800000u | (mantissa << 13));
    if (exponent != 0) {
      return detail::bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    }
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign != 0 ? -magnitude : magnitude;
  }
  explicit operator float() const noexcept { return to_float(); }
  friend bool operator==(f16 a, f16 b) noexcept { return a.bits == b.bits; }  // bit equality
  friend bool operator!=(f16 a, f16 b) noexcept { return a.bits != b.bits; }
};

static_assert(sizeof(bf16) == 2 && std::is_trivially_copyable_v<bf16>);
static_assert(sizeof(f16) == 2 && std::is_trivially_copyable_v<f16>);

// ---------------------------------------------------------------------------------------------
// Options and the loss.

// Loss options, with PyTorch's defaults. An aggregate: `mml::Options{2, 0.5}` is p = 2,
// margin = 0.5; or set the fields by name.
struct Options {
  std::uint32_t p = 1;                    // 1 or 2
  double margin = 1.0;                    // float for the float API, as is for the double API
  std::vector<float> weight = {};         // per-class weights; empty means none
  Reduction reduction = Reduction::Mean;  // None, Mean or Sum
  // Per-class weights in double precision (mml_create_f64): the double entry points use them as
  // given, the float and half ones round them to float. At most one of weight and weight_f64
  // may be set.
  std::vector<double> weight_f64 = {};
};

// The result of forward_backward: the loss (float, or double for double scores) and the
// gradient in the scores' type.
template <class T, class G = T>
struct ForwardBackward {
  std::vector<T> output;      // n values for Reduction::None, else one
  std::vector<G> grad_input;  // n * c values
};

namespace detail {
// The MML_DTYPE_* of a score or target type.
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> : std::integral_constant<std::uint32_t, MML_DTYPE_FLOAT32> {};
template <>
struct dtype_of<double> : std::integral_constant<std::uint32_t, MML_DTYPE_FLOAT64> {};
template <>
struct dtype_of<bf16> : std::integral_constant<std::uint32_t, MML_DTYPE_BFLOAT16> {};
template <>
struct dtype_of<f16> : std::integral_constant<std::uint32_t, MML_DTYPE_FLOAT16> {};
template <>
struct dtype_of<std::int64_t> : std::integral_constant<std::uint32_t, MML_DTYPE_INT64> {};
template <>
struct dtype_of<std::int32_t> : std::integral_constant<std::uint32_t, MML_DTYPE_INT32> {};

template <class S>
inline constexpr bool is_score_v = std::is_same_v<S, float> || std::is_same_v<S, double> ||
                                   std::is_same_v<S, bf16> || std::is_same_v<S, f16>;
template <class I>
inline constexpr bool is_target_v =
    std::is_same_v<I, std::int64_t> || std::is_same_v<I, std::int32_t>;
}  // namespace detail

// The type of the loss and of grad_output for scores of type S: double for double, else float.
template <class S>
using output_t = std::conditional_t<std::is_same_v<S, double>, double, float>;

namespace detail {
// The gradient types for scores of type S: S itself, or float for half scores.
template <class S, class G>
inline constexpr bool is_grad_v =
    std::is_same_v<G, S> || (std::is_same_v<G, float> && is_score_v<S> && sizeof(S) == 2);

// n * c, or nothing on overflow.
inline std::optional<std::size_t> checked_mul(std::size_t n, std::size_t c) noexcept {
  if (c != 0 && n > static_cast<std::size_t>(-1) / c) return std::nullopt;
  return n * c;
}

// True when n * c values of `element_size` bytes exceed what memory can address (PTRDIFF_MAX
// bytes): mml's size overflow, MML_STATUS_INVALID_ARGUMENT.
inline bool too_large(std::size_t n, std::size_t c, std::size_t element_size) noexcept {
  const auto nc = checked_mul(n, c);
  return !nc || *nc > static_cast<std::size_t>(PTRDIFF_MAX) / element_size;
}

// The mml::Error for what mml reported: "<where>: <status text>: <mml's message>", with mml's
// detail attached.
inline Error library_error(std::uint32_t code, const std::string& where, const MmlError& e) {
  ErrorDetail d;
  d.argument = static_cast<Argument>(e.argument);
  d.expected = e.expected;
  d.actual = e.actual;
  d.row = e.row;
  d.value = e.value;
  // The message is NUL-terminated within its 256 bytes; never read past them.
  std::size_t len = 0;
  while (len < sizeof e.message && e.message[len] != '\0') ++len;
  d.message.assign(e.message, len);
  std::optional<BadTarget> bad;
  if (code == MML_STATUS_TARGET_OUT_OF_RANGE) {
    bad = BadTarget{static_cast<std::size_t>(e.row), e.value};
  }
  std::string text = where + ": " + mml_status_message(code);
  if (!d.message.empty()) text += ": " + d.message;
  return Error(static_cast<Status>(code), text, bad, std::move(d));
}

// An error the C++ layer finds itself (a span whose length the shape fixes), worded as mml
// words its own.
inline Error binding_error(Status status, const std::string& where, Argument argument,
                           const std::string& message, std::uint64_t expected = 0,
                           std::uint64_t actual = 0) {
  ErrorDetail d;
  d.argument = argument;
  d.expected = expected;
  d.actual = actual;
  d.message = message;
  return Error(status,
               where + ": " + mml_status_message(static_cast<std::uint32_t>(status)) + ": " +
                   message,
               std::nullopt, std::move(d));
}

// The mml::Error for a failed mml_create / mml_create_f64.
inline Error creation_error(std::uint32_t code, const Options& options) {
  const std::size_t weights =
      options.weight_f64.empty() ? options.weight.size() : options.weight_f64.size();
  return Error(
      static_cast<Status>(code),
      "mml::MultiMarginLoss(p = " + std::to_string(options.p) +
          ", reduction = " + std::to_string(static_cast<std::uint32_t>(options.reduction)) +
          ", weight length " + std::to_string(weights) + "): " + mml_status_message(code) +
          (code == MML_STATUS_INVALID_ARGUMENT ? " (p must be 1 or 2; reduction None, Mean or Sum)"
                                               : ""));
}

enum class Call { Forward, Backward, ForwardBackward };
}  // namespace detail

// PyTorch's torch.nn.MultiMarginLoss, bit-exact. Move-only; owns its MmlLoss handle.
//
// All compute methods are const and thread-safe (see the top of this file). A moved-from object
// is empty (valid() is false): its compute methods throw mml::Error(Status::NullPointer), and it
// may be assigned to or destroyed.
class MultiMarginLoss {
 public:
  // PyTorch's defaults: p = 1, margin = 1, no weight, Reduction::Mean.
  MultiMarginLoss() : MultiMarginLoss(Options{}) {}

  // Throws mml::Error(InvalidArgument) for p outside {1, 2}, an unknown reduction or both
  // weight and weight_f64 set, and mml::Error(OutOfMemory) when the library cannot allocate
  // its copy of the weights.
  explicit MultiMarginLoss(Options options) : options_(std::move(options)) {
    MmlLoss* handle = nullptr;
    std::uint32_t status;
    if (!options_.weight.empty() && !options_.weight_f64.empty()) {
      throw Error(Status::InvalidArgument,
                  "mml::MultiMarginLoss: " + std::string(mml_status_message(
                                                 MML_STATUS_INVALID_ARGUMENT)) +
                      ": set weight or weight_f64, not both");
    }
    if (!options_.weight_f64.empty()) {
      status = mml_create_f64(options_.p, options_.margin, options_.weight_f64.data(),
                              options_.weight_f64.size(),
                              static_cast<std::uint32_t>(options_.reduction), &handle);
    } else {
      status = mml_create(options_.p, options_.margin, options_.weight.data(),
                          options_.weight.size(), static_cast<std::uint32_t>(options_.reduction),
                          &handle);
    }
    if (status != MML_STATUS_OK) {
      throw detail::creation_error(status, options_);
    }
    handle_ = handle;
  }

  explicit MultiMarginLoss(std::uint32_t p, double margin,
                           Reduction reduction = Reduction::Mean,
                           std::vector<float> weight = {})
      : MultiMarginLoss(Options{p, margin, std::move(weight), reduction}) {}

  ~MultiMarginLoss() { mml_destroy(handle_); }

  MultiMarginLoss(const MultiMarginLoss&) = delete;
  MultiMarginLoss& operator=(const MultiMarginLoss&) = delete;

  MultiMarginLoss(MultiMarginLoss&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), options_(std::move(other.options_)) {
    other.options_ = Options{};
  }
  MultiMarginLoss& operator=(MultiMarginLoss&& other) noexcept {
    if (this != &other) {
      mml_destroy(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
      options_ = std::move(other.options_);
      other.options_ = Options{};
    }
    return *this;
  }

  // ---- Accessors.
  bool valid() const noexcept { return handle_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  const MmlLoss* native_handle() const noexcept { return handle_; }
  const Options& options() const noexcept { return options_; }
  std::uint32_t p() const noexcept { return options_.p; }
  double margin() const noexcept { return options_.margin; }
  Reduction reduction() const noexcept { return options_.reduction; }
  const std::vector<float>& weight() const noexcept { return options_.weight; }
  const std::vector<double>& weight_f64() const noexcept { return options_.weight_f64; }
  // The length of forward's output for a batch of n samples: n for None, else 1.
  std::size_t output_size(std::size_t n) const noexcept {
    return options_.reduction == Reduction::None ? n : 1;
  }

  // ---- Pointer overloads: exactly the C functions mml_forward etc. (see mml.h for every
  // length rule). grad_input_len must be n * c.
  void forward(const float* input, const std::int64_t* target, std::size_t n, std::size_t c,
               float* output, std::size_t output_len) const {
    forward(input, c, target, n, c, output, output_len);
  }
  void forward(const double* input, const std::int64_t* target, std::size_t n, std::size_t c,
               double* output, std::size_t output_len) const {
    forward(input, c, target, n, c, output, output_len);
  }
  void backward(const float* input, const std::int64_t* target, std::size_t n, std::size_t c,
                const float* grad_output, std::size_t grad_output_len, float* grad_input,
                std::size_t grad_input_len) const {
    backward_len(input, target, n, c, grad_output, grad_output_len, grad_input, grad_input_len);
  }
  void backward(const double* input, const std::int64_t* target, std::size_t n, std::size_t c,
                const double* grad_output, std::size_t grad_output_len, double* grad_input,
                std::size_t grad_input_len) const {
    backward_len(input, target, n, c, grad_output, grad_output_len, grad_input, grad_input_len);
  }
  void forward_backward(const float* input, const std::int64_t* target, std::size_t n,
                        std::size_t c, const float* grad_output, std::size_t grad_output_len,
                        float* output, std::size_t output_len, float* grad_input,
                        std::size_t grad_input_len) const {
    forward_backward_len(input, target, n, c, grad_output, grad_output_len, output, output_len,
                         grad_input, grad_input_len);
  }
  void forward_backward(const double* input, const std::int64_t* target, std::size_t n,
                        std::size_t c, const double* grad_output, std::size_t grad_output_len,
                        double* output, std::size_t output_len, double* grad_input,
                        std::size_t grad_input_len) const {
    forward_backward_len(input, target, n, c, grad_output, grad_output_len, output, output_len,
                         grad_input, grad_input_len);
  }

  // ---- Typed pointer overloads: exactly mml_forward_typed etc. Scores S: float, double,
  // mml::bf16 or mml::f16, row r at input + r * input_pitch (input_pitch >= c; c for contiguous
  // rows). Targets I: std::int64_t or std::int32_t. The loss and grad_output are output_t<S>
  // (double for double scores, else float). The gradient G is S, or float for half scores,
  // row r at grad_input + r * grad_input_pitch.
  template <class S, class I>
  void forward(const S* input, std::size_t input_pitch, const I* target, std::size_t n,
               std::size_t c, output_t<S>* output, std::size_t output_len) const {
    call<S, I, S>(detail::Call::Forward, "forward", input, input_pitch, target, n, c, nullptr,
                  0, output, output_len, nullptr, 0);
  }
  template <class S, class I, class G>
  void backward(const S* input, std::size_t input_pitch, const I* target, std::size_t n,
                std::size_t c, const output_t<S>* grad_output, std::size_t grad_output_len,
                G* grad_input, std::size_t grad_input_pitch) const {
    call<S, I, G>(detail::Call::Backward, "backward", input, input_pitch, target, n, c,
                  grad_output, grad_output_len, nullptr, 0, grad_input, grad_input_pitch);
  }
  template <class S, class I, class G>
  void forward_backward(const S* input, std::size_t input_pitch, const I* target, std::size_t n,
                        std::size_t c, const output_t<S>* grad_output,
                        std::size_t grad_output_len, output_t<S>* output,
                        std::size_t output_len, G* grad_input,
                        std::size_t grad_input_pitch) const {
    call<S, I, G>(detail::Call::ForwardBackward, "forward_backward", input, input_pitch, target,
                  n, c, grad_output, grad_output_len, output, output_len, grad_input,
                  grad_input_pitch);
  }

  // ---- Span overloads into caller buffers: n = target.size(); input must hold n * c values
  // (row-major, contiguous), grad_input too. For every score type S (float, double, bf16, f16)
  // and target type I (int64_t, int32_t); the loss and grad_output are output_t<S>, the
  // gradient S (or float, for half scores).
  //
  // ---- Returning std::vector: the loss as std::vector<output_t<S>>, the gradient as
  // std::vector<S> (as PyTorch's autocast returns it: the float gradient rounded to the scores'
  // type). Without grad_output, the upstream gradient is all ones (what calling .backward() on
  // the loss does in PyTorch).
#define MML_HPP_OVERLOADS(S, I)                                                                 \
  void forward(span<const S> input, span<const I> target, std::size_t c,                        \
               span<output_t<S>> output) const {                                                \
    forward_span<S, I>(input, target, c, output);                                               \
  }                                                                                             \
  void backward(span<const S> input, span<const I> target, std::size_t c,                       \
                span<const output_t<S>> grad_output, span<S> grad_input) const {                \
    backward_span<S, I, S>(input, target, c, grad_output, grad_input);                          \
  }                                                                                             \
  void forward_backward(span<const S> input, span<const I> target, std::size_t c,               \
                        span<const output_t<S>> grad_output, span<output_t<S>> output,          \
                        span<S> grad_input) const {                                             \
    forward_backward_span<S, I, S>(input, target, c, grad_output, output, grad_input);          \
  }                                                                                             \
  std::vector<output_t<S>> forward(span<const S> input, span<const I> target, std::size_t c)    \
      const {                                                                                   \
    return forward_vec<S, I>(input, target, c);                                                 \
  }                                                                                             \
  std::vector<S> backward(span<const S> input, span<const I> target, std::size_t c,             \
                          span<const output_t<S>> grad_output) const {                          \
    return backward_vec<S, I>(input, target, c, grad_output);                                   \
  }                                                                                             \
  std::vector<S> backward(span<const S> input, span<const I> target, std::size_t c) const {     \
    const std::vector<output_t<S>> ones(output_size(target.size()), output_t<S>(1));            \
    return backward_vec<S, I>(input, target, c, ones);                                          \
  }                                                                                             \
  ForwardBackward<output_t<S>, S> forward_backward(span<const S> input, span<const I> target,   \
                                                   std::size_t c,                               \
                                                   span<const output_t<S>> grad_output) const { \
    return forward_backward_vec<S, I>(input, target, c, grad_output);                           \
  }                                                                                             \
  ForwardBackward<output_t<S>, S> forward_backward(span<const S> input, span<const I> target,   \
                                                   std::size_t c) const {                       \
    const std::vector<output_t<S>> ones(output_size(target.size()), output_t<S>(1));            \
    return forward_backward_vec<S, I>(input, target, c, ones);                                  \
  }
  // Half scores also take a float gradient buffer (the float gradient, not rounded).
#define MML_HPP_HALF_OVERLOADS(S, I)                                                            \
  MML_HPP_OVERLOADS(S, I)                                                                       \
  void backward(span<const S> input, span<const I> target, std::size_t c,                       \
                span<const float> grad_output, span<float> grad_input) const {                  \
    backward_span<S, I, float>(input, target, c, grad_output, grad_input);                      \
  }                                                                                             \
  void forward_backward(span<const S> input, span<const I> target, std::size_t c,               \
                        span<const float> grad_output, span<float> output,                      \
                        span<float> grad_input) const {                                         \
    forward_backward_span<S, I, float>(input, target, c, grad_output, output, grad_input);      \
  }

  MML_HPP_OVERLOADS(float, std::int64_t)
  MML_HPP_OVERLOADS(float, std::int32_t)
  MML_HPP_OVERLOADS(double, std::int64_t)
  MML_HPP_OVERLOADS(double, std::int32_t)
  MML_HPP_HALF_OVERLOADS(bf16, std::int64_t)
  MML_HPP_HALF_OVERLOADS(bf16, std::int32_t)
  MML_HPP_HALF_OVERLOADS(f16, std::int64_t)
  MML_HPP_HALF_OVERLOADS(f16, std::int32_t)
#undef MML_HPP_HALF_OVERLOADS
#undef MML_HPP_OVERLOADS

#ifdef MML_HPP_DLPACK
  // ---- DLPack overloads (include <mml_dlpack.hpp>): mml_forward_dlpack etc. Scores float16,
  // bfloat16, float32 or float64, 1-D (one sample, 0-dim target) or 2-D, any strides; targets
  // int32 or int64; the loss and grad_output float32 (float64 for float64 scores); grad_input
  // shaped like the scores, of their dtype or float32 for half scores. CPU tensors only.
  void forward(const DLTensor& input, const DLTensor& target, DLTensor& output) const {
    require_handle("forward");
    MmlError e{};
    const std::uint32_t code = mml_forward_dlpack(handle_, &input, &target, &output, &e);
    if (code != MML_STATUS_OK) throw detail::library_error(code, where("forward"), e);
  }
  void backward(const DLTensor& input, const DLTensor& target, const DLTensor& grad_output,
                DLTensor& grad_input) const {
    require_handle("backward");
    MmlError e{};
    const std::uint32_t code =
        mml_backward_dlpack(handle_, &input, &target, &grad_output, &grad_input, &e);
    if (code != MML_STATUS_OK) throw detail::library_error(code, where("backward"), e);
  }
  void forward_backward(const DLTensor& input, const DLTensor& target,
                        const DLTensor& grad_output, DLTensor& output,
                        DLTensor& grad_input) const {
    require_handle("forward_backward");
    MmlError e{};
    const std::uint32_t code = mml_forward_backward_dlpack(handle_, &input, &target, &grad_output,
                                                           &output, &grad_input, &e);
    if (code != MML_STATUS_OK) throw detail::library_error(code, where("forward_backward"), e);
  }
#endif

 private:
  static std::string where(const char* function) {
    return std::string("mml::MultiMarginLoss::") + function;
  }

  void require_handle(const char* function) const {
    if (handle_ == nullptr) {
      throw Error(Status::NullPointer, where(function) + ": the loss is empty (moved from)");
    }
  }

  // Every computing call ends here: one typed C call with an MmlError; a failure throws what
  // mml said.
  template <class S, class I, class G>
  void call(detail::Call kind, const char* function, const S* input, std::size_t input_pitch,
            const I* target, std::size_t n, std::size_t c, const output_t<S>* grad_output,
            std::size_t grad_output_len, output_t<S>* output, std::size_t output_len,
            G* grad_input, std::size_t grad_input_pitch) const {
    static_assert(detail::is_score_v<S>, "scores must be float, double, mml::bf16 or mml::f16");
    static_assert(detail::is_target_v<I>, "targets must be std::int64_t or std::int32_t");
    static_assert(detail::is_grad_v<S, G>,
                  "the gradient is of the scores' type, or float for half scores");
    require_handle(function);
    constexpr std::uint32_t dtype = detail::dtype_of<S>::value;
    constexpr std::uint32_t target_dtype = detail::dtype_of<I>::value;
    constexpr std::uint32_t grad_dtype = detail::dtype_of<G>::value;
    MmlError e{};
    std::uint32_t code;
    switch (kind) {
      case detail::Call::Forward:
        code = mml_forward_typed(handle_, dtype, input, input_pitch, target_dtype, target, n, c,
                                 output, output_len, &e);
        break;
      case detail::Call::Backward:
        code = mml_backward_typed(handle_, dtype, input, input_pitch, target_dtype, target, n, c,
                                  grad_output, grad_output_len, grad_dtype, grad_input,
                                  grad_input_pitch, &e);
        break;
      default:
        code = mml_forward_backward_typed(handle_, dtype, input, input_pitch, target_dtype,
                                          target, n, c, grad_output, grad_output_len, output,
                                          output_len, grad_dtype, grad_input, grad_input_pitch,
                                          &e);
        break;
    }
    if (code != MML_STATUS_OK) throw detail::library_error(code, where(function), e);
  }

  // The binding's own length rule for a buffer the typed C call knows only by its pitch: it
  // must hold n * c values. An n * c too large for memory is left to mml, which reports it
  // (InvalidArgument) before it looks at any buffer.
  template <class T>
  static void require_elements(const char* function, Argument argument, const char* name,
                               std::size_t size, std::size_t n, std::size_t c) {
    if (detail::too_large(n, c, sizeof(T)) || size == n * c) return;
    throw detail::binding_error(Status::ShapeMismatch, where(function), argument,
                                std::string(name) + " has " + std::to_string(size) +
                                    " elements, expected " + std::to_string(n * c),
                                n * c, size);
  }

  // The C-shaped overloads that take grad_input_len call the untyped entry points, which check
  // that length themselves; a failure is explained by mml_explain (the same checks, nothing
  // computed).
  template <class T>
  void backward_len(const T* input, const std::int64_t* target, std::size_t n, std::size_t c,
                    const T* grad_output, std::size_t grad_output_len, T* grad_input,
                    std::size_t grad_input_len) const {
    require_handle("backward");
    std::uint32_t code;
    if constexpr (std::is_same_v<T, float>) {
      code = mml_backward(handle_, input, target, n, c, grad_output, grad_output_len, grad_input,
                          grad_input_len);
    } else {
      code = mml_backward_f64(handle_, input, target, n, c, grad_output, grad_output_len,
                              grad_input, grad_input_len);
    }
    if (code == MML_STATUS_OK) return;
    explain<T>(code, "backward", MML_OP_BACKWARD, input, target, n, c, grad_output,
               grad_output_len, nullptr, 0, grad_input, grad_input_len);
  }
  template <class T>
  void forward_backward_len(const T* input, const std::int64_t* target, std::size_t n,
                            std::size_t c, const T* grad_output, std::size_t grad_output_len,
                            T* output, std::size_t output_len, T* grad_input,
                            std::size_t grad_input_len) const {
    require_handle("forward_backward");
    std::uint32_t code;
    if constexpr (std::is_same_v<T, float>) {
      code = mml_forward_backward(handle_, input, target, n, c, grad_output, grad_output_len,
                                  output, output_len, grad_input, grad_input_len);
    } else {
      code = mml_forward_backward_f64(handle_, input, target, n, c, grad_output, grad_output_len,
                                      output, output_len, grad_input, grad_input_len);
    }
    if (code == MML_STATUS_OK) return;
    explain<T>(code, "forward_backward", MML_OP_FORWARD_BACKWARD, input, target, n, c,
               grad_output, grad_output_len, output, output_len, grad_input, grad_input_len);
  }
  // Throws what mml_explain says about a failed untyped call (its status, should the
  // explanation disagree).
  template <class T>
  void explain(std::uint32_t code, const char* function, std::uint32_t op, const T* input,
               const std::int64_t* target, std::size_t n, std::size_t c, const T* grad_output,
               std::size_t grad_output_len, const T* output, std::size_t output_len,
               const T* grad_input, std::size_t grad_input_len) const {
    MmlError e{};
    const std::uint32_t explained =
        mml_explain(handle_, op, detail::dtype_of<T>::value, input, target, n, c, grad_output,
                    grad_output_len, output, output_len, grad_input, grad_input_len, &e);
    if (explained != code) e = MmlError{};
    throw detail::library_error(code, where(function), e);
  }

  // The span overloads' input rule: n * c must be addressable (else InvalidArgument, as mml
  // says for it) and input must hold exactly n * c values (else ShapeMismatch).
  template <class T>
  static void require_input_size(const char* function, std::size_t input_size, std::size_t n,
                                 std::size_t c) {
    if (detail::too_large(n, c, sizeof(T))) {
      throw detail::binding_error(Status::InvalidArgument, where(function), Argument::Input,
                                  "n·c = " + std::to_string(n) + "·" + std::to_string(c) +
                                      " overflows the address space");
    }
    require_elements<T>(function, Argument::Input, "input", input_size, n, c);
  }

  template <class S, class I>
  void forward_span(span<const S> input, span<const I> target, std::size_t c,
                    span<output_t<S>> output) const {
    require_handle("forward");
    require_input_size<S>("forward", input.size(), target.size(), c);
    forward(input.data(), c, target.data(), target.size(), c, output.data(), output.size());
  }
  template <class S, class I, class G>
  void backward_span(span<const S> input, span<const I> target, std::size_t c,
                     span<const output_t<S>> grad_output, span<G> grad_input) const {
    require_handle("backward");
    require_input_size<S>("backward", input.size(), target.size(), c);
    require_elements<G>("backward", Argument::GradInput, "grad_input", grad_input.size(),
                        target.size(), c);
    backward(input.data(), c, target.data(), target.size(), c, grad_output.data(),
             grad_output.size(), grad_input.data(), c);
  }
  template <class S, class I, class G>
  void forward_backward_span(span<const S> input, span<const I> target, std::size_t c,
                             span<const output_t<S>> grad_output, span<output_t<S>> output,
                             span<G> grad_input) const {
    require_handle("forward_backward");
    require_input_size<S>("forward_backward", input.size(), target.size(), c);
    require_elements<G>("forward_backward", Argument::GradInput, "grad_input", grad_input.size(),
                        target.size(), c);
    forward_backward(input.data(), c, target.data(), target.size(), c, grad_output.data(),
                     grad_output.size(), output.data(), output.size(), grad_input.data(), c);
  }

  template <class S, class I>
  std::vector<output_t<S>> forward_vec(span<const S> input, span<const I> target,
                                       std::size_t c) const {
    require_handle("forward");
    require_input_size<S>("forward", input.size(), target.size(), c);
    std::vector<output_t<S>> output(output_size(target.size()));
    forward(input.data(), c, target.data(), target.size(), c, output.data(), output.size());
    return output;
  }
  template <class S, class I>
  std::vector<S> backward_vec(span<const S> input, span<const I> target, std::size_t c,
                              span<const output_t<S>> grad_output) const {
    require_handle("backward");
    require_input_size<S>("backward", input.size(), target.size(), c);
    std::vector<S> grad_input(input.size());
    backward(input.data(), c, target.data(), target.size(), c, grad_output.data(),
             grad_output.size(), grad_input.data(), c);
    return grad_input;
  }
  template <class S, class I>
  ForwardBackward<output_t<S>, S> forward_backward_vec(span<const S> input, span<const I> target,
                                                       std::size_t c,
                                                       span<const output_t<S>> grad_output) const {
    require_handle("forward_backward");
    require_input_size<S>("forward_backward", input.size(), target.size(), c);
    ForwardBackward<output_t<S>, S> result{std::vector<output_t<S>>(output_size(target.size())),
                                           std::vector<S>(input.size())};
    forward_backward(input.data(), c, target.data(), target.size(), c, grad_output.data(),
                     grad_output.size(), result.output.data(), result.output.size(),
                     result.grad_input.data(), c);
    return result;
  }

  MmlLoss* handle_ = nullptr;
  Options options_;
};

}  // namespace mml

#if defined(__cpp_lib_ranges) && __cpp_lib_ranges >= 201911L
// An mml::span does not own its elements: std::span<T>(mml_span.subspan(1)) is fine.
namespace std::ranges {
template <class T>
inline constexpr bool enable_borrowed_range<mml::span<T>> = true;
}  // namespace std::ranges
#endif

#endif  // MML_HPP
