// mml.hpp: header-only C++17 binding of mml, PyTorch-exact MultiMarginLoss.
//
// A thin, zero-copy layer over the C ABI in mml.h: RAII ownership of the handle, exceptions
// instead of status codes, overloads for pointer + size, std::vector and spans.
//
//     #include <mml.hpp>
//
//     mml::MultiMarginLoss loss(mml::Options{/*p=*/2, /*margin=*/1.0});   // reduction: Mean
//     std::vector<float> scores(n * c);
//     std::vector<int64_t> target(n);
//     auto r = loss.forward_backward(scores, target, c);   // r.output[0], r.grad_input (n*c)
//
// Shapes. Input is n x c scores, row-major, as one flat buffer. The span and vector overloads
// take n from `target.size()` and `c` explicitly, and check `input.size() == n * c` before
// calling mml; the pointer overloads mirror the C functions argument for argument. In both, an
// n * c too large for memory is Status::InvalidArgument, as the C library reports it.
//
// Errors. Every failure throws mml::Error (a std::runtime_error) carrying the mml::Status and a
// message that says what was wrong; for Status::TargetOutOfRange the offending row and value
// are reported too. On any error nothing has been written to the output buffers.
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

#include <array>
#include <cstddef>
#include <cstdint>
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
  // The library could not allocate memory (in the constructor, for its copy of the weights; in
  // a large call, for the call's buffers). Nothing was written to the outputs.
#ifdef MML_STATUS_OUT_OF_MEMORY
  OutOfMemory = MML_STATUS_OUT_OF_MEMORY,
#else
  OutOfMemory = 7,  // MML_STATUS_OUT_OF_MEMORY, from an mml.h that predates it
#endif
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

// The exception thrown for every mml failure.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message,
        std::optional<BadTarget> bad_target = std::nullopt)
      : std::runtime_error(message), status_(status), bad_target_(bad_target) {}

  // The status code the failing call returned (or that the C++ layer detected).
  Status status() const noexcept { return status_; }
  std::uint32_t code() const noexcept { return static_cast<std::uint32_t>(status_); }
  // For Status::TargetOutOfRange: the first target outside [0, c).
  const std::optional<BadTarget>& bad_target() const noexcept { return bad_target_; }

 private:
  Status status_;
  std::optional<BadTarget> bad_target_;
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
// Options and the loss.

// Loss options, with PyTorch's defaults. An aggregate: `mml::Options{2, 0.5}` is p = 2,
// margin = 0.5; or set the fields by name.
struct Options {
  std::uint32_t p = 1;                    // 1 or 2
  double margin = 1.0;                    // float for the float API, as is for the double API
  std::vector<float> weight = {};         // per-class weights; empty means none
  Reduction reduction = Reduction::Mean;  // None, Mean or Sum
};

// The result of forward_backward.
template <class T>
struct ForwardBackward {
  std::vector<T> output;      // n values for Reduction::None, else one
  std::vector<T> grad_input;  // n * c values
};

namespace detail {
template <class T>
struct Api;
template <>
struct Api<float> {
  static constexpr auto forward = &mml_forward;
  static constexpr auto backward = &mml_backward;
  static constexpr auto forward_backward = &mml_forward_backward;
};
template <>
struct Api<double> {
  static constexpr auto forward = &mml_forward_f64;
  static constexpr auto backward = &mml_backward_f64;
  static constexpr auto forward_backward = &mml_forward_backward_f64;
};

// n * c, or nothing on overflow.
inline std::optional<std::size_t> checked_mul(std::size_t n, std::size_t c) noexcept {
  if (c != 0 && n > static_cast<std::size_t>(-1) / c) return std::nullopt;
  return n * c;
}

// True when n * c values of `element_size` bytes exceed what memory can address (PTRDIFF_MAX
// bytes): the C library's size overflow, MML_STATUS_INVALID_ARGUMENT.
inline bool too_large(std::size_t n, std::size_t c, std::size_t element_size) noexcept {
  const auto nc = checked_mul(n, c);
  return !nc || *nc > static_cast<std::size_t>(PTRDIFF_MAX) / element_size;
}

// The mml::Error for a failed status: "<where>: <the library's text for the status><detail>".
inline Error status_error(std::uint32_t code, const std::string& where,
                          const std::string& detail = {},
                          std::optional<BadTarget> bad_target = std::nullopt) {
  return Error(static_cast<Status>(code), where + ": " + mml_status_message(code) + detail,
               bad_target);
}

// The mml::Error for a failed mml_create.
inline Error creation_error(std::uint32_t code, const Options& options) {
  return status_error(
      code,
      "mml::MultiMarginLoss(p = " + std::to_string(options.p) +
          ", reduction = " + std::to_string(static_cast<std::uint32_t>(options.reduction)) +
          ", weight length " + std::to_string(options.weight.size()) + ")",
      code == MML_STATUS_INVALID_ARGUMENT ? " (p must be 1 or 2; reduction None, Mean or Sum)"
                                          : "");
}
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

  // Throws mml::Error(InvalidArgument) for p outside {1, 2} or an unknown reduction, and
  // mml::Error(OutOfMemory) when the library cannot allocate its copy of the weights.
  explicit MultiMarginLoss(Options options) : options_(std::move(options)) {
    MmlLoss* handle = nullptr;
    const std::uint32_t status =
        mml_create(options_.p, options_.margin, options_.weight.data(), options_.weight.size(),
                   static_cast<std::uint32_t>(options_.reduction), &handle);
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
  // The length of forward's output for a batch of n samples: n for None, else 1.
  std::size_t output_size(std::size_t n) const noexcept {
    return options_.reduction == Reduction::None ? n : 1;
  }

  // ---- Pointer overloads: exactly the C functions (see mml.h for every length rule).
  void forward(const float* input, const std::int64_t* target, std::size_t n, std::size_t c,
               float* output, std::size_t output_len) const {
    forward_ptr<float>(input, target, n, c, output, output_len);
  }
  void forward(const double* input, const std::int64_t* target, std::size_t n, std::size_t c,
               double* output, std::size_t output_len) const {
    forward_ptr<double>(input, target, n, c, output, output_len);
  }
  void backward(const float* input, const std::int64_t* target, std::size_t n, std::size_t c,
                const float* grad_output, std::size_t grad_output_len, float* grad_input,
                std::size_t grad_input_len) const {
    backward_ptr<float>(input, target, n, c, grad_output, grad_output_len, grad_input,
                        grad_input_len);
  }
  void backward(const double* input, const std::int64_t* target, std::size_t n, std::size_t c,
                const double* grad_output, std::size_t grad_output_len, double* grad_input,
                std::size_t grad_input_len) const {
    backward_ptr<double>(input, target, n, c, grad_output, grad_output_len, grad_input,
                         grad_input_len);
  }
  void forward_backward(const float* input, const std::int64_t* target, std::size_t n,
                        std::size_t c, const float* grad_output, std::size_t grad_output_len,
                        float* output, std::size_t output_len, float* grad_input,
                        std::size_t grad_input_len) const {
    forward_backward_ptr<float>(input, target, n, c, grad_output, grad_output_len, output,
                                output_len, grad_input, grad_input_len);
  }
  void forward_backward(const double* input, const std::int64_t* target, std::size_t n,
                        std::size_t c, const double* grad_output, std::size_t grad_output_len,
                        double* output, std::size_t output_len, double* grad_input,
                        std::size_t grad_input_len) const {
    forward_backward_ptr<double>(input, target, n, c, grad_output, grad_output_len, output,
                                 output_len, grad_input, grad_input_len);
  }

  // ---- Span overloads into caller buffers: n = target.size(); input must hold n * c values.
  void forward(span<const float> input, span<const std::int64_t> target, std::size_t c,
               span<float> output) const {
    forward_span<float>(input, target, c, output);
  }
  void forward(span<const double> input, span<const std::int64_t> target, std::size_t c,
               span<double> output) const {
    forward_span<double>(input, target, c, output);
  }
  void backward(span<const float> input, span<const std::int64_t> target, std::size_t c,
                span<const float> grad_output, span<float> grad_input) const {
    backward_span<float>(input, target, c, grad_output, grad_input);
  }
  void backward(span<const double> input, span<const std::int64_t> target, std::size_t c,
                span<const double> grad_output, span<double> grad_input) const {
    backward_span<double>(input, target, c, grad_output, grad_input);
  }
  void forward_backward(span<const float> input, span<const std::int64_t> target, std::size_t c,
                        span<const float> grad_output, span<float> output,
                        span<float> grad_input) const {
    forward_backward_span<float>(input, target, c, grad_output, output, grad_input);
  }
  void forward_backward(span<const double> input, span<const std::int64_t> target,
                        std::size_t c, span<const double> grad_output, span<double> output,
                        span<double> grad_input) const {
    forward_backward_span<double>(input, target, c, grad_output, output, grad_input);
  }

  // ---- Returning std::vector. Without grad_output, the upstream gradient is all ones (what
  // calling .backward() on the loss does in PyTorch).
  std::vector<float> forward(span<const float> input, span<const std::int64_t> target,
                             std::size_t c) const {
    return forward_vec<float>(input, target, c);
  }
  std::vector<double> forward(span<const double> input, span<const std::int64_t> target,
                              std::size_t c) const {
    return forward_vec<double>(input, target, c);
  }
  std::vector<float> backward(span<const float> input, span<const std::int64_t> target,
                              std::size_t c, span<const float> grad_output) const {
    return backward_vec<float>(input, target, c, grad_output);
  }
  std::vector<double> backward(span<const double> input, span<const std::int64_t> target,
                               std::size_t c, span<const double> grad_output) const {
    return backward_vec<double>(input, target, c, grad_output);
  }
  std::vector<float> backward(span<const float> input, span<const std::int64_t> target,
                              std::size_t c) const {
    const std::vector<float> ones(output_size(target.size()), 1.0f);
    return backward_vec<float>(input, target, c, ones);
  }
  std::vector<double> backward(span<const double> input, span<const std::int64_t> target,
                               std::size_t c) const {
    const std::vector<double> ones(output_size(target.size()), 1.0);
    return backward_vec<double>(input, target, c, ones);
  }
  ForwardBackward<float> forward_backward(span<const float> input,
                                          span<const std::int64_t> target, std::size_t c,
                                          span<const float> grad_output) const {
    return forward_backward_vec<float>(input, target, c, grad_output);
  }
  ForwardBackward<double> forward_backward(span<const double> input,
                                           span<const std::int64_t> target, std::size_t c,
                                           span<const double> grad_output) const {
    return forward_backward_vec<double>(input, target, c, grad_output);
  }
  ForwardBackward<float> forward_backward(span<const float> input,
                                          span<const std::int64_t> target,
                                          std::size_t c) const {
    const std::vector<float> ones(output_size(target.size()), 1.0f);
    return forward_backward_vec<float>(input, target, c, ones);
  }
  ForwardBackward<double> forward_backward(span<const double> input,
                                           span<const std::int64_t> target,
                                           std::size_t c) const {
    const std::vector<double> ones(output_size(target.size()), 1.0);
    return forward_backward_vec<double>(input, target, c, ones);
  }

 private:
  // Lengths of one call, for error messages.
  struct Lengths {
    std::size_t n, c, element_size;
    std::optional<std::size_t> output_len, grad_output_len, grad_input_len;
  };

  void require_handle(const char* function) const {
    if (handle_ == nullptr) {
      throw Error(Status::NullPointer,
                  std::string("mml::MultiMarginLoss::") + function +
                      ": the loss is empty (moved from)");
    }
  }

  // Throws for a failed status, with a message saying what was wrong.
  void raise_if_failed(std::uint32_t code, const char* function, const std::int64_t* target,
                       const Lengths& len) const {
    if (code == MML_STATUS_OK) return;
    const Status status = static_cast<Status>(code);
    std::string detail;
    std::optional<BadTarget> bad;
    if (status == Status::TargetOutOfRange) {
      std::size_t row = 0;
      std::int64_t value = 0;
      if (mml_check_targets(target, len.n, len.c, &row, &value) != MML_STATUS_OK) {
        bad = BadTarget{row, value};
        detail = ": target[" + std::to_string(row) + "] = " + std::to_string(value) +
                 " is not in [0, " + std::to_string(len.c) + ")";
      }
    } else if (status == Status::ShapeMismatch) {
      detail = describe(len);
    } else if (status == Status::InvalidArgument && len.c == 0) {
      detail = ": c is 0";
    } else if (status == Status::InvalidArgument &&
               detail::too_large(len.n, len.c, len.element_size)) {
      detail = overflow(len.n, len.c);
    }
    throw detail::status_error(code, std::string("mml::MultiMarginLoss::") + function, detail,
                               bad);
  }

  std::string describe(const Lengths& len) const {
    const std::string n = std::to_string(len.n), c = std::to_string(len.c);
    const std::string want = std::to_string(output_size(len.n));
    std::string s = ": n = " + n + ", c = " + c;
    if (!options_.weight.empty() && options_.weight.size() != len.c) {
      s += ", but the loss has " + std::to_string(options_.weight.size()) + " class weights";
    }
    if (len.output_len && *len.output_len != output_size(len.n)) {
      s += ", output length " + std::to_string(*len.output_len) + " (expected " + want + ")";
    }
    if (len.grad_output_len && *len.grad_output_len != output_size(len.n)) {
      s += ", grad_output length " + std::to_string(*len.grad_output_len) + " (expected " +
           want + ")";
    }
    if (len.grad_input_len) {
      const auto nc = detail::checked_mul(len.n, len.c);
      if (!nc || *len.grad_input_len != *nc) {
        s += ", grad_input length " + std::to_string(*len.grad_input_len) + " (expected n*c)";
      }
    }
    return s;
  }

  static std::string overflow(std::size_t n, std::size_t c) {
    return ": n*c = " + std::to_string(n) + "*" + std::to_string(c) +
           " is too large for memory";
  }

  // The span overloads' own check: n * c must be addressable (else InvalidArgument, as the C
  // library says for it) and input must hold exactly n * c values (else ShapeMismatch).
  template <class T>
  static void require_input_size(const char* function, std::size_t input_size, std::size_t n,
                                 std::size_t c) {
    const std::string where = std::string("mml::MultiMarginLoss::") + function;
    if (detail::too_large(n, c, sizeof(T))) {
      throw detail::status_error(MML_STATUS_INVALID_ARGUMENT, where, overflow(n, c));
    }
    if (n * c != input_size) {
      throw Error(Status::ShapeMismatch,
                  where + ": a buffer length does not match the shape: input has " +
                      std::to_string(input_size) + " values, expected n*c = " +
                      std::to_string(n) + "*" + std::to_string(c));
    }
  }

  template <class T>
  void forward_ptr(const T* input, const std::int64_t* target, std::size_t n, std::size_t c,
                   T* output, std::size_t output_len) const {
    require_handle("forward");
    const std::uint32_t code =
        detail::Api<T>::forward(handle_, input, target, n, c, output, output_len);
    raise_if_failed(code, "forward", target, Lengths{n, c, sizeof(T), output_len, {}, {}});
  }
  template <class T>
  void backward_ptr(const T* input, const std::int64_t* target, std::size_t n, std::size_t c,
                    const T* grad_output, std::size_t grad_output_len, T* grad_input,
                    std::size_t grad_input_len) const {
    require_handle("backward");
    const std::uint32_t code = detail::Api<T>::backward(
        handle_, input, target, n, c, grad_output, grad_output_len, grad_input, grad_input_len);
    raise_if_failed(code, "backward", target,
                    Lengths{n, c, sizeof(T), {}, grad_output_len, grad_input_len});
  }
  template <class T>
  void forward_backward_ptr(const T* input, const std::int64_t* target, std::size_t n,
                            std::size_t c, const T* grad_output, std::size_t grad_output_len,
                            T* output, std::size_t output_len, T* grad_input,
                            std::size_t grad_input_len) const {
    require_handle("forward_backward");
    const std::uint32_t code = detail::Api<T>::forward_backward(
        handle_, input, target, n, c, grad_output, grad_output_len, output, output_len,
        grad_input, grad_input_len);
    raise_if_failed(code, "forward_backward", target,
                    Lengths{n, c, sizeof(T), output_len, grad_output_len, grad_input_len});
  }

  template <class T>
  void forward_span(span<const T> input, span<const std::int64_t> target, std::size_t c,
                    span<T> output) const {
    require_handle("forward");
    require_input_size<T>("forward", input.size(), target.size(), c);
    forward_ptr<T>(input.data(), target.data(), target.size(), c, output.data(), output.size());
  }
  template <class T>
  void backward_span(span<const T> input, span<const std::int64_t> target, std::size_t c,
                     span<const T> grad_output, span<T> grad_input) const {
    require_handle("backward");
    require_input_size<T>("backward", input.size(), target.size(), c);
    backward_ptr<T>(input.data(), target.data(), target.size(), c, grad_output.data(),
                    grad_output.size(), grad_input.data(), grad_input.size());
  }
  template <class T>
  void forward_backward_span(span<const T> input, span<const std::int64_t> target,
                             std::size_t c, span<const T> grad_output, span<T> output,
                             span<T> grad_input) const {
    require_handle("forward_backward");
    require_input_size<T>("forward_backward", input.size(), target.size(), c);
    forward_backward_ptr<T>(input.data(), target.data(), target.size(), c, grad_output.data(),
                            grad_output.size(), output.data(), output.size(),
                            grad_input.data(), grad_input.size());
  }

  template <class T>
  std::vector<T> forward_vec(span<const T> input, span<const std::int64_t> target,
                             std::size_t c) const {
    require_handle("forward");
    require_input_size<T>("forward", input.size(), target.size(), c);
    std::vector<T> output(output_size(target.size()));
    forward_ptr<T>(input.data(), target.data(), target.size(), c, output.data(), output.size());
    return output;
  }
  template <class T>
  std::vector<T> backward_vec(span<const T> input, span<const std::int64_t> target,
                              std::size_t c, span<const T> grad_output) const {
    require_handle("backward");
    require_input_size<T>("backward", input.size(), target.size(), c);
    std::vector<T> grad_input(input.size());
    backward_ptr<T>(input.data(), target.data(), target.size(), c, grad_output.data(),
                    grad_output.size(), grad_input.data(), grad_input.size());
    return grad_input;
  }
  template <class T>
  ForwardBackward<T> forward_backward_vec(span<const T> input, span<const std::int64_t> target,
                                          std::size_t c, span<const T> grad_output) const {
    require_handle("forward_backward");
    require_input_size<T>("forward_backward", input.size(), target.size(), c);
    ForwardBackward<T> result{std::vector<T>(output_size(target.size())),
                              std::vector<T>(input.size())};
    forward_backward_ptr<T>(input.data(), target.data(), target.size(), c, grad_output.data(),
                            grad_output.size(), result.output.data(), result.output.size(),
                            result.grad_input.data(), result.grad_input.size());
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
