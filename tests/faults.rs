//! Faults of the reliability probe (issue 34), each with the input that
//! showed it: silent wrong output, late failures and errors that named the
//! wrong thing.

mod common;
use common::asset_str as asset;
use common::crest_in as crest;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fails_with(dir: &Path, args: &[&str], want: &[&str]) -> String {
    let (code, _, err) = crest(dir, args);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(code, Some(1), "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?}: wanted {w:?} in:\n{err}");
    }
    err
}

/// A 2 kbp reference of one contig named `name`, and one query copied from it.
fn small_reference(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let seq: String = (0..2000)
        .map(|i: u32| b"ACGT"[((i * 7 + i / 3 + i * i % 11) % 4) as usize] as char)
        .collect();
    let r = dir.join("ref.fa");
    std::fs::write(&r, format!(">{name}\n{seq}\n")).unwrap();
    let q = dir.join("q.fa");
    std::fs::write(&q, format!(">q1\n{}\n", &seq[100..1100])).unwrap();
    (r, q)
}

#[test]
fn paf_coordinates_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, q) = small_reference(d, "chr1");
    let (r, q) = (r.to_str().unwrap(), q.to_str().unwrap());
    let paf = |line: &str| {
        std::fs::write(d.join("a.paf"), format!("{line}\n")).unwrap();
    };
    // target interval past the contig's end (2,000 bp): was END=… past it
    paf("q1\t1000\t0\t1000\t+\tchr1\t2000\t100000\t100100\t1000\t1000\t60");
    fails_with(
        d,
        &["sv", "--reference", r, "--paf", "a.paf", q],
        &["a.paf", "past the end"],
    );
    // a target length that is not the reference's
    paf("q1\t1000\t0\t1000\t+\tchr1\t5000\t100\t1100\t1000\t1000\t60");
    fails_with(
        d,
        &["sv", "--reference", r, "--paf", "a.paf", q],
        &["target length"],
    );
    // names that match no query: was 0 calls, exit 0
    paf("other\t1000\t0\t1000\t+\tchr1\t2000\t100\t1100\t1000\t1000\t60");
    fails_with(
        d,
        &["sv", "--reference", r, "--paf", "a.paf", q],
        &["a.paf", "no alignment"],
    );
    // the valid line works
    paf("q1\t1000\t0\t1000\t+\tchr1\t2000\t100\t1100\t1000\t1000\t60");
    let (code, _, err) = crest(
        d,
        &["sv", "--reference", r, "--paf", "a.paf", q, "-o", "c.vcf"],
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn vcf_contig_names_and_end_before_pos_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (r, q) = small_reference(d, "chr<1>");
    let (r, q) = (r.to_str().unwrap(), q.to_str().unwrap());
    std::fs::write(
        d.join("a.paf"),
        "q1\t1000\t0\t1000\t+\tchr<1>\t2000\t100\t1100\t1000\t1000\t60\n",
    )
    .unwrap();
    fails_with(
        d,
        &["sv", "--reference", r, "--paf", "a.paf", q, "-o", "c.vcf"],
        &["chr<1>", "not allowed in VCF"],
    );
    assert!(!d.join("c.vcf").exists());
    // sv-eval: END before POS in a truth set
    let (r, _) = small_reference(d, "chr1");
    let vcf = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t500\tx\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=400\n";
    std::fs::write(d.join("t.vcf"), vcf).unwrap();
    fails_with(
        d,
        &[
            "sv-eval",
            "--reference",
            r.to_str().unwrap(),
            "--truth",
            "t.vcf",
            "t.vcf",
        ],
        &["t.vcf", "before POS"],
    );
}

#[test]
fn bad_read_groups_and_unwritable_folders_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, mt) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let (code, _, err) = crest(
        d,
        &["simulate", "--reference", &mt, "-n", "10", "-o", "r.fq"],
    );
    assert_eq!(code, Some(0), "{err}");
    let base = [
        "map",
        "--model",
        m.as_str(),
        "--reference",
        mt.as_str(),
        "r.fq",
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    for (extra, want) in [
        (
            vec!["-R", "@RG\\tID:a\nSM:b", "-o", "o.sam"],
            vec!["-R", "one line"],
        ),
        (
            vec!["--damage-profile", "/proc/crest-dp", "-o", "o.sam"],
            vec!["--damage-profile", "cannot create"],
        ),
        (
            vec!["--sort", "--tmp-dir", "/proc", "-o", "o.bam"],
            vec!["--tmp-dir", "cannot create"],
        ),
    ] {
        let args = with(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let t0 = std::time::Instant::now();
        fails_with(d, &args, &want);
        // refused before the index was built and the reads mapped
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "{args:?}"
        );
        assert!(!d.join("o.sam").exists() && !d.join("o.bam").exists());
    }
}

#[test]
fn classify_train_minutes_must_be_a_positive_number() {
    let dir = tempfile::tempdir().unwrap();
    for v in ["NaN", "-1", "0", "inf"] {
        let opt = format!("--minutes={v}");
        let (code, _, err) = crest(
            dir.path(),
            &["classify", "train", "--train", "x.csv", "--out", "m", &opt],
        );
        assert_eq!(code, Some(2), "--minutes {v}: {err}");
        assert!(err.contains("--minutes"), "{err}");
    }
}

#[test]
fn summed_damage_counts_do_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, mt) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    let (code, _, err) = crest(
        d,
        &["simulate", "--reference", &mt, "-n", "30", "-o", "r.fq"],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = crest(
        d,
        &[
            "map",
            "--model",
            &m,
            "--reference",
            &mt,
            "r.fq",
            "-o",
            "o.sam",
            "--damage-profile",
            "p1",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    // a length count near 2^64 in the copy: p1 + p2 overflows
    std::fs::create_dir(d.join("p2")).unwrap();
    for f in [
        "misincorporation.txt",
        "lgdistribution.txt",
        "damage.tsv",
        "damage.svg",
    ] {
        std::fs::copy(d.join("p1").join(f), d.join("p2").join(f)).unwrap();
    }
    let lg = std::fs::read_to_string(d.join("p2/lgdistribution.txt")).unwrap();
    let mut done = false;
    let edited: Vec<String> = lg
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if !done && f.len() == 3 && (f[0] == "+" || f[0] == "-") {
                done = true;
                format!("{}\t{}\t{}", f[0], f[1], u64::MAX - 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no count line in {lg}");
    std::fs::write(d.join("p2/lgdistribution.txt"), edited.join("\n") + "\n").unwrap();
    fails_with(d, &["damage", "-o", "sum", "p1", "p2"], &["overflow"]);
    assert!(!d.join("sum").exists());
}

#[test]
fn an_empty_read_gets_no_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("r.fa"),
        ">a\nACGTACGTTTGACCATGACGATCGATCGGATCGATCAG\n>empty\n\n>b\nTTGACCATGACGATCGATCGGATCGATCAGACGTACGTA\n",
    )
    .unwrap();
    let (code, out, err) = crest(
        d,
        &["embed", "--model", &asset("mammoth_chrM.crest"), "r.fa"],
    );
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("name"))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "{out}");
    assert!(err.contains("1 empty reads"), "{err}");
}

#[test]
fn help_and_version_into_a_full_stdout_fail() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["--help"], vec!["--version"], vec!["map", "--help"]] {
        let o = Command::new(env!("CARGO_BIN_EXE_crest"))
            .current_dir(dir.path())
            .args(&args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("standard output"), "{args:?}: {err}");
    }
}

/// Children of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn an_interrupted_bench_stops_its_children_and_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crest"))
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .args([
            "bench",
            "--no-bwa",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            &asset("mammoth_chrM.crest"),
            "-n",
            "3000",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // wait for bench to start a child (crest index or crest map)
    let t0 = std::time::Instant::now();
    let mut kids = Vec::new();
    while kids.is_empty() && t0.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        kids = children(pid);
    }
    assert!(!kids.is_empty(), "bench started no child");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    // the children got the signal too
    let t1 = std::time::Instant::now();
    let alive = |p: u32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    while kids.iter().any(|&k| alive(k)) && t1.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !kids.iter().any(|&k| alive(k)),
        "children of an interrupted bench still run: {kids:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left in the temporary folder: {left:?}");
}
