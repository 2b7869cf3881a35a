//! An edited or corrupted index is refused on load with a clear error (it
//! used to panic `map`, `profile` and `sv`, or map nothing with exit 0).

mod common;
use common::asset_str as asset;

use std::path::Path;
use std::process::Command;

fn crest(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

/// Byte range of tensor `name` in a safetensors file.
fn tensor_range(data: &[u8], name: &str) -> (usize, usize) {
    let hlen = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&data[8..8 + hlen]).unwrap();
    let off = &header[name]["data_offsets"];
    let (a, b) = (off[0].as_u64().unwrap(), off[1].as_u64().unwrap());
    (8 + hlen + a as usize, 8 + hlen + b as usize)
}

#[test]
fn an_index_with_leaves_outside_the_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (model, mt) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let (code, err) = crest(
        d,
        &[
            "index",
            "--model",
            &model,
            "--reference",
            &mt,
            "-o",
            "mt.idx",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let good = std::fs::read(d.join("mt.idx")).unwrap();
    let (code, err) = crest(
        d,
        &["simulate", "--reference", &mt, "-n", "20", "-o", "r.fq"],
    );
    assert_eq!(code, Some(0), "{err}");
    // the grid's loci are implicit (they follow from the reference); the
    // tree names each grid k-mer's leaves (u16)
    let (a, _) = tensor_range(&good, "tree.leaves");
    let cases: Vec<(usize, u16, &str)> = vec![
        (a, 60_000, "leaf 60000"),    // a leaf that does not exist
        (a + 6, 16, "leaf 16 of 16"), // one past the last (16 leaves)
    ];
    for (at, value, want) in cases {
        let mut bad = good.clone();
        bad[at..at + 2].copy_from_slice(&value.to_le_bytes());
        std::fs::write(d.join("bad.idx"), &bad).unwrap();
        for args in [
            vec![
                "map",
                "--model",
                &model,
                "--reference",
                &mt,
                "--index",
                "bad.idx",
                "r.fq",
                "-o",
                "o.sam",
            ],
            vec![
                "profile",
                "--model",
                &model,
                "--reference",
                &mt,
                "--index",
                "bad.idx",
                "r.fq",
                "-o",
                "p.tsv",
            ],
            vec![
                "index",
                "--model",
                &model,
                "--reference",
                &mt,
                "--from",
                "bad.idx",
                "-o",
                "copy.idx",
            ],
        ] {
            let (code, err) = crest(d, &args);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert_eq!(code, Some(1), "{args:?}: {err}");
            assert!(
                err.contains("bad.idx") && err.contains(want),
                "{args:?}: {err}"
            );
        }
        for f in ["o.sam", "p.tsv", "copy.idx"] {
            assert!(!d.join(f).exists(), "{f} written from a bad index");
        }
    }
    // one flipped bit in an embedding's code: in range, caught by the
    // recorded content checksum
    let (z, _) = tensor_range(&good, "grid.codes");
    let mut bad = good.clone();
    bad[z + 401] ^= 0x01;
    std::fs::write(d.join("bad.idx"), &bad).unwrap();
    let args = [
        "map",
        "--model",
        &model,
        "--reference",
        &mt,
        "--index",
        "bad.idx",
        "r.fq",
        "-o",
        "o.sam",
    ];
    let (code, err) = crest(d, &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("bad.idx") && err.contains("checksum"), "{err}");
    assert!(!d.join("o.sam").exists());
}
