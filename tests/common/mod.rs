//! Shared test support: one GPU context per test binary, random data, tolerances.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use crest::gpu::{DeviceChoice, Gpu, Requirements};

/// The shared device, or None (with the reason printed) when there is none.
/// With CREST_REQUIRE_ADAPTER=1 (set by CI) a missing adapter fails the test.
pub fn gpu() -> Option<Arc<Gpu>> {
    static G: OnceLock<Result<Arc<Gpu>, String>> = OnceLock::new();
    let r = G.get_or_init(|| {
        let choice = std::env::var("CREST_TEST_DEVICE")
            .ok()
            .map(|s| s.parse::<DeviceChoice>().expect("CREST_TEST_DEVICE"))
            .unwrap_or(DeviceChoice::Auto);
        Gpu::new(&choice, &Requirements::default())
            .map(|(g, _)| {
                eprintln!("test adapter: {} ({})", g.summary.name, g.summary.backend);
                g
            })
            .map_err(|e| e.to_string())
    });
    match r {
        Ok(g) => Some(g.clone()),
        Err(e) => {
            if std::env::var("CREST_REQUIRE_ADAPTER").as_deref() == Ok("1") {
                panic!("CREST_REQUIRE_ADAPTER=1 but no adapter: {e}");
            }
            eprintln!("SKIPPING GPU test: no adapter ({e})");
            None
        }
    }
}

/// A file of the bundled `assets/` folder.
pub fn asset(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// A file of the bundled `assets/` folder, as a string (for command lines).
pub fn asset_str(name: &str) -> String {
    asset(name).display().to_string()
}

/// A file of `tests/data/` (the few real files the tests read; see its
/// SOURCES.md), present in every clone.
pub fn data(name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    assert!(p.is_file(), "{} is missing from the checkout", p.display());
    p
}

/// Run the crest binary in `dir`: (exit code, None when killed by a
/// signal; stdout; stderr).
pub fn crest_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    // without XDG_RUNTIME_DIR: tests compare stderr, and Mesa warns when the
    // variable names a folder that is missing
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// Run the crest binary: (exit code, stdout, stderr).
pub fn crest(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// Assert |a - b| <= atol + rtol * |b| elementwise; NaN anywhere fails.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.is_finite(),
            "{what}[{i}] = {g} (want {w}): poisoned or non-finite output"
        );
        let err = (g - w).abs();
        let tol = atol + rtol * w.abs();
        if err > tol {
            panic!("{what}[{i}]: got {g}, want {w} (|err| {err} > tol {tol})");
        }
        if err > worst.1 {
            worst = (i, err);
        }
    }
}

/// Awkward sizes: not multiples of any workgroup or tile size.
pub const AWKWARD: [usize; 6] = [1, 3, 17, 63, 65, 130];

/// Finite-difference step of the f64 gradient checks.
pub const FD_H: f64 = 1e-6;

/// Uniform values in [-1, 1) (f64).
pub fn rand64(rng: &mut crest::rng::Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

/// Central differences of the scalar `f` w.r.t. every element of `x`.
pub fn fd(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let v = x[i];
            x[i] = v + FD_H;
            let up = f(&x);
            x[i] = v - FD_H;
            let down = f(&x);
            x[i] = v;
            (up - down) / (2.0 * FD_H)
        })
        .collect()
}

/// Dot product (f64).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Analytic vs finite-difference gradient: |g - w| <= tol (1 + |w|), finite.
#[track_caller]
pub fn assert_grad(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.is_finite() && (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: analytic {g}, finite difference {w}"
        );
    }
}
