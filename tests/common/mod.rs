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
