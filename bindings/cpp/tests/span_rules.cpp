// mml::span's construction rules, checked at compile time. CMakeLists.txt compiles this one
// source as C++17 and as C++20: both must accept exactly the expressions below and reject the
// rest (the header promises one span class, with the same rules, in either standard).
#include <mml.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using std::is_constructible_v;
using std::is_convertible_v;
using std::is_same_v;
using cspan = mml::span<const float>;
using fspan = mml::span<float>;

// The empty span from a null pointer (issue 25: compiled under C++17 only, when C++20 made
// mml::span std::span), in a constant expression too.
constexpr cspan null_span(nullptr, 0);
static_assert(null_span.data() == nullptr && null_span.empty() && null_span.size() == 0);
constexpr cspan default_span;
static_assert(default_span.data() == nullptr && default_span.empty());
static_assert(is_constructible_v<cspan, std::nullptr_t, std::size_t>);
static_assert(is_constructible_v<fspan, std::nullptr_t, std::size_t>);
static_assert(is_constructible_v<mml::span<const std::int64_t>, std::nullptr_t, int>);

// Pointer and size.
static_assert(is_constructible_v<cspan, float*, std::size_t>);
static_assert(is_constructible_v<cspan, const float*, std::size_t>);
static_assert(is_constructible_v<fspan, float*, std::size_t>);
static_assert(!is_constructible_v<fspan, const float*, std::size_t>);
static_assert(!is_constructible_v<cspan, const double*, std::size_t>);
static_assert(!is_constructible_v<cspan, const int*, std::size_t>);
static_assert(!is_constructible_v<cspan, float*>);
static_assert(!is_constructible_v<cspan, std::nullptr_t>);

// C arrays and std::array (implicitly: they are passed straight to the loss's methods).
static_assert(is_convertible_v<float (&)[3], fspan>);
static_assert(is_convertible_v<float (&)[3], cspan>);
static_assert(is_convertible_v<const float (&)[3], cspan>);
static_assert(!is_constructible_v<fspan, const float (&)[3]>);
static_assert(is_convertible_v<std::array<float, 3>&, fspan>);
static_assert(is_convertible_v<const std::array<float, 3>&, cspan>);
static_assert(!is_constructible_v<fspan, const std::array<float, 3>&>);
static_assert(!is_constructible_v<fspan, std::array<float, 3>&&>);

// Contiguous containers: lvalues, and rvalues only for a span of const elements.
static_assert(is_convertible_v<std::vector<float>&, fspan>);
static_assert(is_convertible_v<std::vector<float>&, cspan>);
static_assert(is_convertible_v<const std::vector<float>&, cspan>);
static_assert(is_convertible_v<std::vector<float>&&, cspan>);
static_assert(!is_constructible_v<fspan, const std::vector<float>&>);
static_assert(!is_constructible_v<fspan, std::vector<float>&&>);
static_assert(!is_constructible_v<cspan, std::vector<double>&>);
static_assert(!is_constructible_v<mml::span<const double>, std::vector<float>&>);
static_assert(!is_constructible_v<cspan, std::vector<int>&>);
static_assert(is_convertible_v<std::string&, mml::span<char>>);
static_assert(!is_constructible_v<mml::span<char>, const std::string&>);

// Between spans: T to const T, never back.
static_assert(is_convertible_v<fspan, cspan>);
static_assert(is_convertible_v<const fspan&, cspan>);
static_assert(!is_constructible_v<fspan, cspan>);
static_assert(!is_constructible_v<mml::span<const double>, fspan>);

// Deduction, as std::span's.
inline void deduction() {
  std::vector<float> v(3);
  const std::vector<double> cv(3);
  std::array<float, 2> a{};
  float c[4] = {};
  float* p = v.data();
  static_assert(is_same_v<decltype(mml::span(v)), fspan>);
  static_assert(is_same_v<decltype(mml::span(cv)), mml::span<const double>>);
  static_assert(is_same_v<decltype(mml::span(a)), fspan>);
  static_assert(is_same_v<decltype(mml::span(c)), fspan>);
  static_assert(is_same_v<decltype(mml::span(p, 3)), fspan>);
  (void)v;
  (void)cv;
  (void)a;
  (void)c;
  (void)p;
}

// The loss's span parameters take the same expressions.
inline void loss_arguments(const mml::MultiMarginLoss& loss) {
  float out = 0.0f;
  (void)loss.forward(cspan(nullptr, 0), mml::span<const std::int64_t>(nullptr, 0), 3);
  loss.forward(cspan(nullptr, 0), mml::span<const std::int64_t>(nullptr, 0), 3, fspan(&out, 1));
}

}  // namespace

#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
// Only under C++20, where std::span exists: it converts to mml::span and back, rvalues too.
static_assert(!is_same_v<fspan, std::span<float>>);
static_assert(is_convertible_v<std::span<float>, fspan>);
static_assert(is_convertible_v<std::span<float>&, fspan>);
static_assert(is_convertible_v<std::span<float>, cspan>);
static_assert(is_convertible_v<std::span<const float>, cspan>);
static_assert(is_convertible_v<std::span<float, 4>, fspan>);
static_assert(!is_constructible_v<fspan, std::span<const float>>);
static_assert(is_convertible_v<fspan, std::span<float>>);
static_assert(is_convertible_v<fspan&, std::span<const float>>);
static_assert(is_convertible_v<cspan, std::span<const float>>);
static_assert(!is_constructible_v<std::span<float>, cspan>);
#endif

// Instantiated so that the inline functions above are compiled, not only parsed.
void mml_span_rules(const mml::MultiMarginLoss& loss);
void mml_span_rules(const mml::MultiMarginLoss& loss) {
  deduction();
  loss_arguments(loss);
}
