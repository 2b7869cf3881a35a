//! The `crest` binary: subcommands work, bad input exits non-zero with one
//! clear error line and never a panic.

mod common;
use common::asset_str as asset;

use common::crest;

#[test]
fn devices_lists_adapters() {
    let (code, out, _) = crest(&["devices"]);
    assert_eq!(code, 0);
    assert!(out.contains("cpu-reference"), "{out}");
    if std::env::var("CREST_REQUIRE_ADAPTER").as_deref() == Ok("1") {
        assert!(out.contains("[0]"), "no adapter listed:\n{out}");
        assert!(out.contains("max binding"), "{out}");
    }
    let (code, out, _) = crest(&["devices", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.is_array());
}

#[test]
fn selftest_runs_on_cpu_reference() {
    let (code, out, err) = crest(&[
        "selftest",
        "--device",
        "cpu-reference",
        "--reps",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 9);
    let ops: Vec<&str> = rows.iter().filter_map(|r| r["op"].as_str()).collect();
    assert!(
        ops.contains(&"kmer profile k=6") && ops.contains(&"triplet loss+grad"),
        "{ops:?}"
    );
    for r in rows {
        assert!(r["seconds"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn stats_reads_reference_and_reads() {
    let (code, out, err) = crest(&["stats", "--reference", &asset("mammoth_chrM.fa")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("16770") && out.contains("M5:df0ebdb454bf6ff2b693cf31972be6ee"),
        "{out}"
    );
}

#[test]
fn bad_input_exits_nonzero_with_one_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.fq");
    std::fs::write(&bad, "@r1\nACGT\nIIII\n").unwrap();
    let bad = bad.display().to_string();
    for args in [
        vec!["stats", "/nonexistent/reads.fq"],
        vec!["stats", bad.as_str()],
        vec!["selftest", "--device", "17"],
        vec!["selftest", "--device", "banana"],
    ] {
        let (code, _, err) = crest(&args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        let errors: Vec<_> = err
            .lines()
            .filter(|l| l.contains("error"))
            .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: expected one error line:\n{err}");
    }
}
