//! The main job: train a small classifier end to end with mml's loss.
//!
//! An MLP 100→64→10 with ReLU, trained by minibatch SGD on a synthetic 10-class data set
//! (Gaussian clusters around random centroids), with `MultiMarginLoss { margin: 1, p: 2 }`.
//! mml computes the loss and its gradient with respect to the scores in one fused call; the
//! rest of backpropagation is plain ndarray. Run: `make demo` (`cargo run --release -p mml-demo`).

use std::time::Instant;

use mml::{MultiMarginLoss, Reduction};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};

const FEATURES: usize = 100;
const HIDDEN: usize = 64;
const CLASSES: usize = 10;
const TRAIN: usize = 8000;
const TEST: usize = 1000;
const BATCH: usize = 32;
const EPOCHS: usize = 10;
const LEARNING_RATE: f32 = 0.05;

/// SplitMix64 with Box–Muller normals: deterministic, and no extra dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    fn matrix(&mut self, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
        Array2::from_shape_simple_fn((rows, cols), || self.normal() * scale)
    }
}

/// Points scattered around one random centroid per class; noise makes the classes overlap.
fn make_data(rng: &mut Rng, centroids: &Array2<f32>, count: usize) -> (Array2<f32>, Array1<i64>) {
    let labels = Array1::from_shape_fn(count, |_| (rng.next_u64() % CLASSES as u64) as i64);
    let mut x = rng.matrix(count, FEATURES, 2.0);
    for (mut row, &label) in x.rows_mut().into_iter().zip(&labels) {
        row += &centroids.row(label as usize);
    }
    (x, labels)
}

struct Mlp {
    w1: Array2<f32>,
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

impl Mlp {
    fn new(rng: &mut Rng) -> Mlp {
        Mlp {
            w1: rng.matrix(FEATURES, HIDDEN, (2.0 / FEATURES as f32).sqrt()),
            b1: Array1::zeros(HIDDEN),
            w2: rng.matrix(HIDDEN, CLASSES, (2.0 / HIDDEN as f32).sqrt()),
            b2: Array1::zeros(CLASSES),
        }
    }

    /// Returns the hidden pre-activations and the class scores.
    fn forward(&self, x: ArrayView2<f32>) -> (Array2<f32>, Array2<f32>) {
        let hidden = x.dot(&self.w1) + &self.b1;
        let scores = hidden.mapv(|v| v.max(0.0)).dot(&self.w2) + &self.b2;
        (hidden, scores)
    }

    /// One SGD step on a batch; returns the batch loss.
    fn step(&mut self, loss: &MultiMarginLoss, x: ArrayView2<f32>, y: ArrayView1<i64>) -> f32 {
        let (hidden, scores) = self.forward(x);
        let (value, grad_scores) = loss
            .forward_backward(scores.view(), y, ArrayView1::from(&[1.0f32]))
            .expect("shapes and targets are valid");
        let activations = hidden.mapv(|v| v.max(0.0));
        let grad_hidden =
            grad_scores.dot(&self.w2.t()) * hidden.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
        self.w2
            .scaled_add(-LEARNING_RATE, &activations.t().dot(&grad_scores));
        self.b2
            .scaled_add(-LEARNING_RATE, &grad_scores.sum_axis(Axis(0)));
        self.w1.scaled_add(-LEARNING_RATE, &x.t().dot(&grad_hidden));
        self.b1
            .scaled_add(-LEARNING_RATE, &grad_hidden.sum_axis(Axis(0)));
        value[0]
    }

    fn accuracy(&self, x: ArrayView2<f32>, y: ArrayView1<i64>) -> f32 {
        let (_, scores) = self.forward(x);
        let correct = scores
            .rows()
            .into_iter()
            .zip(y)
            .filter(|(row, label)| {
                let best = row
                    .iter()
                    .enumerate()
                    .fold(0, |b, (j, &v)| if v > row[b] { j } else { b });
                best as i64 == **label
            })
            .count();
        correct as f32 / y.len() as f32
    }
}

fn main() {
    let start = Instant::now();
    let mut rng = Rng(2024);
    let centroids = rng.matrix(CLASSES, FEATURES, 1.0);
    let (train_x, train_y) = make_data(&mut rng, &centroids, TRAIN);
    let (test_x, test_y) = make_data(&mut rng, &centroids, TEST);
    let loss = MultiMarginLoss::builder()
        .p(2)
        .margin(1.0)
        .reduction(Reduction::Mean)
        .build()
        .expect("p = 2 is valid");
    let mut model = Mlp::new(&mut rng);

    println!("mml demo — MLP {FEATURES}→{HIDDEN}→{CLASSES}, MultiMarginLoss(p=2, margin=1)");
    let mut order: Vec<usize> = (0..TRAIN).collect();
    let mut accuracy = 0.0;
    for epoch in 1..=EPOCHS {
        // Fisher–Yates shuffle, then minibatches of BATCH rows.
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let mut total = 0.0;
        let batches = TRAIN / BATCH;
        for b in 0..batches {
            let rows = &order[b * BATCH..(b + 1) * BATCH];
            let x = train_x.select(Axis(0), rows);
            let y = train_y.select(Axis(0), rows);
            total += model.step(&loss, x.view(), y.view());
        }
        accuracy = model.accuracy(test_x.view(), test_y.view());
        let train_accuracy =
            model.accuracy(train_x.slice(s![..TEST, ..]), train_y.slice(s![..TEST]));
        println!(
            "epoch {epoch:2}  loss {:.4}  train accuracy {:5.1}%  test accuracy {:5.1}%",
            total / batches as f32,
            100.0 * train_accuracy,
            100.0 * accuracy
        );
    }
    println!(
        "final test accuracy {:.1}% in {:.2?}",
        100.0 * accuracy,
        start.elapsed()
    );
    if accuracy < 0.9 {
        eprintln!("accuracy below 90%: training failed");
        std::process::exit(1);
    }
}
