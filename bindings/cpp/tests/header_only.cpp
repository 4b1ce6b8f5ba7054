// Compiles mml.hpp alone under strict warnings (-Wconversion, -Wold-style-cast, ...) and
// instantiates every overload, so that a warning anywhere in the header fails the build.
#ifdef MML_TEST_DLPACK
#include <mml_dlpack.hpp>
#else
#include <mml.hpp>
#endif

#include <cstdint>
#include <vector>

void mml_hpp_instantiate_everything(const mml::MultiMarginLoss& loss, std::size_t c);

void mml_hpp_instantiate_everything(const mml::MultiMarginLoss& loss, std::size_t c) {
  const std::vector<std::int64_t> t(2, 0);
  std::vector<float> f(2 * c), fo(2), fg(2 * c);
  std::vector<double> d(2 * c), dout(2), dg(2 * c);
  loss.forward(f.data(), t.data(), 2, c, fo.data(), fo.size());
  loss.forward(d.data(), t.data(), 2, c, dout.data(), dout.size());
  loss.backward(f.data(), t.data(), 2, c, fo.data(), fo.size(), fg.data(), fg.size());
  loss.backward(d.data(), t.data(), 2, c, dout.data(), dout.size(), dg.data(), dg.size());
  loss.forward_backward(f.data(), t.data(), 2, c, fo.data(), 1, fo.data() + 1, 1, fg.data(),
                        fg.size());
  loss.forward_backward(d.data(), t.data(), 2, c, dout.data(), 1, dout.data() + 1, 1,
                        dg.data(), dg.size());
  loss.forward(f, t, c, mml::span<float>(fo));
  loss.forward(d, t, c, mml::span<double>(dout));
  loss.backward(f, t, c, fo, mml::span<float>(fg));
  loss.backward(d, t, c, dout, mml::span<double>(dg));
  loss.forward_backward(f, t, c, fo, mml::span<float>(fo), mml::span<float>(fg));
  loss.forward_backward(d, t, c, dout, mml::span<double>(dout), mml::span<double>(dg));
  (void)loss.forward(f, t, c);
  (void)loss.forward(d, t, c);
  (void)loss.backward(f, t, c, fo);
  (void)loss.backward(d, t, c, dout);
  (void)loss.backward(f, t, c);
  (void)loss.backward(d, t, c);
  (void)loss.forward_backward(f, t, c, fo);
  (void)loss.forward_backward(d, t, c, dout);
  (void)loss.forward_backward(f, t, c);
  (void)loss.forward_backward(d, t, c);
  (void)mml::find_bad_target(t, c);
  mml::set_num_threads(mml::num_threads());
  (void)mml::library_matches_header();
  // Every score type with both target types, the typed (pitched) pointer overloads, the
  // half types' conversions.
  const std::vector<std::int32_t> t32(2, 0);
  std::vector<mml::bf16> b(2 * c), bg(2 * c);
  std::vector<mml::f16> h(2 * c), hg(2 * c);
  (void)loss.forward(f, t32, c);
  (void)loss.forward_backward(d, t32, c);
  (void)loss.forward(b, t, c);
  (void)loss.backward(b, t32, c);
  (void)loss.forward_backward(h, t, c, fo);
  loss.backward(h, t32, c, fo, mml::span<float>(fg));
  loss.backward(b, t, c, fo, mml::span<mml::bf16>(bg));
  loss.forward_backward(h, t32, c, fo, mml::span<float>(fo), mml::span<mml::f16>(hg));
  loss.forward(b.data(), c + 1, t32.data(), 1, c, fo.data(), 1);
  loss.backward(h.data(), c, t.data(), 2, c, fo.data(), 1, fg.data(), c);
  loss.forward_backward(d.data(), c, t32.data(), 2, c, dout.data(), 1, dout.data() + 1, 1,
                        dg.data(), c);
  const float x = mml::bf16::from_float(1.5f).to_float() + mml::f16::from_float(0.5f).to_float();
  (void)x;
#ifdef MML_TEST_DLPACK
  DLTensor tensor{};
  loss.forward(tensor, tensor, tensor);
  loss.backward(tensor, tensor, tensor, tensor);
  loss.forward_backward(tensor, tensor, tensor, tensor, tensor);
#endif
  mml::MultiMarginLoss moved(mml::Options{2, 0.5, {}, mml::Reduction::Sum});
  mml::MultiMarginLoss other(std::move(moved));
  moved = std::move(other);
}
