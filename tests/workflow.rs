//! The Snakemake workflow (workflow/Snakefile) end to end on the two real
//! mammoth libraries of tests/data (the merged reads and the raw R1
//! reads of JK2782), each split into 3 shards: every read is in its
//! library's BAM exactly once, the BAM is sorted and indexed, @RG is the
//! library's, @PG chains crest → samtools merge → crest dedup, the
//! summed damage profile counts every mapped read, and the summary table
//! agrees with samtools. Also: sample sheet names that would break out of a
//! shell command are refused, and FASTQ file names that hold shell syntax
//! are read, not run. Needs snakemake and samtools (.ci/run installs them).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Read names of a (gzipped) FASTQ.
fn fastq_names(p: &Path) -> Vec<String> {
    let f = std::fs::File::open(p).unwrap();
    let r = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(f));
    r.lines()
        .step_by(4)
        .map(|l| {
            l.unwrap()[1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn samtools(args: &[&str]) -> String {
    let o = Command::new("samtools")
        .args(args)
        .output()
        .expect("samtools must be installed");
    assert!(
        o.status.success(),
        "samtools {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn snakemake_workflow_maps_sharded_mammoth_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let data = root().join("tests/data");
    let libs = [
        ("JK2782_merged", "mammoth_JK2782_merged.fq.gz"),
        ("JK2782_R1", "mammoth_JK2782_raw_R1.fq.gz"),
    ];
    let mut sheet = String::from("library\tsample\tfastq\n");
    for (lib, fq) in libs {
        let p = data.join(fq);
        assert!(p.exists(), "{} is missing", p.display());
        sheet.push_str(&format!("{lib}\tJK2782\t{}\n", p.display()));
    }
    let sheet_path = dir.path().join("samples.tsv");
    std::fs::write(&sheet_path, sheet).unwrap();
    let o = Command::new("snakemake")
        .current_dir(root())
        .args([
            "-s",
            "workflow/Snakefile",
            "--cores",
            "2",
            "--resources",
            "gpu=1",
        ])
        .args(["--configfile", "workflow/config.example.yaml", "--config"])
        .arg(format!("crest={}", env!("CARGO_BIN_EXE_crest")))
        .arg(format!("samples={}", sheet_path.display()))
        .arg(format!("outdir={}", out.display()))
        .arg("shards=3")
        .output()
        .expect("snakemake must be installed (.ci/run installs it)");
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "snakemake failed:\n{log}");

    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap();
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let rows: HashMap<String, HashMap<&str, String>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let m: HashMap<&str, String> = header
                .iter()
                .copied()
                .zip(f.iter().map(|s| s.to_string()))
                .collect();
            (m["library"].clone(), m)
        })
        .collect();
    assert_eq!(rows.len(), 2, "{summary}");

    for (lib, fq) in libs {
        let bam = out.join("libraries").join(format!("{lib}.bam"));
        let b = bam.to_str().unwrap();
        samtools(&["quickcheck", b]);
        // every read of the library exactly once
        let mut want = fastq_names(&data.join(fq));
        let body = samtools(&["view", b]);
        let mut got: Vec<String> = body
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        assert_eq!(got.len(), want.len(), "{lib}: record count");
        got.sort();
        want.sort();
        assert!(got == want, "{lib}: read names differ from the FASTQ's");
        // coordinate-sorted and indexed
        let header = samtools(&["view", "-H", b]);
        assert!(header.contains("SO:coordinate"), "{header}");
        assert!(out
            .join("libraries")
            .join(format!("{lib}.bam.bai"))
            .exists());
        samtools(&["idxstats", b]);
        // read group and the @PG chain crest → merge → crest dedup
        assert!(
            header.contains(&format!("@RG\tID:{lib}\tSM:JK2782")),
            "{header}"
        );
        assert!(body.lines().all(|l| l.contains(&format!("RG:Z:{lib}"))));
        let pgs: Vec<&str> = header.lines().filter(|l| l.starts_with("@PG")).collect();
        let field = |l: &str, tag: &str| {
            l.split('\t')
                .find_map(|f| f.strip_prefix(tag))
                .map(str::to_string)
        };
        let crest_pg = pgs
            .iter()
            .find(|l| field(l, "PN:").as_deref() == Some("crest"))
            .expect("crest @PG");
        let crest_id = field(crest_pg, "ID:").unwrap();
        let merge = pgs
            .iter()
            .find(|l| field(l, "CL:").is_some_and(|c| c.contains("samtools merge")))
            .expect("samtools merge @PG");
        assert_eq!(field(merge, "PP:"), Some(crest_id), "{header}");
        let dedup = pgs
            .iter()
            .find(|l| field(l, "ID:").as_deref() == Some("crest-dedup"))
            .expect("crest dedup @PG");
        assert_eq!(field(dedup, "PP:"), field(merge, "ID:"), "{header}");

        // summary row and summed damage profile agree with samtools
        let mapped: usize = samtools(&["view", "-c", "-F", "0x904", b])
            .trim()
            .parse()
            .unwrap();
        let row = &rows[lib];
        assert_eq!(row["reads"], want.len().to_string());
        assert_eq!(row["mapped"], mapped.to_string());
        let lg = std::fs::read_to_string(
            out.join("libraries")
                .join(format!("{lib}.damage"))
                .join("lgdistribution.txt"),
        )
        .unwrap();
        let profiled: usize = lg
            .lines()
            .filter(|l| l.starts_with('+') || l.starts_with('-'))
            .map(|l| l.split('\t').nth(2).unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(profiled, mapped, "{lib}: damage profile counts");
        assert!(mapped > 50, "{lib}: only {mapped} mapped");
    }
    // the merged library's terminal C→T shows its damage
    let ct: f64 = rows["JK2782_merged"]["CtoT_5p_1"].parse().unwrap();
    assert!(ct > 0.1, "5′ C→T {ct}");
    // shards and their per-shard outputs are temporary
    assert!(!out.join("shards").join("JK2782_R1").join("000.fq").exists());
}

/// Five FASTQ records written to `p`; returns their lines, 4 a record.
fn write_fastq(p: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, seq) in ["ACGTTGCA", "GGATCCAA", "TTAGCCGT", "CATGCATG", "AACCGGTT"]
        .iter()
        .enumerate()
    {
        lines.push(format!("@read{i}"));
        lines.push(seq.to_string());
        lines.push("+".to_string());
        lines.push("I".repeat(seq.len()));
    }
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
    lines
}

/// snakemake on workflow/Snakefile with the sheet `sheet`, run in `dir`
/// (where a command a sample sheet smuggled in would create its file),
/// writing under dir/results, 2 shards, one core, for `targets` (the
/// whole workflow when none).
fn snakemake_in(dir: &Path, sheet: &Path, targets: &[PathBuf]) -> std::process::Output {
    Command::new("snakemake")
        .current_dir(dir)
        .arg("-s")
        .arg(root().join("workflow/Snakefile"))
        .arg("--configfile")
        .arg(root().join("workflow/config.example.yaml"))
        .arg("--config")
        .arg(format!("crest={}", env!("CARGO_BIN_EXE_crest")))
        .arg(format!(
            "model={}",
            root().join("assets/mammoth_chrM.crest").display()
        ))
        .arg(format!(
            "reference={}",
            root().join("assets/mammoth_chrM.fa").display()
        ))
        .arg(format!("samples={}", sheet.display()))
        .arg(format!("outdir={}", dir.join("results").display()))
        .arg("shards=2")
        .args(["--cores", "1", "--printshellcmds"])
        .args(targets)
        .output()
        .expect("snakemake must be installed (.ci/run installs it)")
}

/// A library or sample name that would break out of the shell command it
/// is put into (a file name, `-R '@RG ... SM:...'`) is refused when the
/// sheet is read, naming the sheet and its line, and runs nothing.
#[test]
fn snakemake_workflow_refuses_shell_metacharacters_in_sample_sheet_names() {
    for (lib, sample, field) in [
        // no space: the sheet check before the fix refused spaces in libraries
        ("lib`>MARK`x", "S1", "library"),
        ("lib1", "x'$(touch MARK)'", "sample"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_fastq(&dir.path().join("reads.fq"));
        let sheet = dir.path().join("samples.tsv");
        std::fs::write(
            &sheet,
            format!("library\tsample\tfastq\n{lib}\t{sample}\treads.fq\n"),
        )
        .unwrap();
        let o = snakemake_in(dir.path(), &sheet, &[]);
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "{field} {lib}/{sample} accepted:\n{log}"
        );
        let bad = if field == "library" { lib } else { sample };
        let want = format!("{}: line 2: {field} '{bad}' may only hold", sheet.display());
        assert!(log.contains(&want), "no '{want}' in:\n{log}");
        assert!(
            !dir.path().join("MARK").exists(),
            "the {field} name ran a command:\n{log}"
        );
    }
}

/// A FASTQ whose file name holds backticks, `$(...)`, quotes and spaces is
/// read as that file, not run: the shard rule splits its records.
#[test]
fn snakemake_workflow_shards_fastq_with_shell_metacharacters_in_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let name = "r`touch MARK`$(touch MARK) 'q\".fq";
    let want = write_fastq(&dir.path().join(name));
    let sheet = dir.path().join("samples.tsv");
    std::fs::write(
        &sheet,
        format!("library\tsample\tfastq\nlib1\tS1\t{name}\n"),
    )
    .unwrap();
    let shards = dir.path().join("results/shards/lib1");
    let o = snakemake_in(dir.path(), &sheet, &[shards.join("000.fq")]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "snakemake failed:\n{log}");
    assert!(
        !dir.path().join("MARK").exists(),
        "the FASTQ name ran a command:\n{log}"
    );
    // round robin: records 0, 2, 4 in shard 000 and 1, 3 in 001
    let read = |s: &str| -> Vec<String> {
        std::fs::read_to_string(shards.join(s))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let records = |ids: &[usize]| -> Vec<String> {
        ids.iter()
            .flat_map(|&i| want[4 * i..4 * i + 4].to_vec())
            .collect()
    };
    assert_eq!(read("000.fq"), records(&[0, 2, 4]));
    assert_eq!(read("001.fq"), records(&[1, 3]));
}
