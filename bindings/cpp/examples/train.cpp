// The seed's training loop in plain C++: an MLP 100 -> 64 -> 10 with ReLU, trained by SGD on a
// synthetic 10-class data set, with torch.nn.MultiMarginLoss(margin=1, p=2) computed by mml.
// mml's fused forward_backward gives the loss and its gradient with respect to the scores in one
// call; the rest of the backward pass (through the two linear layers) is written out here.
//
// Prints the loss and accuracy per epoch, and "final test accuracy: XX.XX%" at the end.

#include <mml.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

namespace {

constexpr std::size_t kIn = 100, kHidden = 64, kClasses = 10;
constexpr std::size_t kTrain = 4000, kTest = 1000, kBatch = 32, kEpochs = 10;
constexpr float kLearningRate = 0.05f;
constexpr float kNoise = 2.0f;  // noise std relative to the centroids' spread (1)

// Class centroids plus Gaussian noise, scaled to unit variance per feature; a fixed seed makes
// every run identical.
struct DataSet {
  std::vector<float> x;  // rows of kIn features
  std::vector<std::int64_t> y;
};

void make_data(std::mt19937& rng, const std::vector<float>& centroids, std::size_t count,
               DataSet& out) {
  std::normal_distribution<float> noise(0.0f, kNoise);
  const float scale = 1.0f / std::sqrt(1.0f + kNoise * kNoise);
  std::uniform_int_distribution<std::int64_t> cls(0, kClasses - 1);
  out.x.resize(count * kIn);
  out.y.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t k = cls(rng);
    out.y[i] = k;
    for (std::size_t f = 0; f < kIn; ++f) {
      out.x[i * kIn + f] = (centroids[static_cast<std::size_t>(k) * kIn + f] + noise(rng)) * scale;
    }
  }
}

struct Mlp {
  std::vector<float> w1, b1, w2, b2;  // w1: kHidden x kIn, w2: kClasses x kHidden

  explicit Mlp(std::mt19937& rng)
      : w1(kHidden * kIn), b1(kHidden, 0.0f), w2(kClasses * kHidden), b2(kClasses, 0.0f) {
    std::normal_distribution<float> he1(0.0f, std::sqrt(2.0f / kIn));
    std::normal_distribution<float> he2(0.0f, std::sqrt(2.0f / kHidden));
    for (float& w : w1) w = he1(rng);
    for (float& w : w2) w = he2(rng);
  }

  // hidden = relu(x W1^T + b1), scores = hidden W2^T + b2, for `n` rows of x.
  void forward(const float* x, std::size_t n, std::vector<float>& hidden,
               std::vector<float>& scores) const {
    hidden.assign(n * kHidden, 0.0f);
    scores.assign(n * kClasses, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t h = 0; h < kHidden; ++h) {
        float s = b1[h];
        for (std::size_t f = 0; f < kIn; ++f) s += w1[h * kIn + f] * x[i * kIn + f];
        hidden[i * kHidden + h] = s > 0.0f ? s : 0.0f;
      }
      for (std::size_t k = 0; k < kClasses; ++k) {
        float s = b2[k];
        for (std::size_t h = 0; h < kHidden; ++h) s += w2[k * kHidden + h] * hidden[i * kHidden + h];
        scores[i * kClasses + k] = s;
      }
    }
  }
};

std::size_t argmax(const float* row) {
  return static_cast<std::size_t>(std::max_element(row, row + kClasses) - row);
}

double accuracy(const Mlp& mlp, const DataSet& data) {
  std::vector<float> hidden, scores;
  const std::size_t n = data.y.size();
  mlp.forward(data.x.data(), n, hidden, scores);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    correct += argmax(&scores[i * kClasses]) == static_cast<std::size_t>(data.y[i]);
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace

int main() {
  const auto start = std::chrono::steady_clock::now();
  std::printf("mml %s (C++ binding), %zu threads\n", mml::version().data(), mml::num_threads());

  std::mt19937 rng(20240611);
  std::vector<float> centroids(kClasses * kIn);
  std::normal_distribution<float> unit(0.0f, 1.0f);
  for (float& v : centroids) v = unit(rng);
  DataSet train, test;
  make_data(rng, centroids, kTrain, train);
  make_data(rng, centroids, kTest, test);

  Mlp mlp(rng);
  // torch.nn.MultiMarginLoss(p=2, margin=1), reduction mean.
  const mml::MultiMarginLoss loss(mml::Options{2, 1.0, {}, mml::Reduction::Mean});

  std::vector<std::size_t> order(kTrain);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<float> xb(kBatch * kIn), hidden, scores, grad_hidden(kBatch * kHidden);
  std::vector<std::int64_t> yb(kBatch);
  const std::vector<float> grad_output = {1.0f};
  std::vector<float> batch_loss(1), grad_scores(kBatch * kClasses);
  std::vector<float> grad_w2(kClasses * kHidden), grad_b2(kClasses);

  double test_acc = 0.0;
  for (std::size_t epoch = 1; epoch <= kEpochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0.0;
    std::size_t batches = 0;
    for (std::size_t first = 0; first + kBatch <= kTrain; first += kBatch) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        const std::size_t r = order[first + i];
        std::copy_n(&train.x[r * kIn], kIn, &xb[i * kIn]);
        yb[i] = train.y[r];
      }
      mlp.forward(xb.data(), kBatch, hidden, scores);

      // Loss and d loss / d scores in one pass.
      loss.forward_backward(scores, yb, kClasses, grad_output, mml::span<float>(batch_loss),
                            mml::span<float>(grad_scores));
      loss_sum += batch_loss[0];
      ++batches;

      // Backward through layer 2 (into the hidden activations), then ReLU and layer 1;
      // every gradient is computed from the weights before this step's update.
      std::fill(grad_hidden.begin(), grad_hidden.end(), 0.0f);
      std::fill(grad_w2.begin(), grad_w2.end(), 0.0f);
      std::fill(grad_b2.begin(), grad_b2.end(), 0.0f);
      for (std::size_t i = 0; i < kBatch; ++i) {
        for (std::size_t k = 0; k < kClasses; ++k) {
          const float g = grad_scores[i * kClasses + k];
          if (g == 0.0f) continue;
          for (std::size_t h = 0; h < kHidden; ++h) {
            grad_hidden[i * kHidden + h] += g * mlp.w2[k * kHidden + h];
            grad_w2[k * kHidden + h] += g * hidden[i * kHidden + h];
          }
          grad_b2[k] += g;
        }
      }
      for (std::size_t i = 0; i < kBatch; ++i) {
        for (std::size_t h = 0; h < kHidden; ++h) {
          if (hidden[i * kHidden + h] <= 0.0f) continue;  // ReLU gate
          const float g = grad_hidden[i * kHidden + h];
          for (std::size_t f = 0; f < kIn; ++f) {
            mlp.w1[h * kIn + f] -= kLearningRate * g * xb[i * kIn + f];
          }
          mlp.b1[h] -= kLearningRate * g;
        }
      }
      for (std::size_t j = 0; j < grad_w2.size(); ++j) mlp.w2[j] -= kLearningRate * grad_w2[j];
      for (std::size_t k = 0; k < kClasses; ++k) mlp.b2[k] -= kLearningRate * grad_b2[k];
    }
    const double train_acc = accuracy(mlp, train);
    test_acc = accuracy(mlp, test);
    std::printf("epoch %2zu  loss %.6f  train accuracy %6.2f%%  test accuracy %6.2f%%\n", epoch,
                loss_sum / static_cast<double>(batches), train_acc, test_acc);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("trained in %.2f s\n", seconds);
  std::printf("final test accuracy: %.2f%%\n", test_acc);
  return test_acc > 90.0 ? 0 : 1;
}
