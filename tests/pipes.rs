//! Reads from pipes: `-` (standard input), `/dev/stdin`, a FIFO and bash
//! process substitution, plain, gzip and BAM; each is opened once (a pipe
//! cannot be sniffed and reopened) and maps exactly as the file does.

mod common;
use common::asset_str as asset;

use std::path::Path;
use std::process::Command;

/// Run a bash line in `dir` with `$CREST`, `$M` (model) and `$R` (reference) set.
fn bash(dir: &Path, line: &str) -> (bool, String) {
    let o = Command::new("bash")
        .current_dir(dir)
        .env("CREST", env!("CARGO_BIN_EXE_crest"))
        .env("M", asset("mammoth_chrM.crest"))
        .env("R", asset("mammoth_chrM.fa"))
        .args(["-c", line])
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// SAM records without the @PG line (its CL names the input).
fn body(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("@PG"))
        .map(str::to_string)
        .collect()
}

#[test]
fn reads_from_pipes_map_as_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let setup =
        "\"$CREST\" simulate --reference \"$R\" -n 50 --seed 3 -o r.fq && gzip -c r.fq > r.fq.gz \
                 && \"$CREST\" index --model \"$M\" --reference \"$R\" -o mt.idx";
    let (ok, err) = bash(d, setup);
    assert!(ok, "{err}");
    let map = "\"$CREST\" map --model \"$M\" --reference \"$R\" --index mt.idx";
    let (ok, err) = bash(d, &format!("{map} r.fq -o file.sam"));
    assert!(ok, "{err}");
    let want = body(&d.join("file.sam"));
    assert!(want.len() > 50);
    let cases = [
        ("stdin_gz", format!("cat r.fq.gz | {map} - -o stdin_gz.sam")),
        ("stdin_plain", format!("{map} - -o stdin_plain.sam < r.fq")),
        (
            "dev_stdin",
            format!("cat r.fq | {map} /dev/stdin -o dev_stdin.sam"),
        ),
        ("procsub", format!("{map} <(gzip -c r.fq) -o procsub.sam")),
        (
            "fifo",
            format!("mkfifo f.fq && (gzip -c r.fq > f.fq &) && {map} f.fq -o fifo.sam"),
        ),
    ];
    for (name, line) in cases {
        let (ok, err) = bash(d, &line);
        assert!(ok, "{name}: {err}");
        assert!(!err.contains("invalid gzip header"), "{name}: {err}");
        assert_eq!(body(&d.join(format!("{name}.sam"))), want, "{name}");
    }
    // BAM on standard input (samtools import: unaligned BAM)
    let (ok, err) = bash(
        d,
        &format!("samtools import -0 r.fq -o u.bam && cat u.bam | {map} - -o bam.sam"),
    );
    assert!(ok, "{err}");
    let got = body(&d.join("bam.sam"));
    assert_eq!(got.len(), want.len());
    // read groups of an unaligned BAM travel through (header and RG tags),
    // sorted or not, from a file or a pipe; -R overrides them as in bwa
    let (ok, err) = bash(
        d,
        &format!(
            "samtools import -r ID:lib1 -r SM:mammoth -0 r.fq -o rg.bam \
             && {map} rg.bam -o rg.sam \
             && cat rg.bam | {map} - --sort -o rg_sorted.bam \
             && {map} rg.bam -R '@RG\\tID:other\\tSM:x' -o rg_given.sam"
        ),
    );
    assert!(ok, "{err}");
    for (f, id) in [
        ("rg.sam", "lib1"),
        ("rg_sorted.bam", "lib1"),
        ("rg_given.sam", "other"),
    ] {
        let o = Command::new("samtools")
            .current_dir(d)
            .args(["view", "-h", f])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let rg: Vec<&str> = text.lines().filter(|l| l.starts_with("@RG")).collect();
        assert_eq!(rg.len(), 1, "{f}: {text}");
        assert!(rg[0].contains(&format!("ID:{id}")), "{f}: {rg:?}");
        let recs: Vec<&str> = text.lines().filter(|l| !l.starts_with('@')).collect();
        assert_eq!(recs.len(), 50, "{f}");
        assert!(
            recs.iter().all(|l| l.contains(&format!("\tRG:Z:{id}"))),
            "{f}: a record without RG:Z:{id}"
        );
    }
    // stats from a gzip stream
    let (ok, err) = bash(d, "cat r.fq.gz | \"$CREST\" stats - > s.tsv");
    assert!(ok, "{err}");
    let s = std::fs::read_to_string(d.join("s.tsv")).unwrap();
    assert!(s.contains("\tFastq\t50\t"), "{s}");
}
