//! Kernel throughput per path (scalar, wide, AVX2, AVX-512) and thread count, beside a plain
//! read loop and copy loop over the same bytes (the memory roofline), all in one run.
//!
//! `cargo bench --bench kernels [-- FILTER]`; ids are `SHAPE/OP/PATH/tTHREADS`, e.g.
//! `cargo bench --bench kernels -- '4096x10/forward'`. Bytes counted: forward reads the scores
//! and the targets; backward and fused also write the gradient. `bench/plot.py` turns
//! `target/criterion` into `bench/results.csv` and `bench/results.png`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use mml::engine;
use mml::kernel::{GradOut, Isa, LossOut, Params, Power, Task, Upstream};

/// The shapes, then the tail shapes (odd class counts, rows not a multiple of 16).
const SHAPES: [(usize, usize); 7] = [
    (32, 10),
    (256, 10),
    (4096, 10),
    (4096, 1000),
    (65536, 100),
    (4_194_304, 10),
    (32768, 1000),
];
/// Rows of a few hundred classes: too long to prefetch a whole next block into L1, too short
/// (a page or less) for the hardware prefetchers to follow each row; see `PREFETCH_L2_MAX_BYTES`
/// in `src/kernel/vector.rs`.
const MID_SHAPES: [(usize, usize); 1] = [(65536, 300)];
const TAIL_SHAPES: [(usize, usize); 11] = [
    (4095, 1),
    (4095, 2),
    (4095, 3),
    (4095, 7),
    (4095, 9),
    (4095, 15),
    (4095, 16),
    (4095, 17),
    (4095, 31),
    (4095, 33),
    (33, 1001),
];

#[derive(Clone, Copy)]
enum Op {
    Forward,
    Backward,
    Fused,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Forward => "forward",
            Op::Backward => "backward",
            Op::Fused => "fused",
        }
    }
}

struct Data {
    n: usize,
    c: usize,
    input: Vec<f32>,
    target: Vec<i64>,
    grad: Vec<f32>,
    copy: Vec<f32>,
}

fn data(n: usize, c: usize) -> Data {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let input = (0..n * c)
        .map(|_| next() as f32 / u32::MAX as f32 * 4.0 - 2.0)
        .collect();
    let target = (0..n).map(|_| (next() as usize % c) as i64).collect();
    Data {
        n,
        c,
        input,
        target,
        grad: vec![0.0; n * c],
        copy: vec![0.0; n * c],
    }
}

fn run_op(isa: Isa, op: Op, d: &mut Data) -> f64 {
    let params = Params {
        power: Power::One,
        margin: 1.0f32,
        weight: None,
    };
    let mut total = 0.0f64;
    let g = (1.0 / (d.n * d.c) as f64) as f32;
    let grad = Some(GradOut {
        g,
        upstream: Upstream::Scalar(1.0),
        grad: &mut d.grad[..],
        pitch: d.c,
    });
    let (loss, grad) = match op {
        Op::Forward => (LossOut::Sum(&mut total), None),
        Op::Backward => (LossOut::Skip, grad),
        Op::Fused => (LossOut::Sum(&mut total), grad),
    };
    let mut task = Task::contiguous(&d.input[..], d.c, &d.target[..], loss, grad);
    engine::execute_with(isa, &params, d.c, &mut task);
    total
}

/// Elements per work item of the roofline loops on the pool (the kernels' block size).
const ROOF_CHUNK: usize = engine::BLOCK_ELEMENTS;

/// A read loop the compiler vectorises: 16 independent partial sums.
fn read_sum(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = data.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest
}

fn read_loop(data: &[f32], threads: usize) -> f32 {
    if threads == 1 || data.len() < engine::PARALLEL_MIN_ELEMENTS {
        return read_sum(data);
    }
    let sums: Vec<std::sync::Mutex<f32>> = (0..data.len().div_ceil(ROOF_CHUNK))
        .map(|_| Default::default())
        .collect();
    let items: Vec<(usize, &[f32])> = data.chunks(ROOF_CHUNK).enumerate().collect();
    mml::parallel::for_each(items, |(i, chunk)| {
        *sums[i].lock().unwrap() = read_sum(chunk)
    });
    sums.iter().map(|s| *s.lock().unwrap()).sum()
}

fn copy_loop(src: &[f32], dst: &mut [f32], threads: usize) {
    if threads == 1 || src.len() < engine::PARALLEL_MIN_ELEMENTS {
        dst.copy_from_slice(src);
        return;
    }
    let items: Vec<(&[f32], &mut [f32])> = src
        .chunks(ROOF_CHUNK)
        .zip(dst.chunks_mut(ROOF_CHUNK))
        .collect();
    mml::parallel::for_each(items, |(s, d)| d.copy_from_slice(s));
}

/// Thread counts for the shapes above the parallel threshold: `MML_BENCH_THREADS` (a comma-
/// separated list, e.g. `1,2,4,8,16` on the 16-core machine, see `bench/scaling.sh`), else 1
/// and 2.
fn parallel_thread_counts() -> Vec<usize> {
    std::env::var("MML_BENCH_THREADS")
        .ok()
        .map(|list| {
            list.split(',')
                .map(|t| t.trim().parse().expect("MML_BENCH_THREADS: thread counts"))
                .collect()
        })
        .unwrap_or_else(|| vec![1, 2])
}

fn bench_shape(c: &mut Criterion, (n, classes): (usize, usize), isas: &[Isa]) {
    let mut d = data(n, classes);
    let elements = (n * classes) as u64;
    let scores = elements * 4;
    let targets = n as u64 * 8;
    let parallel = n * classes >= engine::PARALLEL_MIN_ELEMENTS;
    let thread_counts = if parallel {
        parallel_thread_counts()
    } else {
        vec![1]
    };
    let mut group: BenchmarkGroup<WallTime> = c.benchmark_group(format!("{n}x{classes}"));
    for &threads in &thread_counts {
        mml::parallel::set_num_threads(threads).unwrap();
        group.throughput(Throughput::Bytes(scores));
        group.bench_function(format!("read/roof/t{threads}"), |b| {
            b.iter(|| black_box(read_loop(black_box(&d.input), threads)))
        });
        group.throughput(Throughput::Bytes(2 * scores));
        group.bench_function(format!("copy/roof/t{threads}"), |b| {
            b.iter(|| copy_loop(black_box(&d.input), &mut d.copy, threads))
        });
        for op in [Op::Forward, Op::Backward, Op::Fused] {
            let bytes = match op {
                Op::Forward => scores + targets,
                Op::Backward | Op::Fused => 2 * scores + targets,
            };
            group.throughput(Throughput::Bytes(bytes));
            for &isa in isas {
                group.bench_function(format!("{}/{}/t{threads}", op.name(), isa.name()), |b| {
                    b.iter(|| black_box(run_op(isa, op, &mut d)))
                });
            }
        }
    }
    group.finish();
    mml::parallel::set_num_threads(0).unwrap();
}

fn kernels(c: &mut Criterion) {
    let isas = Isa::available();
    for shape in SHAPES {
        bench_shape(c, shape, &isas);
    }
    for shape in MID_SHAPES.into_iter().chain(TAIL_SHAPES) {
        bench_shape(c, shape, &isas);
    }
}

fn main() {
    // Short defaults: the whole run must fit a small shared machine. Command-line flags
    // (`--measurement-time`, `--warm-up-time`, `--sample-size`, a filter) override them.
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
        .configure_from_args();
    kernels(&mut criterion);
    criterion.final_summary();
}
