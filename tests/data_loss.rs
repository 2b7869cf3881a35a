//! Data-loss faults: outputs to inherited descriptors, outputs that collide
//! with each other, truncated compressed inputs, and a command's outputs
//! committed together or not at all.

mod common;
use common::asset_str as asset;
use common::crest_in;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run a shell line with `$CREST` set to the binary, in `dir`.
fn sh(dir: &Path, line: &str) -> (Option<i32>, String) {
    let o = Command::new("sh")
        .current_dir(dir)
        .env("CREST", env!("CARGO_BIN_EXE_crest"))
        .args(["-c", line])
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn simulate(dir: &Path, n: usize, out: &str) -> PathBuf {
    let (code, _, err) = crest_in(
        dir,
        &[
            "simulate",
            "--reference",
            &asset("lambda_phage.fa"),
            "-n",
            &n.to_string(),
            "-o",
            out,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    dir.join(out)
}

#[test]
fn writing_to_dev_stdout_appends_where_the_shell_appends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lambda = asset("lambda_phage.fa");
    std::fs::write(d.join("f"), "keep\n").unwrap();
    for out in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
        let (code, err) = sh(
            d,
            &format!("\"$CREST\" simulate --reference '{lambda}' -n 3 -o {out} >> f"),
        );
        assert_eq!(code, Some(0), "{out}: {err}");
    }
    let (code, err) = sh(
        d,
        &format!("\"$CREST\" simulate --reference '{lambda}' -n 3 -o /dev/fd/3 3>> f"),
    );
    assert_eq!(code, Some(0), "{err}");
    let f = std::fs::read_to_string(d.join("f")).unwrap();
    assert!(
        f.starts_with("keep\n@"),
        "the earlier content was lost:\n{f}"
    );
    assert_eq!(f.lines().count(), 1 + 4 * 12, "{f}");
    // into a pipe
    let (code, err) = sh(
        d,
        &format!("\"$CREST\" simulate --reference '{lambda}' -n 3 -o /dev/stdout | wc -l > n"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("No such file"), "{err}");
    assert_eq!(std::fs::read_to_string(d.join("n")).unwrap().trim(), "12");
    assert_eq!(listing(d), ["f", "n"]);
}

#[test]
fn outputs_of_one_command_that_collide_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    let (lambda, mt, model) = (
        asset("lambda_phage.fa"),
        asset("mammoth_chrM.fa"),
        asset("mammoth_chrM.crest"),
    );
    std::fs::write(d.join("q.fa"), ">q\nACGTACGTACGTACGTACGTACGTACGTACGTACGT\n").unwrap();
    let reads = simulate(d, 5, "r.fq");
    let r = reads.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "simulate-sv",
            "--reference",
            &lambda,
            "-o",
            "X",
            "--vcf",
            "X",
        ],
        vec![
            "simulate-sv",
            "--reference",
            &lambda,
            "-o",
            "X",
            "--vcf",
            "./X",
        ],
        vec![
            "simulate-sv",
            "--reference",
            &lambda,
            "-o",
            "sub/../X",
            "--vcf",
            "X",
        ],
        vec![
            "simulate-sv",
            "--reference",
            &lambda,
            "-o",
            "-",
            "--vcf",
            "/dev/stdout",
        ],
        vec![
            "train",
            "--reference",
            &lambda,
            "--out",
            "X",
            "--metrics",
            "X",
            "--steps",
            "1",
        ],
        vec![
            "sv",
            "--reference",
            &mt,
            "--model",
            &model,
            "-o",
            "X",
            "--bed",
            "X",
            "q.fa",
        ],
        vec![
            "sv",
            "--reference",
            &mt,
            "--model",
            &model,
            "--plot",
            "X",
            "--bed",
            "X",
            "q.fa",
        ],
        vec![
            "profile",
            "--reference",
            &mt,
            "--model",
            &model,
            "-o",
            "X",
            "--assignments",
            "X",
            r,
        ],
        vec![
            "map",
            "--reference",
            &mt,
            "--model",
            &model,
            "--sort",
            "-o",
            "X.bam",
            "--trace",
            "X.bam.bai",
            r,
        ],
        vec![
            "map",
            "--reference",
            &mt,
            "--model",
            &model,
            "-o",
            "X",
            "--trace",
            "X",
            r,
        ],
        vec![
            "map",
            "--reference",
            &mt,
            "--model",
            &model,
            "-o",
            "X",
            "--damage-profile",
            "X",
            r,
        ],
        vec![
            "bench",
            "--reference",
            &mt,
            "--model",
            &model,
            "--json",
            "X",
            "--plot",
            "X",
            "-n",
            "5",
        ],
        vec![
            "scaling",
            "--reference",
            &mt,
            "--model",
            &model,
            "--json",
            "X",
            "--plot",
            "X",
        ],
    ];
    for args in cases {
        let (code, _, err) = crest_in(d, &args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(code, Some(1), "{args:?}:\n{err}");
        assert!(err.contains("are the same output"), "{args:?}:\n{err}");
        assert_eq!(listing(d), ["q.fa", "r.fq", "sub"], "{args:?}");
    }
}

#[test]
fn a_later_output_that_fails_takes_the_earlier_ones_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lambda = asset("lambda_phage.fa");
    // the VCF goes to a full device: the genome and the reads must not stay
    let args = [
        "simulate-sv",
        "--reference",
        &lambda,
        "-o",
        "g.fa",
        "--vcf",
        "/dev/full",
        "--long-reads",
        "2",
        "--reads-out",
        "reads.fa",
    ];
    let (code, _, err) = crest_in(d, &args);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/dev/full"), "{err}");
    assert!(listing(d).is_empty(), "{:?}", listing(d));
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn truncated_gzip_and_bgzf_inputs_are_not_read_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fq = std::fs::read(simulate(d, 200, "r.fq")).unwrap();
    // gzip with its trailer cut (4 and 8 bytes): an error naming the file
    let whole = gz(&fq);
    for cut in [4usize, 8] {
        let name = format!("cut{cut}.fq.gz");
        std::fs::write(d.join(&name), &whole[..whole.len() - cut]).unwrap();
        let (code, _, err) = crest_in(d, &["stats", &name]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains(&name) && err.contains("truncated"), "{err}");
    }
    // BGZF FASTQ without its end-of-file block: read, with a warning
    let mut w = noodles::bgzf::io::Writer::new(Vec::new());
    w.write_all(&fq).unwrap();
    let mut b = w.finish().unwrap();
    b.truncate(b.len() - 28);
    std::fs::write(d.join("b.fq.gz"), &b).unwrap();
    let (code, out, err) = crest_in(d, &["stats", "b.fq.gz"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\t200\t"), "{out}");
    assert!(
        err.contains("b.fq.gz") && err.contains("end-of-file"),
        "{err}"
    );
}

#[test]
fn dedup_refuses_a_bam_cut_at_a_block_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mt, model) = (asset("mammoth_chrM.fa"), asset("mammoth_chrM.crest"));
    let reads = simulate(d, 50, "r.fq");
    let args = [
        "map",
        "--reference",
        &mt,
        "--model",
        &model,
        "--sort",
        "--no-index",
        "-o",
        "s.bam",
        reads.to_str().unwrap(),
    ];
    let (code, _, err) = crest_in(d, &args);
    assert_eq!(code, Some(0), "{err}");
    let bam = std::fs::read(d.join("s.bam")).unwrap();
    assert!(bam.ends_with(&crest::io::gz::BGZF_EOF));
    std::fs::write(d.join("cut.bam"), &bam[..bam.len() - 28]).unwrap();
    let (code, _, err) = crest_in(d, &["dedup", "cut.bam", "-o", "d.bam"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cut.bam") && err.contains("truncated"),
        "{err}"
    );
    assert!(!d.join("d.bam").exists());
    // a reader warns
    let (code, _, err) = crest_in(d, &["stats", "cut.bam"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("end-of-file"), "{err}");
    // the whole BAM is fine
    let (code, _, err) = crest_in(d, &["dedup", "s.bam", "-o", "d.bam"]);
    assert_eq!(code, Some(0), "{err}");
}
