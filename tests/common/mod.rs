//! Shared by the integration tests: the golden cases and exact comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// One case of `tests/data/multi_margin_loss.json` (see `tests/data/README.md`).
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub n: usize,
    pub c: usize,
    pub one_d: bool,
    pub p: u32,
    pub margin: f64,
    pub weight: Option<Vec<f32>>,
    pub reduction: mml::Reduction,
    pub input: Vec<f32>,
    pub target: Vec<i64>,
    pub grad_output: Vec<f32>,
    pub forward_f32: Vec<f32>,
    pub forward_f64: Vec<f64>,
    pub grad_f32: Vec<f32>,
    pub grad_f64: Vec<f64>,
}

impl Case {
    pub fn loss(&self) -> mml::MultiMarginLoss {
        let mut builder = mml::MultiMarginLoss::builder()
            .p(self.p)
            .margin(self.margin)
            .reduction(self.reduction);
        if let Some(w) = &self.weight {
            builder = builder.weight(w.clone());
        }
        builder.build().expect("golden options are valid")
    }

    pub fn reduction_code(&self) -> u32 {
        match self.reduction {
            mml::Reduction::None => mml::ffi::MML_REDUCTION_NONE,
            mml::Reduction::Mean => mml::ffi::MML_REDUCTION_MEAN,
            mml::Reduction::Sum => mml::ffi::MML_REDUCTION_SUM,
        }
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("finite number"),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected string {other:?} in a number field"),
        },
        other => panic!("unexpected value {other:?} in a number field"),
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(number).collect()
}

/// Decimal → f64 → f32 is correctly rounded: binary64 has more than 2·24 + 2 bits, so the
/// double rounding is innocuous.
fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

/// A reference data file in `tests/data/` (part of the repository).
pub fn data_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

/// The text of a reference data file; a missing or unreadable file fails the test.
pub fn read_data(file: &str) -> String {
    let path = data_path(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference data not readable at {}: {e}", path.display()))
}

pub fn golden_path() -> PathBuf {
    data_path("multi_margin_loss.json")
}

/// The golden cases. A missing file fails the test: it never skips.
pub fn golden_cases() -> Vec<Case> {
    let text = read_data("multi_margin_loss.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("golden JSON parses");
    {
        cases
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().expect("name").to_owned(),
                n: c["n"].as_u64().expect("n") as usize,
                c: c["c"].as_u64().expect("c") as usize,
                one_d: c["one_d"].as_bool().expect("one_d"),
                p: c["p"].as_u64().expect("p") as u32,
                margin: number(&c["margin"]),
                weight: (!c["weight"].is_null()).then(|| f32s(&c["weight"])),
                reduction: match c["reduction"].as_str().expect("reduction") {
                    "none" => mml::Reduction::None,
                    "mean" => mml::Reduction::Mean,
                    "sum" => mml::Reduction::Sum,
                    other => panic!("unknown reduction {other}"),
                },
                input: f32s(&c["input"]),
                target: c["target"]
                    .as_array()
                    .expect("target")
                    .iter()
                    .map(|t| t.as_i64().expect("integer target"))
                    .collect(),
                grad_output: f32s(&c["grad_output"]),
                forward_f32: f32s(&c["forward_torch_f32"]),
                forward_f64: f64s(&c["forward_f64"]),
                grad_f32: f32s(&c["grad_input_torch_f32"]),
                grad_f64: f64s(&c["grad_input_f64"]),
            })
            .collect()
    }
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Bit-for-bit equality, NaN sign and payload included.
pub fn assert_same<T: mml::Float>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits_u64() == w.to_bits_u64(),
            "{what}[{i}]: got {g:?} ({:#x}), want {w:?} ({:#x})",
            g.to_bits_u64(),
            w.to_bits_u64()
        );
    }
}

/// Bit-for-bit equality with values read from a reference file, which writes every NaN as
/// `"nan"` (no sign, no payload): there an expected NaN matches any NaN. The bits of such NaNs
/// are checked elsewhere, against the scalar reference on every path (`tests/isa.rs`).
pub fn assert_golden<T: mml::Float>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = (w.is_nan() && g.is_nan()) || g.to_bits_u64() == w.to_bits_u64();
        assert!(same, "{what}[{i}]: got {g:?}, want {w:?}");
    }
}

/// A small deterministic generator (SplitMix64), so tests need no extra crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-2, 2), on a grid coarse enough that exact ties `z == 0` occur.
    pub fn score(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The scores' type of a `formats.json` case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    Bf16,
    F16,
    F64,
}

/// One case of `tests/data/formats.json` (see `tests/data/README.md`). Half-precision cases
/// carry `input_bits`, `input` (widened, as f64), `grad_input_f32` and `grad_input_bits`;
/// float64 cases `input`, `forward` and `grad_input_f64`, with float64 weights and margin.
#[derive(Debug)]
pub struct FormatCase {
    pub name: String,
    pub dtype: Dtype,
    pub n: usize,
    pub c: usize,
    pub one_d: bool,
    pub p: u32,
    pub margin: f64,
    pub weight: Option<Vec<f64>>,
    pub reduction: mml::Reduction,
    pub target: Vec<i64>,
    pub grad_output: Vec<f64>,
    pub input: Vec<f64>,
    pub input_bits: Vec<u16>,
    pub forward: Vec<f64>,
    pub grad_input_f32: Vec<f32>,
    pub grad_input_bits: Vec<u16>,
    pub grad_input_f64: Vec<f64>,
}

impl FormatCase {
    /// The loss: float64 weights for float64 cases, float32 weights for half cases.
    pub fn loss(&self) -> mml::MultiMarginLoss {
        let mut builder = mml::MultiMarginLoss::builder()
            .p(self.p)
            .margin(self.margin)
            .reduction(self.reduction);
        if let Some(w) = &self.weight {
            builder = match self.dtype {
                Dtype::F64 => builder.weight_f64(w.clone()),
                Dtype::Bf16 | Dtype::F16 => {
                    builder.weight(w.iter().map(|&v| v as f32).collect::<Vec<_>>())
                }
            };
        }
        builder.build().expect("case options are valid")
    }
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array()
        .map(|a| a.iter().map(|b| b.as_u64().expect("bits") as u16).collect())
        .unwrap_or_default()
}

/// The `formats.json` cases. A missing file fails the test: it never skips.
pub fn format_cases() -> Vec<FormatCase> {
    let text = read_data("formats.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("formats JSON parses");
    let opt = |v: &Value| if v.is_null() { Vec::new() } else { f64s(v) };
    cases
        .iter()
        .map(|c| FormatCase {
            name: c["name"].as_str().expect("name").to_owned(),
            dtype: match c["dtype"].as_str().expect("dtype") {
                "bfloat16" => Dtype::Bf16,
                "float16" => Dtype::F16,
                "float64" => Dtype::F64,
                other => panic!("unknown dtype {other}"),
            },
            n: c["n"].as_u64().expect("n") as usize,
            c: c["c"].as_u64().expect("c") as usize,
            one_d: c["one_d"].as_bool().expect("one_d"),
            p: c["p"].as_u64().expect("p") as u32,
            margin: number(&c["margin"]),
            weight: (!c["weight"].is_null()).then(|| f64s(&c["weight"])),
            reduction: match c["reduction"].as_str().expect("reduction") {
                "none" => mml::Reduction::None,
                "mean" => mml::Reduction::Mean,
                "sum" => mml::Reduction::Sum,
                other => panic!("unknown reduction {other}"),
            },
            target: c["target"]
                .as_array()
                .expect("target")
                .iter()
                .map(|t| t.as_i64().expect("integer target"))
                .collect(),
            grad_output: f64s(&c["grad_output"]),
            input: f64s(&c["input"]),
            input_bits: u16s(&c["input_bits"]),
            forward: f64s(&c["forward"]),
            grad_input_f32: opt(&c["grad_input_f32"])
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            grad_input_bits: u16s(&c["grad_input_bits"]),
            grad_input_f64: opt(&c["grad_input_f64"]),
        })
        .collect()
}
