//! Probes of the `crest` binary with bad inputs, options, special files,
//! closed pipes and signals: no panic, no silent wrong output, no data loss
//! and nothing left behind.

mod common;
use common::asset_str as asset;
use common::crest_in;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crest"));
    c.env_remove("XDG_RUNTIME_DIR");
    c
}

fn no_panic(args: &[&str], err: &str) {
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

/// Names in `dir` (hidden ones included).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A small FASTQ of reads simulated from mammoth mtDNA, in `dir`.
fn reads(dir: &Path) -> PathBuf {
    let p = dir.join("reads.fq");
    let (code, _, err) = crest_in(
        dir,
        &[
            "simulate",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "-n",
            "40",
            "-o",
            "reads.fq",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    p
}

#[test]
fn every_subcommand_into_a_closed_pipe_ends_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let r = reads(dir.path());
    let r = r.to_str().unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["devices"],
        vec!["devices", "--json"],
        vec!["stats", r, &chrm],
        vec!["stats", "--reference", "--json", &chrm],
        vec!["simulate", "--reference", &chrm, "-n", "5000"],
        vec!["selftest", "--device", "cpu-reference", "--reps", "1"],
        vec!["embed", "--model", &model, "--kmers", r],
        vec!["map", "--model", &model, "--reference", &chrm, r],
        vec!["--help"],
    ];
    // the slow ones print their help; the rest of their stdout is a report
    // written at the end through the same path as above
    for sub in [
        "demo",
        "train",
        "eval-embed",
        "index",
        "bench",
        "scaling",
        "map",
        "simulate",
    ] {
        cases.push(vec![sub, "--help"]);
    }
    for args in cases {
        let mut child = bin()
            .current_dir(dir.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away at once
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        no_panic(&args, &err);
        assert_ne!(o.status.code(), Some(101), "{args:?}:\n{err}");
        assert!(
            o.status.success() || o.status.code().is_none(),
            "{args:?} failed on a closed pipe (want success or SIGPIPE): {:?}\n{err}",
            o.status
        );
    }
}

#[test]
fn a_headless_machine_gets_no_error_lines_when_nothing_failed() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["devices"], vec!["devices", "--json"]] {
        let (code, _, err) = crest_in(dir.path(), &args);
        assert_eq!(code, Some(0), "{err}");
        let bad: Vec<&str> = err
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("error"))
            .collect();
        assert!(bad.is_empty(), "{args:?} printed error lines: {bad:?}");
    }
}

#[test]
fn numeric_options_are_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let base_map = ["map", "--model", &model, "--reference", &chrm, "x.fq"];
    let base_sim = ["simulate", "--reference", &chrm];
    let base_train = ["train", "--reference", &chrm, "--out", "m.crest"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [&base_map[..], &["--max-diff", "NaN"]].concat(),
            "--max-diff",
        ),
        (
            [&base_map[..], &["--max-diff", "inf"]].concat(),
            "--max-diff",
        ),
        ([&base_map[..], &["--max-diff=-1"]].concat(), "--max-diff"),
        ([&base_map[..], &["--flip", "40"]].concat(), "--flip"),
        ([&base_map[..], &["--beam", "0"]].concat(), "--beam"),
        ([&base_map[..], &["--batch", "0"]].concat(), "--batch"),
        (
            [&base_map[..], &["--sort-memory", "10"]].concat(),
            "--sort-memory",
        ),
        (
            [&base_sim[..], &["--deamination", "2"]].concat(),
            "--deamination",
        ),
        (
            [&base_sim[..], &["--substitution", "2"]].concat(),
            "--substitution",
        ),
        ([&base_sim[..], &["--indel=-0.1"]].concat(), "--indel"),
        ([&base_sim[..], &["--decay", "NaN"]].concat(), "--decay"),
        ([&base_sim[..], &["--median", "0"]].concat(), "--median"),
        ([&base_sim[..], &["-n", "0"]].concat(), "--n"),
        (
            [&base_train[..], &["--minutes", "NaN"]].concat(),
            "--minutes",
        ),
        ([&base_train[..], &["--minutes=-1"]].concat(), "--minutes"),
        ([&base_train[..], &["--minutes", "0"]].concat(), "--minutes"),
        ([&base_train[..], &["--steps", "0"]].concat(), "--steps"),
        ([&base_train[..], &["--tau", "0"]].concat(), "--tau"),
        ([&base_train[..], &["--lr", "NaN"]].concat(), "--lr"),
        (
            [&base_train[..], &["--curvature=-1"]].concat(),
            "--curvature",
        ),
    ];
    for (args, opt) in cases {
        let (code, _, err) = crest_in(dir.path(), &args);
        no_panic(&args, &err);
        assert_eq!(code, Some(2), "{args:?} must be refused:\n{err}");
        assert!(
            err.contains(opt),
            "{args:?}: error should name {opt}:\n{err}"
        );
    }
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn map_never_writes_over_inputs_and_names_its_formats() {
    let dir = tempfile::tempdir().unwrap();
    let r = reads(dir.path());
    let before = std::fs::read(&r).unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let map = |out: &[&str]| {
        let mut a = vec![
            "map",
            "--model",
            model.as_str(),
            "--reference",
            chrm.as_str(),
            "reads.fq",
        ];
        a.extend_from_slice(out);
        let (code, _, err) = crest_in(dir.path(), &a);
        no_panic(&a, &err);
        (code, err)
    };
    for (out, want) in [
        ("reads.fq", "is also an input"),
        ("x.cram", "CRAM"),
        ("x.txt", "--output-format"),
        ("x.fq", "--output-format"),
    ] {
        let (code, err) = map(&["-o", out]);
        assert_eq!(code, Some(1), "-o {out}:\n{err}");
        assert!(err.contains(want), "-o {out}:\n{err}");
    }
    // the reference and the model are inputs too
    let (code, err) = map(&["-o", &chrm]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(std::fs::read(&r).unwrap(), before, "input reads changed");
    assert_eq!(listing(dir.path()), ["reads.fq"]);

    // a name the extension cannot tell, with --output-format
    let (code, err) = map(&["-o", "x.txt", "--output-format", "bam"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        &std::fs::read(dir.path().join("x.txt")).unwrap()[..2],
        b"\x1f\x8b"
    );
    // .sam.gz is BGZF-compressed SAM
    let (code, err) = map(&["-o", "y.sam.gz"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        &std::fs::read(dir.path().join("y.sam.gz")).unwrap()[..2],
        b"\x1f\x8b"
    );
    // a symlink is followed and stays a link
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("target.sam", dir.path().join("link.sam")).unwrap();
        let (code, err) = map(&["-o", "link.sam"]);
        assert_eq!(code, Some(0), "{err}");
        let md = std::fs::symlink_metadata(dir.path().join("link.sam")).unwrap();
        assert!(md.file_type().is_symlink(), "the symlink was replaced");
        let sam = std::fs::read_to_string(dir.path().join("target.sam")).unwrap();
        assert!(sam.starts_with("@HD"), "{sam}");
    }
    // --sort: sorted BAM and its index, nothing else; bad sort options
    // refused before any output
    let (code, err) = map(&["-o", "s.bam", "--sort", "--sort-memory", "1M"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("s.bam.bai").exists());
    for (args, want) in [
        (
            &["-o", "t.bam", "--sort", "--tmp-dir", "nowhere"][..],
            "nowhere",
        ),
        (&["-o", "t.bam", "--no-index"][..], "add --sort"),
        (&["-o", "t.bam", "--tmp-dir", "."][..], "add --sort"),
    ] {
        let (code, err) = map(args);
        assert_eq!(code, Some(1), "{args:?}:\n{err}");
        assert!(err.contains(want), "{args:?}:\n{err}");
        assert!(!dir.path().join("t.bam").exists());
    }
    // a device is written through, never replaced
    let (code, err) = map(&["-o", "/dev/null"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    let names = listing(dir.path());
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "left behind: {names:?}"
    );
}

#[test]
fn bad_read_names_are_errors_of_the_input_record() {
    let dir = tempfile::tempdir().unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let seq = "GTTAATGTAGCTTAATATAAAGCAAGGCACTGAAAATGCCTAGATG";
    let qual = "I".repeat(seq.len());
    for (i, name) in ["r".repeat(300), "réad_ü".to_string()].iter().enumerate() {
        let f = format!("bad{i}.fq");
        let text = format!("@ok1\n{seq}\n+\n{qual}\n@{name}\n{seq}\n+\n{qual}\n");
        std::fs::write(dir.path().join(&f), text).unwrap();
        let args = [
            "map",
            "--model",
            model.as_str(),
            "--reference",
            chrm.as_str(),
            f.as_str(),
            "-o",
            "out.bam",
        ];
        let (code, _, err) = crest_in(dir.path(), &args);
        no_panic(&args, &err);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(&f) && err.contains("record 2") && err.contains("read name"),
            "the error must name the file, the record and the problem:\n{err}"
        );
        assert!(!err.contains("invalid input parameter"), "{err}");
        let names = listing(dir.path());
        assert!(
            !names.iter().any(|n| n.contains("out.bam")),
            "output left behind: {names:?}"
        );
    }
}

#[test]
fn short_repeated_reads_get_a_mapq_that_reflects_their_copies() {
    let dir = tempfile::tempdir().unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let genome: Vec<u8> = std::fs::read_to_string(&chrm)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('>'))
        .flat_map(|l| l.trim().bytes())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    // the most frequent 5-mer: it fits tens of places
    let mut counts = std::collections::HashMap::new();
    for w in genome.windows(5) {
        *counts.entry(w.to_vec()).or_insert(0usize) += 1;
    }
    let (kmer, n) = counts
        .into_iter()
        .max_by_key(|(k, n)| (*n, k.clone()))
        .unwrap();
    assert!(n > 20, "{n}");
    let kmer = String::from_utf8(kmer).unwrap();
    std::fs::write(
        dir.path().join("short.fq"),
        format!("@s1\n{kmer}\n+\nIIIII\n"),
    )
    .unwrap();
    let args = [
        "map",
        "--model",
        model.as_str(),
        "--reference",
        chrm.as_str(),
        "--min-len",
        "0",
        "short.fq",
    ];
    let (code, sam, err) = crest_in(dir.path(), &args);
    assert_eq!(code, Some(0), "{err}");
    let rec = sam.lines().find(|l| l.starts_with("s1\t")).unwrap();
    let f: Vec<&str> = rec.split('\t').collect();
    let mapq: u8 = f[4].parse().unwrap();
    assert!(
        f[1] == "4" || mapq == 0,
        "a 5-mer found {n} times got MAPQ {mapq}: {rec}"
    );
}

#[test]
fn train_fails_before_training_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alln.fa"),
        format!(">n\n{}\n", "N".repeat(400)),
    )
    .unwrap();
    let phix = asset("phix174.fa");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--reference", "alln.fa", "--out", "m.crest"],
            "nothing to learn",
        ),
        (
            vec!["train", "--reference", &phix, "--out", "nodir/m.crest"],
            "nodir/m.crest",
        ),
        (
            vec!["train", "--reference", "alln.fa", "--out", "alln.fa"],
            "is also an input",
        ),
    ];
    for (args, want) in cases {
        let t0 = Instant::now();
        let (code, _, err) = crest_in(dir.path(), &args);
        no_panic(&args, &err);
        assert_eq!(code, Some(1), "{args:?}:\n{err}");
        assert!(err.contains(want), "{args:?}:\n{err}");
        // it failed at once, not after the 1,000 default steps
        assert!(t0.elapsed() < Duration::from_secs(120), "{args:?}");
    }
    assert_eq!(listing(dir.path()), ["alln.fa"]);
    let fa = std::fs::read_to_string(dir.path().join("alln.fa")).unwrap();
    assert!(fa.starts_with(">n\nNNN"), "input changed");
}

#[test]
fn failed_or_refused_outputs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (model, phix) = (asset("mammoth_chrM.crest"), asset("phix174.fa"));
    let cases: Vec<Vec<&str>> = vec![
        // fails after the output was opened
        vec![
            "simulate",
            "--reference",
            &phix,
            "--length",
            "100000",
            "-o",
            "s.fq",
        ],
        // an index must be a file
        vec![
            "index",
            "--model",
            &model,
            "--reference",
            &phix,
            "-o",
            "/dev/null",
        ],
        vec![
            "index",
            "--model",
            &model,
            "--reference",
            &phix,
            "-o",
            &phix,
        ],
        // a bwa the user named must run
        vec![
            "bench",
            "--model",
            &model,
            "--reference",
            &phix,
            "--bwa",
            "/missing/bwa",
            "-n",
            "10",
        ],
    ];
    for args in cases {
        let (code, _, err) = crest_in(dir.path(), &args);
        no_panic(&args, &err);
        assert_eq!(code, Some(1), "{args:?}:\n{err}");
    }
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn models_are_validated_on_load() {
    use safetensors::tensor::TensorView;
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(asset("mammoth_chrM.crest")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&data).unwrap();
    let (_, md) = safetensors::SafeTensors::read_metadata(&data).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&md.metadata().as_ref().unwrap()["crest"]).unwrap();
    let write = |name: &str, meta: &serde_json::Value, poison: Option<&str>| {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                let mut b = v.data().to_vec();
                if Some(n.as_str()) == poison {
                    b[..4].copy_from_slice(&f32::NAN.to_le_bytes());
                }
                (n, v.shape().to_vec(), b)
            })
            .collect();
        owned.sort_by(|a, b| a.0.cmp(&b.0));
        let views: Vec<(String, TensorView)> = owned
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let info = std::collections::HashMap::from([("crest".to_string(), meta.to_string())]);
        let bytes = safetensors::serialize(views, Some(info)).unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let nan = write("nan.crest", &meta, Some("embed.w"));
    let mut m0 = meta.clone();
    m0["encoder"]["blocks"] = serde_json::json!(0);
    let blocks0 = write("blocks0.crest", &m0, None);
    let mut mk = meta.clone();
    mk["encoder"]["k"] = serde_json::json!(24);
    let k24 = write("k24.crest", &mk, None);
    let same = write("same.crest", &meta, None);
    assert!(crest::model::Checkpoint::load(&same).is_ok());
    for (p, want) in [
        (&nan, "non-finite"),
        (&blocks0, "block0"),
        (&k24, "embed.w"),
    ] {
        let e = crest::model::Checkpoint::load(p).unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains(p.file_name().unwrap().to_str().unwrap()),
            "{}: {e}",
            p.display()
        );
    }
    // and through the command line: one error, exit 1
    let r = reads(dir.path());
    let args = [
        "map",
        "--model",
        nan.to_str().unwrap(),
        "--reference",
        &asset("mammoth_chrM.fa"),
        r.to_str().unwrap(),
    ];
    let (code, out, err) = crest_in(dir.path(), &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("non-finite"), "{err}");
}

#[cfg(unix)]
#[test]
fn interrupted_runs_remove_their_temporary_files() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = bin()
            .current_dir(dir.path())
            .args([
                "train",
                "--reference",
                &asset("phix174.fa"),
                "--out",
                "m.crest",
                "--steps",
                "1000000",
                "--batch",
                "8",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // wait until the temporary output exists (opened before training)
        let t0 = Instant::now();
        while listing(dir.path()).is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(120), "no temporary file");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "{status:?}");
        assert!(
            listing(dir.path()).is_empty(),
            "left behind after signal {sig}: {:?}",
            listing(dir.path())
        );
    }
}

/// Every count and size option of every subcommand, with its bounds:
/// (subcommand, option, least, most). `crest <sub> --opt most+1` (and
/// least−1 where least > 0) must be a usage error naming the option,
/// before anything runs.
const COUNT_OPTIONS: &[(&str, &str, u64, u64)] = &[
    ("selftest", "--scale", 1, 64),
    ("selftest", "--reps", 1, 1000),
    ("train", "--steps", 1, 100_000_000),
    ("train", "--batch", 1, 65_536),
    ("train", "--k", 1, 1024),
    ("train", "--channels", 1, 4096),
    ("train", "--kernel", 1, 64),
    ("train", "--blocks", 0, 64),
    ("train", "--embed-dim", 1, 4096),
    ("train", "--proj-dim", 1, 4096),
    ("train", "--gamma", 0, 1_000_000),
    ("train", "--d", 0, 1_000_000),
    ("train", "--warmup", 0, 100_000_000),
    ("train", "--log-every", 1, 100_000_000),
    ("train", "--eval-every", 0, 100_000_000),
    ("train", "--eval-queries", 0, 1_000_000),
    ("train", "--head-steps", 0, 100_000_000),
    ("train", "--head-hidden", 1, 4096),
    ("eval-embed", "--queries", 1, 1_000_000),
    ("eval-embed", "--stride", 1, 65_536),
    ("eval-embed", "--gamma", 0, 1_000_000),
    ("eval-embed", "--beam", 1, 512),
    ("eval-embed", "--route-width", 1, 256),
    ("map", "--threads", 1, 1024),
    ("map", "--batch", 1, 1_048_576),
    ("map", "--stride", 1, 65_536),
    ("map", "--flip", 0, 8),
    ("map", "--read-neighbours", 0, 4096),
    ("map", "--rescue-beam", 0, 512),
    ("map", "--rescue-max-len", 0, 10_000_000),
    ("map", "--rescue-views", 0, 64),
    ("map", "--rescue-mask", 0, 8),
    ("map", "--min-base-quality", 0, 255),
    ("map", "--candidates", 1, 4096),
    ("map", "--pad", 0, 32),
    ("map", "--damage-len", 0, 1000),
    ("map", "--min-len", 0, 10_000_000),
    ("map", "--beam", 1, 512),
    ("map", "--route-width", 1, 256),
    ("map", "--damage-positions", 1, 1000),
    ("profile", "--min-mapq", 0, 255),
    ("profile", "--min-len", 0, 10_000_000),
    ("profile", "--batch", 1, 1_048_576),
    ("sv", "--window", 1, 10_000_000),
    ("sv", "--step", 1, 65_536),
    ("sv", "--min-mapq", 0, 255),
    ("sv", "--candidates", 1, 4096),
    ("sv", "--beam", 1, 512),
    ("sv", "--min-size", 0, 1_000_000_000),
    ("sv", "--tolerance", 0, 1_000_000_000),
    ("sv", "--min-anchors", 0, 1_000_000),
    ("sv", "--merge", 0, 1_000_000_000),
    ("sv", "--min-support", 0, 1_000_000),
    ("sv", "--batch", 1, 1_048_576),
    ("simulate-sv", "--per-kind", 1, 100_000),
    ("simulate-sv", "--min-size", 1, 1_000_000_000),
    ("simulate-sv", "--max-size", 1, 1_000_000_000),
    ("simulate-sv", "--spacing", 0, 1_000_000_000),
    ("simulate-sv", "--long-reads", 0, 1_000_000),
    ("simulate-sv", "--read-length", 1, 10_000_000),
    ("sv-eval", "--tolerance", 0, 1_000_000_000),
    ("simulate", "--n", 1, 1_000_000_000),
    ("simulate", "--length", 1, 10_000_000),
    ("simulate", "--min-len", 1, 10_000_000),
    ("simulate", "--max-len", 1, 10_000_000),
    ("bench", "--threads", 1, 1024),
    ("bench", "--tolerance", 0, 1_000_000_000),
    ("bench", "--n", 1, 1_000_000_000),
    ("bench", "--length", 1, 10_000_000),
    ("bench", "--min-len", 1, 10_000_000),
    ("bench", "--max-len", 1, 10_000_000),
    ("scaling", "--flat-max-bp", 0, 1_000_000_000_000),
    ("scaling", "--threads", 1, 1024),
    ("scaling", "--n", 1, 1_000_000_000),
    ("scaling", "--length", 1, 10_000_000),
    ("demo", "--steps", 0, 100_000_000),
    ("demo", "--batch", 1, 65_536),
    ("demo", "--reads", 1, 1_000_000_000),
    ("embed", "--stride", 1, 65_536),
    ("classify train", "--channels", 1, 4096),
    ("classify train", "--hidden", 1, 4096),
    ("classify train", "--len", 1, 100_000),
    ("classify train", "--epochs", 1, 100_000),
    ("classify train", "--batch", 1, 65_536),
    ("classify train", "--window", 1, 1024),
    ("classify train", "--stride", 1, 65_536),
    ("classify train", "--train-windows", 1, 1024),
    ("classify train", "--patience", 1, 100_000),
    ("classify train", "--hits", 1, 1000),
    ("classify search", "--hits", 1, 1000),
];

/// Options that shape an index, shared by `index`, `map`, `profile` and `sv`.
const BUILD_OPTIONS: &[(&str, u64, u64)] = &[
    ("--grid-stride", 1, 65_536),
    ("--branch", 2, 64),
    ("--leaf", 1, 1_048_576),
    ("--depth", 1, 32),
    ("--iters", 1, 1000),
    ("--spill", 0, 8),
    ("--route-steps", 0, 100_000_000),
    ("--route-hidden", 1, 4096),
    ("--route-batch", 1, 65_536),
];

/// Required arguments of `sub`: dummy paths, never opened (clap refuses the
/// bad value before any command runs).
fn required_args(sub: &str) -> Vec<&'static str> {
    let v: &[&str] = match sub {
        "selftest" | "demo" => &[],
        "train" => &["--reference", "r.fa", "--out", "m.crest"],
        "eval-embed" => &["--model", "m.crest", "--reference", "r.fa"],
        "index" => &["--model", "m.crest", "--reference", "r.fa", "-o", "i"],
        "map" | "profile" | "sv" => &["--model", "m.crest", "--reference", "r.fa", "x.fq"],
        "simulate-sv" => &["--reference", "r.fa", "-o", "a.fa", "--vcf", "t.vcf"],
        "sv-eval" => &["--reference", "r.fa", "--truth", "t.vcf", "c.vcf"],
        "simulate" => &["--reference", "r.fa"],
        "bench" | "scaling" => &["--model", "m.crest", "--reference", "r.fa"],
        "embed" => &["--model", "m.crest", "x.fa"],
        "classify train" => &["--train", "t.fa", "--out", "db"],
        "classify search" => &["--db", "db", "--query", "q.fa", "--out", "o.tsv"],
        _ => panic!("no required arguments known for {sub}"),
    };
    v.to_vec()
}

#[test]
fn every_count_option_has_an_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut table: Vec<(&str, &str, u64, u64)> = COUNT_OPTIONS.to_vec();
    for sub in ["index", "map", "profile", "sv"] {
        table.extend(BUILD_OPTIONS.iter().map(|&(o, lo, hi)| (sub, o, lo, hi)));
    }
    let mut probes: Vec<(&str, &str, String, u64)> = Vec::new();
    for &(sub, opt, lo, hi) in &table {
        probes.push((sub, opt, (hi + 1).to_string(), hi));
        if lo > 0 {
            probes.push((sub, opt, (lo - 1).to_string(), lo));
        }
    }
    // the values that crashed before: u64::MAX, a float, beyond u64
    for v in ["18446744073709551615", "1e12", "99999999999999999999"] {
        probes.push(("map", "--batch", v.to_string(), 1_048_576));
    }
    probes.push(("map", "--sort-memory", "1025G".into(), 1024));
    for (sub, opt, value, limit) in probes {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.extend(required_args(sub));
        args.extend([opt, &value]);
        let (code, out, err) = crest_in(dir.path(), &args);
        no_panic(&args, &err);
        assert_eq!(code, Some(2), "{args:?} must be a usage error:\n{err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(
            err.contains(&format!("'{opt} <")),
            "{args:?}: the error should name {opt}:\n{err}"
        );
        assert!(
            err.contains(&limit.to_string()),
            "{args:?}: the error should name the limit {limit}:\n{err}"
        );
    }
    // nothing ran: no output, temporary or otherwise
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn results_to_a_full_stdout_are_an_error_not_a_panic() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = reads(dir.path());
    let r = r.to_str().unwrap();
    let (model, chrm) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let (code, _, err) = crest_in(
        dir.path(),
        &[
            "simulate-sv",
            "--reference",
            &chrm,
            "-o",
            "alt.fa",
            "--vcf",
            "truth.vcf",
            "--per-kind",
            "1",
            "--max-size",
            "500",
            "--spacing",
            "200",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    // (arguments, whether crest's own result printing is what fails)
    let cases: Vec<(Vec<&str>, bool)> = vec![
        (vec!["devices"], true),
        (vec!["devices", "--json"], true),
        (vec!["stats", r, &chrm], true),
        (vec!["stats", "--json", "--reference", &chrm], true),
        (
            vec![
                "sv-eval",
                "--reference",
                &chrm,
                "--truth",
                "truth.vcf",
                "truth.vcf",
            ],
            true,
        ),
        (
            vec![
                "sv-eval",
                "--json",
                "--reference",
                &chrm,
                "--truth",
                "truth.vcf",
                "truth.vcf",
            ],
            true,
        ),
        (vec!["selftest", "--reps", "1"], true),
        (
            vec![
                "eval-embed",
                "--device",
                "cpu-reference",
                "--model",
                &model,
                "--reference",
                &chrm,
                "--queries",
                "10",
                "--stride",
                "64",
            ],
            true,
        ),
        (
            vec![
                "eval-embed",
                "--json",
                "--device",
                "cpu-reference",
                "--model",
                &model,
                "--reference",
                &chrm,
                "--queries",
                "10",
                "--stride",
                "64",
            ],
            true,
        ),
        (
            vec![
                "bench",
                "--no-bwa",
                "--model",
                &model,
                "--reference",
                &chrm,
                "-n",
                "20",
            ],
            true,
        ),
        // stdout as an output file (`-o` left out)
        (vec!["simulate", "--reference", &chrm, "-n", "20"], false),
        (
            vec!["embed", "--device", "cpu-reference", "--model", &model, r],
            false,
        ),
    ];
    for (args, ours) in cases {
        let o = bin()
            .current_dir(dir.path())
            .args(&args)
            .stdout(std::fs::File::create(full).unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        no_panic(&args, &err);
        assert_eq!(o.status.code(), Some(1), "{args:?}:\n{err}");
        assert!(err.contains("No space left on device"), "{args:?}:\n{err}");
        if ours {
            assert!(
                err.contains("standard output: No space left on device"),
                "{args:?}:\n{err}"
            );
        }
    }
}

#[test]
fn a_class_label_beyond_any_sane_class_count_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "sequence,label\nACGTACGTAC,0\nTTGCAACGTA,1\nGGCATTACGA,4000000000\n";
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let args = [
        "classify",
        "train",
        "--device",
        "cpu-reference",
        "--model",
        "euclidean",
        "--train",
        "t.csv",
        "--dev",
        "t.csv",
        "--out",
        "c.crest",
    ];
    let t0 = Instant::now();
    let (code, _, err) = crest_in(dir.path(), &args);
    no_panic(&args, &err);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("t.csv"),
        "the error should name the file:\n{err}"
    );
    assert!(
        err.contains("line 4"),
        "the error should name the row:\n{err}"
    );
    assert!(err.contains("4000000000"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert_eq!(listing(dir.path()), ["t.csv"]);
}
