//! The streamed index build: a build stopped after some chunks and resumed
//! gives the same index (and file bytes) as an uninterrupted one; a resumed
//! build with other options, a stale work folder and float embeddings are
//! refused; the streamed index finds grid k-mers from their own embeddings;
//! the command line stops with status 3 and resumes.

mod common;

use std::process::Command;

use common::gpu;
use crest::backend::Backend;
use crest::error::CrestError;
use crest::index::stream::{self, StreamOptions};
use crest::index::{BeamConfig, Index, IndexOptions, SearchKind, Searcher};
use crest::io::Reference;
use crest::model::{Checkpoint, Encoder};

fn assets() -> std::path::PathBuf {
    common::asset("")
}

#[test]
fn stopped_and_resumed_build_is_the_uninterrupted_build() {
    let Some(g) = gpu() else { return };
    let be = Backend::Gpu(g);
    let mut reference = Reference::load(&assets().join("mammoth_chrM.fa")).unwrap();
    reference.contigs[0].seq.truncate(9000);
    reference.contigs[0].md5 = crest::io::md5_hex(&reference.contigs[0].seq);
    let ck = Checkpoint::load(&assets().join("mammoth_chrM.crest")).unwrap();
    let enc = Encoder::from_values(&be, &ck.meta.encoder, ck.weights()).unwrap();
    let opts = IndexOptions {
        grid_stride: 4,
        branch: 4,
        leaf: 64,
        depth: None,
        iters: 3,
        seed: 5,
        spill: 1,
        pq: 16,
    };
    let dir = tempfile::tempdir().unwrap();
    let so = |name: &str, resume: bool, stop_after: Option<usize>| StreamOptions {
        chunk: 1024,
        work: dir.path().join(name),
        resume,
        stop_after,
        shard: None,
        merge: false,
    };
    let whole = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &so("a", false, None),
        &mut |_, _, _| {},
    )
    .unwrap();
    let whole = whole.expect("an index");
    assert_eq!(whole.grid.len(), (9000 - 32) / 4 + 1);
    assert!(whole.grid.z.is_empty() && whole.pq.is_some());
    whole
        .tree
        .validate(whole.grid.len(), whole.grid.dim)
        .unwrap();
    // stopped after one chunk, then after one more, then to the end
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &so("b", false, Some(1)),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(matches!(e, CrestError::Stopped(_)), "{e}");
    assert!(dir.path().join("b/chunk-00000.st").exists());
    assert!(!dir.path().join("b/chunk-00001.st").exists());
    // a stale work folder without --resume is refused
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &so("b", false, None),
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--resume"), "{e}");
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &so("b", true, Some(1)),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(matches!(e, CrestError::Stopped(_)), "{e}");
    // other options for the same folder are refused, naming what differs
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions { seed: 6, ..opts },
        &so("b", true, None),
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("seed"), "{e}");
    let resumed = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &so("b", true, None),
        &mut |_, _, _| {},
    )
    .unwrap();
    let resumed = resumed.expect("an index");
    assert_eq!(resumed, whole);
    assert_eq!(
        crest::index::file::to_bytes(&resumed).unwrap(),
        crest::index::file::to_bytes(&whole).unwrap()
    );
    // shards 1/3 and 0/3 (any order, no index), a merge that finds shard
    // 2/3 missing, shard 2/3, then the merge: the single build's index
    let shard = |i: usize, merge: bool| StreamOptions {
        shard: (!merge).then_some((i, 3)),
        merge,
        ..so("s", false, None)
    };
    for i in [1, 0] {
        let r = stream::build(
            &be,
            &ck,
            &enc,
            &reference,
            &opts,
            &shard(i, false),
            &mut |_, _, _| {},
        );
        assert!(r.unwrap().is_none(), "a shard writes no index");
    }
    assert!(
        dir.path().join("s/chunk-00001.st").exists()
            && !dir.path().join("s/chunk-00002.st").exists()
    );
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &shard(0, true),
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("chunk 2 of"), "{e}");
    stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &shard(2, false),
        &mut |_, _, _| {},
    )
    .unwrap();
    let merged = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &shard(0, true),
        &mut |_, _, _| {},
    )
    .unwrap()
    .unwrap();
    assert_eq!(merged, whole);
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &opts,
        &StreamOptions {
            shard: Some((3, 3)),
            ..so("t", false, None)
        },
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("0 to n"), "{e}");
    // float embeddings are what a streamed build avoids
    let e = stream::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions { pq: 0, ..opts },
        &so("c", false, None),
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--pq"), "{e}");
    // the index finds grid k-mers from their own embeddings
    let (all, windows, _) = crest::index::grid::grid_windows(&reference, 32, 4).unwrap();
    let pick: Vec<_> = windows.iter().step_by(7).copied().collect();
    let z = enc.embed_windows(&be, &all, &pick, &mut |_, _| {}).unwrap();
    let s = Searcher::new(&be, &whole, &[SearchKind::Tree], BeamConfig { width: 8 }).unwrap();
    let found = s
        .search_host(&be, SearchKind::Tree, &z, whole.grid.dim, 8)
        .unwrap();
    let hits = found
        .chunks(8)
        .enumerate()
        .filter(|(i, r)| r.iter().any(|x| x.1 as usize == i * 7))
        .count();
    assert!(
        hits as f64 >= 0.95 * pick.len() as f64,
        "{hits} of {} grid k-mers found among their 8 nearest",
        pick.len()
    );
    // saved and loaded
    let p = dir.path().join("w.crest-index");
    whole.save(&p).unwrap();
    assert_eq!(Index::load(&p).unwrap(), whole);
}

#[test]
fn command_line_stops_with_status_3_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_crest"))
            .current_dir(dir.path())
            .args([
                "index",
                "--model",
                assets().join("mammoth_chrM.crest").to_str().unwrap(),
                "--reference",
                assets().join("lambda_phage.fa").to_str().unwrap(),
                "--stream",
                "--chunk",
                "2048",
                "-o",
                "l.idx",
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--stop-after", "1"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("--resume") && !err.contains("error"), "{err}");
    assert!(!dir.path().join("l.idx").exists());
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("l.idx.parts") && err.contains("--resume"),
        "{err}"
    );
    let (code, err) = run(&["--resume"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("resuming"), "{err}");
    assert!(dir.path().join("l.idx").exists());
    assert!(
        !dir.path().join("l.idx.parts").exists(),
        "work folder removed"
    );
    assert!(err.contains("bytes per reference base"), "{err}");
}
