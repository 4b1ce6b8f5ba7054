// GoogleTest suite for the C++ binding (bindings/cpp/include/mml.hpp): golden cases bit-exact
// through the float and double APIs, every error status, moves, and one const loss shared by
// several threads. Built in-tree by bindings/cpp/CMakeLists.txt and, against an installed copy,
// by tests/install/cpp/CMakeLists.txt.

#include <mml.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "json.hpp"

#ifndef MML_GOLDEN_DIR
#define MML_GOLDEN_DIR ""
#endif

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers.

template <class T>
bool same_bits(T a, T b) {
  if (std::isnan(a) && std::isnan(b)) return true;  // any NaN equals any NaN
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
::testing::AssertionResult BitEqual(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "length " << got.size() << ", expected " << want.size();
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!same_bits(got[i], want[i])) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << std::hexfloat << got[i] << " ("
             << std::defaultfloat << std::setprecision(17) << got[i] << "), expected "
             << std::hexfloat << want[i] << " (" << std::defaultfloat << want[i] << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

template <class To, class From>
std::vector<To> promote(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Expects `statement` to throw mml::Error with `status`; returns the error's message.
#define EXPECT_MML_ERROR(statement, expected_status)                                     \
  [&]() -> std::string {                                                                 \
    try {                                                                                \
      statement;                                                                         \
    } catch (const mml::Error& e) {                                                      \
      EXPECT_EQ(e.status(), expected_status) << e.what();                                \
      EXPECT_EQ(e.code(), static_cast<std::uint32_t>(expected_status));                  \
      return e.what();                                                                   \
    } catch (const std::exception& e) {                                                  \
      ADD_FAILURE() << "threw a non-mml exception: " << e.what();                        \
      return {};                                                                         \
    }                                                                                    \
    ADD_FAILURE() << "did not throw: " #statement;                                       \
    return {};                                                                           \
  }()

struct Data {
  std::size_t n, c;
  std::vector<float> input;
  std::vector<std::int64_t> target;
};

Data random_data(std::size_t n, std::size_t c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> score(-2.0f, 2.0f);
  std::uniform_int_distribution<std::int64_t> cls(0, static_cast<std::int64_t>(c) - 1);
  Data d{n, c, std::vector<float>(n * c), std::vector<std::int64_t>(n)};
  for (float& x : d.input) x = score(rng);
  for (std::int64_t& t : d.target) t = cls(rng);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Golden data.

struct GoldenCase {
  std::string name;
  std::size_t n = 0, c = 0;
  std::uint32_t p = 1;
  double margin = 1.0;
  std::vector<float> weight;
  mml::Reduction reduction = mml::Reduction::Mean;
  std::vector<float> input;
  std::vector<std::int64_t> target;
  std::vector<float> grad_output;
  std::vector<float> forward_f32, grad_input_f32;
  std::vector<double> forward_f64, grad_input_f64;

  mml::Options options() const { return mml::Options{p, margin, weight, reduction}; }
};

std::string golden_dir() {
  if (const char* env = std::getenv("MML_GOLDEN_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return MML_GOLDEN_DIR;
}

std::string golden_path() { return golden_dir() + "/multi_margin_loss.json"; }

mml::Reduction parse_reduction(const std::string& s) {
  if (s == "none") return mml::Reduction::None;
  if (s == "mean") return mml::Reduction::Mean;
  if (s == "sum") return mml::Reduction::Sum;
  throw std::runtime_error("unknown reduction " + s);
}

// All golden cases, or nullptr when the file is absent. Parsed once.
const std::vector<GoldenCase>* golden_cases() {
  static const std::pair<bool, std::vector<GoldenCase>> loaded = [] {
    std::ifstream file(golden_path(), std::ios::binary);
    if (!file) return std::make_pair(false, std::vector<GoldenCase>{});
    std::stringstream buffer;
    buffer << file.rdbuf();
    const json::Value root = json::parse(buffer.str());
    std::vector<GoldenCase> cases;
    for (const json::Value& v : root.items()) {
      GoldenCase k;
      k.name = v["name"].str();
      k.n = static_cast<std::size_t>(std::stoull(v["n"].text));
      k.c = static_cast<std::size_t>(std::stoull(v["c"].text));
      if (v.has("one_d") && v["one_d"].as_bool()) k.n = 1;  // a 1-D input is one sample
      k.p = static_cast<std::uint32_t>(std::stoul(v["p"].text));
      k.margin = v["margin"].as<double>();
      if (!v["weight"].is_null()) k.weight = v["weight"].as_vector<float>();
      k.reduction = parse_reduction(v["reduction"].str());
      k.input = v["input"].as_vector<float>();
      for (const json::Value& t : v["target"].items()) k.target.push_back(std::stoll(t.text));
      k.grad_output = v["grad_output"].as_vector<float>();
      k.forward_f32 = v["forward_torch_f32"].as_vector<float>();
      k.grad_input_f32 = v["grad_input_torch_f32"].as_vector<float>();
      k.forward_f64 = v["forward_f64"].as_vector<double>();
      k.grad_input_f64 = v["grad_input_f64"].as_vector<double>();
      if (k.input.size() != k.n * k.c || k.target.size() != k.n) {
        throw std::runtime_error("golden case " + k.name + " has inconsistent lengths");
      }
      cases.push_back(std::move(k));
    }
    return std::make_pair(true, std::move(cases));
  }();
  return loaded.first ? &loaded.second : nullptr;
}

#define REQUIRE_GOLDEN(cases)                                                             \
  const std::vector<GoldenCase>* cases = golden_cases();                                  \
  if (cases == nullptr) {                                                                 \
    FAIL() << "golden data not readable at " << golden_path()                             \
           << " (the repository's tests/data/, or MML_GOLDEN_DIR)";                       \
  }                                                                                       \
  ASSERT_FALSE(cases->empty()) << "no cases in " << golden_path()

// ---------------------------------------------------------------------------------------------
// Golden cases: every case, bit-exact.

TEST(Golden, ParserRoundsCorrectly) {
  // strtof must round the decimal text directly to float (no double in between).
  const json::Value v = json::parse(R"([1.00000005960464477539062500000001, "nan", "-inf", -0.0])");
  EXPECT_EQ(v.items()[0].as<float>(), std::nextafter(1.0f, 2.0f));
  EXPECT_TRUE(std::isnan(v.items()[1].as<float>()));
  EXPECT_EQ(v.items()[2].as<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::signbit(v.items()[3].as<float>()));
}

TEST(Golden, Float32VectorApi) {
  REQUIRE_GOLDEN(cases);
  for (const GoldenCase& k : *cases) {
    SCOPED_TRACE(k.name);
    const mml::MultiMarginLoss loss(k.options());
    EXPECT_TRUE(BitEqual(loss.forward(k.input, k.target, k.c), k.forward_f32));
    EXPECT_TRUE(BitEqual(loss.backward(k.input, k.target, k.c, k.grad_output), k.grad_input_f32));
    const mml::ForwardBackward<float> fb =
        loss.forward_backward(k.input, k.target, k.c, k.grad_output);
    EXPECT_TRUE(BitEqual(fb.output, k.forward_f32));
    EXPECT_TRUE(BitEqual(fb.grad_input, k.grad_input_f32));
  }
  std::cout << "[          ] " << cases->size() << " golden cases checked (float)\n";
}

TEST(Golden, Float32PointerApi) {
  REQUIRE_GOLDEN(cases);
  for (const GoldenCase& k : *cases) {
    SCOPED_TRACE(k.name);
    const mml::MultiMarginLoss loss(k.options());
    std::vector<float> out(k.forward_f32.size(), -7.0f);
    std::vector<float> grad(k.n * k.c, -7.0f);
    loss.forward(k.input.data(), k.target.data(), k.n, k.c, out.data(), out.size());
    EXPECT_TRUE(BitEqual(out, k.forward_f32));
    loss.backward(k.input.data(), k.target.data(), k.n, k.c, k.grad_output.data(),
                  k.grad_output.size(), grad.data(), grad.size());
    EXPECT_TRUE(BitEqual(grad, k.grad_input_f32));
    std::fill(out.begin(), out.end(), -7.0f);
    std::fill(grad.begin(), grad.end(), -7.0f);
    loss.forward_backward(k.input.data(), k.target.data(), k.n, k.c, k.grad_output.data(),
                          k.grad_output.size(), out.data(), out.size(), grad.data(),
                          grad.size());
    EXPECT_TRUE(BitEqual(out, k.forward_f32));
    EXPECT_TRUE(BitEqual(grad, k.grad_input_f32));
  }
}

TEST(Golden, Float64Api) {
  REQUIRE_GOLDEN(cases);
  for (const GoldenCase& k : *cases) {
    SCOPED_TRACE(k.name);
    const mml::MultiMarginLoss loss(k.options());
    const std::vector<double> input = promote<double>(k.input);
    const std::vector<double> grad_output = promote<double>(k.grad_output);
    EXPECT_TRUE(BitEqual(loss.forward(input, k.target, k.c), k.forward_f64));
    EXPECT_TRUE(BitEqual(loss.backward(input, k.target, k.c, grad_output), k.grad_input_f64));
    const mml::ForwardBackward<double> fb =
        loss.forward_backward(input, k.target, k.c, grad_output);
    EXPECT_TRUE(BitEqual(fb.output, k.forward_f64));
    EXPECT_TRUE(BitEqual(fb.grad_input, k.grad_input_f64));
    // The span overloads into caller buffers.
    std::vector<double> out(k.forward_f64.size(), -7.0), grad(k.n * k.c, -7.0);
    loss.forward_backward(mml::span<const double>(input), k.target, k.c, grad_output,
                          mml::span<double>(out), mml::span<double>(grad));
    EXPECT_TRUE(BitEqual(out, k.forward_f64));
    EXPECT_TRUE(BitEqual(grad, k.grad_input_f64));
    std::vector<double> grad2(k.n * k.c, -7.0);
    loss.backward(input.data(), k.target.data(), k.n, k.c, grad_output.data(),
                  grad_output.size(), grad2.data(), grad2.size());
    EXPECT_TRUE(BitEqual(grad2, k.grad_input_f64));
  }
  std::cout << "[          ] " << cases->size() << " golden cases checked (double)\n";
}

// ---------------------------------------------------------------------------------------------
// Semantics beyond the golden file.

TEST(Loss, DefaultsArePyTorchs) {
  const mml::Options o;
  EXPECT_EQ(o.p, 1u);
  EXPECT_EQ(o.margin, 1.0);
  EXPECT_TRUE(o.weight.empty());
  EXPECT_EQ(o.reduction, mml::Reduction::Mean);
  const mml::MultiMarginLoss loss;
  EXPECT_TRUE(loss.valid());
  EXPECT_EQ(loss.p(), 1u);
  EXPECT_EQ(loss.reduction(), mml::Reduction::Mean);
  // torch.nn.MultiMarginLoss() docs: x = [[0.1, 0.2, 0.4, 0.8]], y = [3] gives 0.3250.
  const std::vector<float> x = {0.1f, 0.2f, 0.4f, 0.8f};
  const std::vector<std::int64_t> y = {3};
  const std::vector<float> out = loss.forward(x, y, 4);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NEAR(out[0], 0.325f, 1e-6f);
  // d/dx: 1/4 for each active j != y, -3/4 for y.
  const std::vector<float> g = loss.backward(x, y, 4);
  EXPECT_TRUE(BitEqual(g, std::vector<float>{0.25f, 0.25f, 0.25f, -0.75f}));
}

TEST(Loss, EmptyBatch) {
  const std::vector<float> none_in;
  const std::vector<std::int64_t> none_t;
  EXPECT_TRUE(BitEqual(mml::MultiMarginLoss(1, 1.0, mml::Reduction::Sum).forward(none_in, none_t, 3),
                       std::vector<float>{0.0f}));
  const std::vector<float> mean = mml::MultiMarginLoss().forward(none_in, none_t, 3);
  ASSERT_EQ(mean.size(), 1u);
  EXPECT_TRUE(std::isnan(mean[0]));
  EXPECT_TRUE(mml::MultiMarginLoss(2, 1.0, mml::Reduction::None).forward(none_in, none_t, 3).empty());
  EXPECT_TRUE(mml::MultiMarginLoss().backward(none_in, none_t, 3).empty());
}

TEST(Loss, FusedEqualsSeparateAndSpanFlavoursAgree) {
  const Data d = random_data(40, 13, 7);
  for (mml::Reduction r : {mml::Reduction::None, mml::Reduction::Mean, mml::Reduction::Sum}) {
    for (std::uint32_t p : {1u, 2u}) {
      const mml::MultiMarginLoss loss(p, 0.75, r);
      const std::vector<float> go(loss.output_size(d.n), 0.5f);
      const std::vector<float> fwd = loss.forward(d.input, d.target, d.c);
      const std::vector<float> bwd = loss.backward(d.input, d.target, d.c, go);
      const auto fb = loss.forward_backward(d.input, d.target, d.c, go);
      EXPECT_TRUE(BitEqual(fb.output, fwd));
      EXPECT_TRUE(BitEqual(fb.grad_input, bwd));
      // Subspans of larger buffers, std::array and C arrays all work as views.
      std::vector<float> big(d.input.size() + 8, 99.0f);
      std::copy(d.input.begin(), d.input.end(), big.begin() + 4);
      const mml::span<const float> view = mml::span<const float>(big).subspan(4, d.input.size());
      EXPECT_TRUE(BitEqual(loss.forward(view, d.target, d.c), fwd));
    }
  }
  const std::array<float, 6> a = {0.f, 1.f, 2.f, 0.f, 1.f, 3.f};
  const std::int64_t t[2] = {2, 0};
  float out[1] = {-1.0f};
  const mml::MultiMarginLoss sum(1, 1.0, mml::Reduction::Sum);
  sum.forward(a, t, 3, out);
  // Row 0 (y=2): z = 1-2+0 = -1, 1-2+1 = 0 (strict hinge) -> 0. Row 1 (y=0): z = 1-0+1 = 2,
  // 1-0+3 = 4 -> 6/3 = 2.
  EXPECT_EQ(out[0], 2.0f);
}

TEST(Loss, WeightsAndFloat64) {
  const Data d = random_data(9, 5, 3);
  const std::vector<float> w = {0.5f, 1.0f, 2.0f, 0.25f, 3.0f};
  const mml::MultiMarginLoss loss(mml::Options{2, 1.0, w, mml::Reduction::None});
  EXPECT_EQ(loss.weight(), w);
  const std::vector<double> in64 = promote<double>(d.input);
  const std::vector<double> out64 = loss.forward(in64, d.target, d.c);
  const std::vector<float> out32 = loss.forward(d.input, d.target, d.c);
  ASSERT_EQ(out64.size(), d.n);
  for (std::size_t i = 0; i < d.n; ++i) {
    // Recompute row i in double: (sum_{j != y, z > 0} w[y] z^2) / c.
    const std::int64_t y = d.target[i];
    double s = 0;
    for (std::size_t j = 0; j < d.c; ++j) {
      if (static_cast<std::int64_t>(j) == y) continue;
      const double z = (1.0 - in64[i * d.c + y]) + in64[i * d.c + j];
      if (z > 0) s += w[y] * z * z;
    }
    EXPECT_NEAR(out64[i], s / d.c, 1e-12 * (1 + s));
    EXPECT_NEAR(out32[i], s / d.c, 1e-5 * (1 + s));
  }
}

// ---------------------------------------------------------------------------------------------
// Errors: every status reachable from C++, with nothing written on failure.

TEST(Errors, StatusMessages) {
  for (std::uint32_t s = 0; s <= 7; ++s) {
    const char* m = mml::status_message(static_cast<mml::Status>(s));
    ASSERT_NE(m, nullptr);
    EXPECT_GT(std::strlen(m), 0u);
    for (std::uint32_t t = 0; t < s; ++t) {
      EXPECT_STRNE(m, mml::status_message(static_cast<mml::Status>(t)));
    }
  }
  EXPECT_GT(std::strlen(mml::status_message(static_cast<mml::Status>(1234))), 0u);
  const mml::Error e(mml::Status::InternalError, "boom");
  const std::runtime_error& base = e;  // mml::Error is a std::runtime_error
  EXPECT_STREQ(base.what(), "boom");
  EXPECT_EQ(e.code(), static_cast<std::uint32_t>(MML_STATUS_INTERNAL_ERROR));
}

// MML_STATUS_OUT_OF_MEMORY (7) becomes Status::OutOfMemory. The library's allocations cannot be
// made to fail from here, so the header's status-to-error functions are tested directly.
TEST(Errors, OutOfMemoryStatus) {
  EXPECT_EQ(static_cast<std::uint32_t>(mml::Status::OutOfMemory), 7u);
  const mml::Error e = mml::detail::library_error(7, "mml::MultiMarginLoss::forward", MmlError{});
  EXPECT_EQ(e.status(), mml::Status::OutOfMemory);
  EXPECT_EQ(e.code(), 7u);
  EXPECT_FALSE(e.bad_target().has_value());
  EXPECT_EQ(std::string(e.what()),
            std::string("mml::MultiMarginLoss::forward: ") + mml_status_message(7));
  // A failed mml_create: the hint about p and the reduction belongs to InvalidArgument only.
  const mml::Options options{2, 0.5, {1.0f, 2.0f}, mml::Reduction::Sum};
  const mml::Error oom = mml::detail::creation_error(7, options);
  EXPECT_EQ(oom.status(), mml::Status::OutOfMemory);
  EXPECT_EQ(std::string(oom.what()),
            std::string("mml::MultiMarginLoss(p = 2, reduction = 2, weight length 2): ") +
                mml_status_message(7));
  const mml::Error bad_p = mml::detail::creation_error(MML_STATUS_INVALID_ARGUMENT, options);
  EXPECT_EQ(bad_p.status(), mml::Status::InvalidArgument);
  EXPECT_NE(std::string(bad_p.what()).find("(p must be 1 or 2"), std::string::npos) << bad_p.what();
}

TEST(Errors, InvalidArgument) {
  EXPECT_MML_ERROR(mml::MultiMarginLoss(0, 1.0), mml::Status::InvalidArgument);
  const std::string m = EXPECT_MML_ERROR(mml::MultiMarginLoss(3, 1.0), mml::Status::InvalidArgument);
  EXPECT_NE(m.find("p = 3"), std::string::npos) << m;
  EXPECT_MML_ERROR(mml::MultiMarginLoss(1, 1.0, static_cast<mml::Reduction>(7)),
                   mml::Status::InvalidArgument);
  // c == 0 with samples.
  const mml::MultiMarginLoss loss;
  const std::vector<float> empty;
  const std::vector<std::int64_t> t = {0, 0};
  float out = 5.0f;
  EXPECT_MML_ERROR(loss.forward(empty, t, 0, mml::span<float>(&out, 1)),
                   mml::Status::InvalidArgument);
  EXPECT_EQ(out, 5.0f);
  // Thread count above the limit.
  EXPECT_MML_ERROR(mml::set_num_threads(MML_MAX_THREADS + 1), mml::Status::InvalidArgument);
}

// An n*c that memory cannot hold is InvalidArgument in both overload families (the pointer
// ones hear it from the C library, the span ones find it themselves), f32 and f64, and nothing
// is written.
TEST(Errors, OverflowingShapeIsInvalidArgument) {
  const mml::MultiMarginLoss loss(1, 1.0, mml::Reduction::Sum);
  const std::vector<std::int64_t> t(4, 0);
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;  // 4 * huge overflows
  const std::vector<float> in(8, 0.5f);
  const std::vector<double> in64(8, 0.5);
  std::vector<float> out(1, 5.0f), go(1, 1.0f), gi(8, 5.0f);
  std::vector<double> out64(1, 5.0), go64(1, 1.0), gi64(8, 5.0);
  std::vector<std::string> messages;
  const auto invalid = [&](const std::string& m) { messages.push_back(m); };
  // Pointer overloads.
  invalid(EXPECT_MML_ERROR(loss.forward(in.data(), t.data(), 4, huge, out.data(), 1),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.forward(in64.data(), t.data(), 4, huge, out64.data(), 1),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.backward(in.data(), t.data(), 4, huge, go.data(), 1, gi.data(), 8),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(
      loss.backward(in64.data(), t.data(), 4, huge, go64.data(), 1, gi64.data(), 8),
      mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.forward_backward(in.data(), t.data(), 4, huge, go.data(), 1,
                                                 out.data(), 1, gi.data(), 8),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.forward_backward(in64.data(), t.data(), 4, huge, go64.data(), 1,
                                                 out64.data(), 1, gi64.data(), 8),
                           mml::Status::InvalidArgument));
  // Span overloads, into caller buffers and returning vectors, with inputs of any length.
  invalid(EXPECT_MML_ERROR(loss.forward(in, t, huge, mml::span<float>(out)),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.forward(in64, t, huge, mml::span<double>(out64)),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.backward(in, t, huge, go, mml::span<float>(gi)),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.backward(in64, t, huge, go64, mml::span<double>(gi64)),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(
      loss.forward_backward(in, t, huge, go, mml::span<float>(out), mml::span<float>(gi)),
      mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR(loss.forward_backward(in64, t, huge, go64, mml::span<double>(out64),
                                                 mml::span<double>(gi64)),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.forward(mml::span<const float>(nullptr, 0), t, huge),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.forward(in64, t, huge), mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.backward(in, t, huge), mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.backward(in64, t, huge, go64), mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.forward_backward(in, t, huge, go),
                           mml::Status::InvalidArgument));
  invalid(EXPECT_MML_ERROR((void)loss.forward_backward(in64, t, huge),
                           mml::Status::InvalidArgument));
  ASSERT_EQ(messages.size(), 18u);
  for (const std::string& m : messages) {
    // mml's words for it, also where the binding finds it first (the span overloads).
    EXPECT_NE(m.find("n·c = 4·" + std::to_string(huge) + " overflows the address space"),
              std::string::npos)
        << m;
  }
  // n*c fits size_t but not its bytes: PTRDIFF_MAX / 16 * 4 floats fit the address space, as
  // many doubles do not (the C library's rule).
  const std::size_t c = static_cast<std::size_t>(PTRDIFF_MAX) / 16;
  EXPECT_MML_ERROR((void)loss.forward(in, t, c), mml::Status::ShapeMismatch);
  EXPECT_MML_ERROR((void)loss.forward(in64, t, c), mml::Status::InvalidArgument);
  EXPECT_MML_ERROR(loss.forward(in64.data(), t.data(), 4, c, out64.data(), 1),
                   mml::Status::InvalidArgument);
  EXPECT_EQ(out[0], 5.0f);
  EXPECT_EQ(out64[0], 5.0);
  EXPECT_TRUE(std::all_of(gi.begin(), gi.end(), [](float v) { return v == 5.0f; }));
  EXPECT_TRUE(std::all_of(gi64.begin(), gi64.end(), [](double v) { return v == 5.0; }));
}

TEST(Errors, ShapeMismatch) {
  const Data d = random_data(4, 3, 11);
  const mml::MultiMarginLoss none(1, 1.0, mml::Reduction::None);
  const mml::MultiMarginLoss mean;
  std::vector<float> out(4, 42.0f), grad(12, 42.0f);
  const std::vector<float> go1 = {1.0f};
  // Input not n*c (checked by the C++ layer).
  const std::vector<float> short_input(d.input.begin(), d.input.end() - 1);
  EXPECT_MML_ERROR(none.forward(short_input, d.target, d.c, mml::span<float>(out)),
                   mml::Status::ShapeMismatch);
  EXPECT_MML_ERROR(mean.backward(short_input, d.target, d.c), mml::Status::ShapeMismatch);
  // Output length: n for None, 1 otherwise.
  std::string m = EXPECT_MML_ERROR(
      none.forward(d.input, d.target, d.c, mml::span<float>(out).first(3)),
      mml::Status::ShapeMismatch);
  EXPECT_NE(m.find("output has 3 elements, expected 4"), std::string::npos) << m;
  EXPECT_MML_ERROR(mean.forward(d.input, d.target, d.c, mml::span<float>(out).first(2)),
                   mml::Status::ShapeMismatch);
  // grad_output length.
  EXPECT_MML_ERROR(none.backward(d.input, d.target, d.c, go1, mml::span<float>(grad)),
                   mml::Status::ShapeMismatch);
  EXPECT_MML_ERROR(mean.backward(d.input, d.target, d.c, mml::span<const float>(out)),
                   mml::Status::ShapeMismatch);
  // grad_input length.
  EXPECT_MML_ERROR(mean.backward(d.input, d.target, d.c, go1, mml::span<float>(grad).first(11)),
                   mml::Status::ShapeMismatch);
  EXPECT_MML_ERROR(mean.forward_backward(d.input, d.target, d.c, go1,
                                         mml::span<float>(out).first(1),
                                         mml::span<float>(grad).first(10)),
                   mml::Status::ShapeMismatch);
  for (float v : out) EXPECT_EQ(v, 42.0f);
  for (float v : grad) EXPECT_EQ(v, 42.0f);
  // Weight length against c.
  const mml::MultiMarginLoss weighted(mml::Options{1, 1.0, {1.0f, 2.0f}, mml::Reduction::Sum});
  try {
    (void)weighted.forward(d.input, d.target, d.c);
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::ShapeMismatch);
    EXPECT_EQ(e.argument(), mml::Argument::Weight) << e.what();
    EXPECT_NE(e.detail().message.find("weight"), std::string::npos) << e.what();
  }
  const std::vector<double> in64 = promote<double>(d.input);
  EXPECT_MML_ERROR(weighted.backward(in64, d.target, d.c), mml::Status::ShapeMismatch);
}

TEST(Errors, TargetOutOfRange) {
  Data d = random_data(5, 4, 5);
  d.target[3] = 4;  // == c
  const mml::MultiMarginLoss loss;
  std::vector<float> out(1, 42.0f), grad(20, 42.0f);
  const std::vector<float> go = {1.0f};
  try {
    loss.forward(d.input, d.target, d.c, mml::span<float>(out));
    ADD_FAILURE() << "did not throw";
  } catch (const mml::Error& e) {
    EXPECT_EQ(e.status(), mml::Status::TargetOutOfRange);
    ASSERT_TRUE(e.bad_target().has_value());
    EXPECT_EQ(e.bad_target()->row, 3u);
    EXPECT_EQ(e.bad_target()->value, 4);
    EXPECT_NE(std::string(e.what()).find("target[3] = 4"), std::string::npos) << e.what();
    // mml's own detail, not the binding's.
    EXPECT_EQ(e.argument(), mml::Argument::Target);
    EXPECT_EQ(e.detail().row, 3u);
    EXPECT_EQ(e.detail().value, 4);
    EXPECT_NE(e.detail().message.find("target[3] = 4"), std::string::npos) << e.what();
  }
  d.target[3] = 1;
  d.target[1] = -1;
  const std::string m = EXPECT_MML_ERROR(
      loss.forward_backward(d.input, d.target, d.c, go, mml::span<float>(out),
                            mml::span<float>(grad)),
      mml::Status::TargetOutOfRange);
  EXPECT_NE(m.find("target[1] = -1"), std::string::npos) << m;
  EXPECT_MML_ERROR(loss.backward(promote<double>(d.input), d.target, d.c),
                   mml::Status::TargetOutOfRange);
  EXPECT_EQ(out[0], 42.0f);
  for (float v : grad) EXPECT_EQ(v, 42.0f);
  // find_bad_target wraps mml_check_targets.
  const std::vector<std::int64_t> ok = {0, 3, 2};
  EXPECT_FALSE(mml::find_bad_target(ok, 4).has_value());
  const std::vector<std::int64_t> bad = {0, 3, 9, -2};
  const auto b = mml::find_bad_target(bad, 4);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->row, 2u);
  EXPECT_EQ(b->value, 9);
}

TEST(Errors, AliasedBuffers) {
  const Data d = random_data(4, 3, 13);
  const std::size_t nc = d.n * d.c;
  const mml::MultiMarginLoss mean;
  // Output overlapping the input's last element.
  std::vector<float> buf(nc + 1, 0.0f);
  std::copy(d.input.begin(), d.input.end(), buf.begin());
  const mml::span<const float> input(buf.data(), nc);
  std::vector<float> before = buf;
  EXPECT_MML_ERROR(mean.forward(input, d.target, d.c, mml::span<float>(buf.data() + nc - 1, 1)),
                   mml::Status::AliasedBuffers);
  EXPECT_TRUE(BitEqual(buf, before));
  // Adjacent but not overlapping is fine.
  mean.forward(input, d.target, d.c, mml::span<float>(buf.data() + nc, 1));
  EXPECT_TRUE(BitEqual(mean.forward(d.input, d.target, d.c), std::vector<float>{buf[nc]}));
  // grad_input overlapping grad_output.
  std::vector<float> g(nc + 1, 1.0f);
  before = g;
  EXPECT_MML_ERROR(mean.backward(d.input, d.target, d.c, mml::span<const float>(g.data(), 1),
                                 mml::span<float>(g.data(), nc)),
                   mml::Status::AliasedBuffers);
  EXPECT_TRUE(BitEqual(g, before));
  // grad_input overlapping the input (double API).
  std::vector<double> b64(nc, 0.0);
  for (std::size_t i = 0; i < nc; ++i) b64[i] = d.input[i];
  const std::vector<double> go64 = {1.0};
  EXPECT_MML_ERROR(mean.backward(mml::span<const double>(b64), d.target, d.c, go64,
                                 mml::span<double>(b64)),
                   mml::Status::AliasedBuffers);
  // output overlapping grad_input in the fused call.
  std::vector<float> both(nc, 3.0f);
  before = both;
  const std::vector<float> go = {1.0f};
  EXPECT_MML_ERROR(mean.forward_backward(d.input, d.target, d.c, go,
                                         mml::span<float>(both.data() + 5, 1),
                                         mml::span<float>(both)),
                   mml::Status::AliasedBuffers);
  EXPECT_TRUE(BitEqual(both, before));
}

TEST(Errors, NullPointer) {
  const Data d = random_data(2, 3, 17);
  const mml::MultiMarginLoss loss;
  float out = 42.0f;
  EXPECT_MML_ERROR(loss.forward(static_cast<const float*>(nullptr), d.target.data(), d.n, d.c,
                                &out, 1),
                   mml::Status::NullPointer);
  EXPECT_MML_ERROR(loss.forward(d.input.data(), d.target.data(), d.n, d.c,
                                static_cast<float*>(nullptr), 1),
                   mml::Status::NullPointer);
  EXPECT_EQ(out, 42.0f);
}

// ---------------------------------------------------------------------------------------------
// Moves.

static_assert(!std::is_copy_constructible_v<mml::MultiMarginLoss>);
static_assert(!std::is_copy_assignable_v<mml::MultiMarginLoss>);
static_assert(std::is_nothrow_move_constructible_v<mml::MultiMarginLoss>);
static_assert(std::is_nothrow_move_assignable_v<mml::MultiMarginLoss>);
static_assert(std::is_base_of_v<std::runtime_error, mml::Error>);

TEST(Moves, MoveConstructLeavesSourceEmpty) {
  const Data d = random_data(6, 4, 19);
  mml::MultiMarginLoss a(2, 0.5, mml::Reduction::Sum);
  const std::vector<float> want = a.forward(d.input, d.target, d.c);
  const MmlLoss* handle = a.native_handle();
  mml::MultiMarginLoss b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_FALSE(static_cast<bool>(a));
  EXPECT_EQ(a.native_handle(), nullptr);
  EXPECT_EQ(b.native_handle(), handle);
  EXPECT_EQ(b.p(), 2u);
  EXPECT_EQ(b.margin(), 0.5);
  EXPECT_TRUE(BitEqual(b.forward(d.input, d.target, d.c), want));
  const std::string m = EXPECT_MML_ERROR(a.forward(d.input, d.target, d.c),
                                         mml::Status::NullPointer);
  EXPECT_NE(m.find("moved from"), std::string::npos) << m;
  std::vector<double> out(1, 42.0);
  EXPECT_MML_ERROR(a.forward(promote<double>(d.input).data(), d.target.data(), d.n, d.c,
                             out.data(), out.size()),
                   mml::Status::NullPointer);
  EXPECT_EQ(out[0], 42.0);
  EXPECT_MML_ERROR(a.forward_backward(d.input, d.target, d.c), mml::Status::NullPointer);
  // A moved-from object can be assigned to again.
  a = mml::MultiMarginLoss(2, 0.5, mml::Reduction::Sum);
  EXPECT_TRUE(a.valid());
  EXPECT_TRUE(BitEqual(a.forward(d.input, d.target, d.c), want));
}

TEST(Moves, MoveAssignAndSelfMove) {
  const Data d = random_data(6, 4, 23);
  mml::MultiMarginLoss a(1, 1.0, mml::Reduction::None);
  mml::MultiMarginLoss b(2, 1.0, mml::Reduction::Sum);
  const std::vector<float> want_a = a.forward(d.input, d.target, d.c);
  b = std::move(a);  // b's old handle is destroyed (ASan/valgrind would flag a leak)
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.reduction(), mml::Reduction::None);
  EXPECT_TRUE(BitEqual(b.forward(d.input, d.target, d.c), want_a));
  // Self-move keeps the object intact.
  mml::MultiMarginLoss& alias = b;
  b = std::move(alias);
  EXPECT_TRUE(b.valid());
  EXPECT_TRUE(BitEqual(b.forward(d.input, d.target, d.c), want_a));
  // Moving an empty object.
  mml::MultiMarginLoss c(std::move(a));
  EXPECT_FALSE(c.valid());
  // Containers of losses (needs noexcept moves to relocate).
  std::vector<mml::MultiMarginLoss> losses;
  for (int i = 0; i < 10; ++i) losses.emplace_back(1 + i % 2, 1.0);
  for (const auto& l : losses) EXPECT_TRUE(l.valid());
}

// ---------------------------------------------------------------------------------------------
// Threads.

TEST(Threads, OneConstLossSharedByManyThreads) {
  // Large enough (2048 x 100 > mml's parallel threshold) to use mml's pool from every thread
  // at once, plus a small input that stays on the calling thread.
  const Data big = random_data(2048, 100, 29);
  const Data small = random_data(16, 10, 31);
  const mml::MultiMarginLoss owner(2, 1.0, mml::Reduction::Mean);
  const mml::MultiMarginLoss& loss = owner;
  const auto want_big = loss.forward_backward(big.input, big.target, big.c);
  const auto want_small = loss.forward_backward(small.input, small.target, small.c);
  const std::vector<double> big64 = promote<double>(big.input);
  const auto want_big64 = loss.forward_backward(big64, big.target, big.c);

  constexpr int kThreads = 8, kIterations = 12;
  std::atomic<int> mismatches{0}, errors{0}, calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kIterations; ++i) {
          const auto s = loss.forward_backward(small.input, small.target, small.c);
          if (!BitEqual(s.output, want_small.output) ||
              !BitEqual(s.grad_input, want_small.grad_input)) {
            ++mismatches;
          }
          if ((t + i) % 2 == 0) {
            const auto b = loss.forward_backward(big.input, big.target, big.c);
            if (!BitEqual(b.output, want_big.output) ||
                !BitEqual(b.grad_input, want_big.grad_input)) {
              ++mismatches;
            }
          } else {
            const auto b = loss.forward_backward(big64, big.target, big.c);
            if (!BitEqual(b.output, want_big64.output) ||
                !BitEqual(b.grad_input, want_big64.grad_input)) {
              ++mismatches;
            }
          }
          if (t == 0 && i == kIterations / 2) mml::set_num_threads(2);  // while others run
          calls += 2;
        }
      } catch (...) {
        ++errors;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  mml::set_num_threads(0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(calls.load(), 2 * kThreads * kIterations);
}

TEST(Threads, ResultsDoNotDependOnThreadCount) {
  const Data big = random_data(3000, 64, 37);
  const mml::MultiMarginLoss loss(1, 1.0, mml::Reduction::Sum);
  std::vector<mml::ForwardBackward<float>> results;
  for (std::size_t n : {1u, 2u, 3u}) {
    mml::set_num_threads(n);
    EXPECT_EQ(mml::num_threads(), n);
    results.push_back(loss.forward_backward(big.input, big.target, big.c));
  }
  mml::set_num_threads(0);
  EXPECT_GE(mml::num_threads(), 1u);
  for (const auto& r : results) {
    EXPECT_TRUE(BitEqual(r.output, results[0].output));
    EXPECT_TRUE(BitEqual(r.grad_input, results[0].grad_input));
  }
}

// ---------------------------------------------------------------------------------------------
// Version.

TEST(Version, LibraryMatchesHeader) {
  EXPECT_EQ(mml::version(), MML_VERSION_STRING);
  EXPECT_EQ(mml::abi_version(), static_cast<std::uint32_t>(MML_ABI_VERSION));
  EXPECT_TRUE(mml::library_matches_header());
#ifdef MML_EXPECTED_VERSION
  EXPECT_EQ(mml::version(), MML_EXPECTED_VERSION);  // the version in Cargo.toml
#endif
}

// mml::span is one class under C++17 and C++20 (this file is built in both; the construction
// rules themselves are checked at compile time by span_rules.cpp).
TEST(Span, OneClassInEveryStandard) {
  std::vector<float> v = {1, 2, 3};
  mml::span<float> s(v);
  mml::span<const float> cs = s;  // span<T> -> span<const T>
  EXPECT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs.data(), v.data());
  EXPECT_EQ(&s.front(), v.data());
  EXPECT_EQ(&s.back(), v.data() + 2);
  EXPECT_EQ(s.last(2).data(), v.data() + 1);
  EXPECT_EQ(s.last(2).size(), 2u);
  static_assert(!std::is_constructible_v<mml::span<float>, const std::vector<float>&>);
  static_assert(!std::is_constructible_v<mml::span<const double>, std::vector<float>&>);
#if defined(__cpp_lib_span)
  static_assert(!std::is_same_v<mml::span<float>, std::span<float>>);
  const std::span<float> std_view = s;  // converts both ways under C++20
  const mml::span<const float> back = std_view;
  EXPECT_EQ(back.data(), v.data());
  EXPECT_EQ(back.size(), 3u);
#endif
  // The empty span from a null pointer, through the loss: an empty batch.
  const mml::MultiMarginLoss sum(1, 1.0, mml::Reduction::Sum);
  const mml::span<const float> none(nullptr, 0);
  EXPECT_EQ(none.data(), nullptr);
  const std::vector<float> out = sum.forward(none, mml::span<const std::int64_t>(nullptr, 0), 3);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_FALSE(std::signbit(out[0]));
}

}  // namespace
