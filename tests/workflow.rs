//! The Snakemake workflow (workflow/Snakefile) end to end on the two real
//! mammoth libraries of tests/data: the merged reads of JK2782, and its raw
//! R1/R2 pair, whose adapters fastp removes and whose pairs it merges; each
//! library split into 3 shards. Every read fastp passes is in its library's
//! BAM exactly once, the raw pair maps like the merged library, the BAM is
//! sorted and indexed, @RG is the library's, @PG chains crest → samtools
//! merge → crest dedup, the summed damage profile counts every mapped read,
//! the summary table agrees with samtools and crest dedup's JSON, the
//! filtered and per-sample BAMs hold what the filter promises, and the
//! MultiQC report has crest's sections beside fastp's and samtools'. Also:
//! sample sheet names that would break out of a shell command are refused,
//! and FASTQ file names that hold shell syntax are read, not run. Needs
//! snakemake, samtools, fastp and multiqc (.ci/run installs them).

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
        ("JK2782_merged", "mammoth_JK2782_merged.fq.gz", ""),
        (
            "JK2782_raw",
            "mammoth_JK2782_raw_R1.fq.gz",
            "mammoth_JK2782_raw_R2.fq.gz",
        ),
    ];
    let mut sheet = String::from("library\tsample\tfastq\tfastq_r2\n");
    for (lib, fq, r2) in libs {
        let p = data.join(fq);
        assert!(p.exists(), "{} is missing", p.display());
        let r2 = if r2.is_empty() {
            String::new()
        } else {
            data.join(r2).display().to_string()
        };
        sheet.push_str(&format!("{lib}\tJK2782\t{}\t{r2}\n", p.display()));
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

    let mut mapped_share = HashMap::new();
    let mut filtered_total = 0usize;
    for (lib, fq, r2) in libs {
        let bam = out.join("libraries").join(format!("{lib}.bam"));
        let b = bam.to_str().unwrap();
        samtools(&["quickcheck", b]);
        // every read fastp passed exactly once: of the raw pair, the merged
        // pairs (the adapters of ~17% of R1 reads removed); of the merged
        // library, all but the few under 30 bases
        let fp: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("qc").join(format!("{lib}.fastp.json"))).unwrap(),
        )
        .unwrap();
        let passed = if r2.is_empty() {
            fp["summary"]["after_filtering"]["total_reads"].as_u64()
        } else {
            fp["merged_and_filtered"]["total_reads"].as_u64()
        }
        .unwrap() as usize;
        let raw = fastq_names(&data.join(fq));
        assert!(
            passed <= raw.len() && passed > raw.len() * 9 / 10,
            "{lib}: fastp passed {passed} of {}",
            raw.len()
        );
        let body = samtools(&["view", b]);
        let got: Vec<String> = body
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        assert_eq!(got.len(), passed, "{lib}: record count");
        // each name at most as often as in the FASTQ (the merged library
        // names 36 of its reads twice)
        let count = |names: &[String]| {
            let mut c: HashMap<String, usize> = HashMap::new();
            for n in names {
                *c.entry(n.clone()).or_default() += 1;
            }
            c
        };
        let (in_fq, in_bam) = (count(&raw), count(&got));
        for (name, &k) in &in_bam {
            let have = in_fq.get(name).copied().unwrap_or(0);
            assert!(
                k <= have,
                "{lib}: {name} {k} times in the BAM, {have} in the FASTQ"
            );
        }
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
        assert_eq!(row["reads"], passed.to_string());
        assert_eq!(row["raw_reads"], raw.len().to_string());
        assert_eq!(row["mapped"], mapped.to_string());
        mapped_share.insert(lib, mapped as f64 / passed as f64);
        // crest dedup's JSON agrees with samtools
        let dj: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("qc").join(format!("{lib}.dedup.json"))).unwrap(),
        )
        .unwrap();
        let dups: u64 = samtools(&["view", "-c", "-f", "0x400", "-F", "0x904", b])
            .trim()
            .parse()
            .unwrap();
        assert_eq!(dj["duplicates"].as_u64(), Some(dups), "{lib}");
        assert_eq!(row["duplicates"], dups.to_string());
        // the filtered BAM: primary mapped non-duplicates, MAPQ ≥ 20, ≥ 30 bp
        let fb = out.join("libraries").join(format!("{lib}.filtered.bam"));
        let filtered = samtools(&["view", fb.to_str().unwrap()]);
        let mut kept = 0;
        for l in filtered.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            let flag: u16 = f[1].parse().unwrap();
            assert_eq!(flag & 0xD04, 0, "{lib}: {l}");
            assert!(f[4].parse::<u8>().unwrap() >= 20, "{lib}: {l}");
            assert!(f[9].len() >= 30, "{lib}: {l}");
            kept += 1;
        }
        let want_kept: usize = samtools(&["view", "-c", "-F", "0xD04", "-q", "20", b])
            .trim()
            .parse()
            .unwrap();
        assert_eq!(kept, want_kept, "{lib}: filtered count");
        assert_eq!(row["filtered"], kept.to_string());
        filtered_total += kept;
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
    // the raw pair, adapters removed and merged, maps like the library
    // merged by its authors (12.7% here; 1.7% for R1 as it comes)
    let (a, b) = (mapped_share["JK2782_merged"], mapped_share["JK2782_raw"]);
    assert!((a - b).abs() < 0.01 && b > 0.1, "mapped {a} vs {b}");
    // both libraries' terminal C→T shows their damage
    for lib in ["JK2782_merged", "JK2782_raw"] {
        let ct: f64 = rows[lib]["CtoT_5p_1"].parse().unwrap();
        assert!(ct > 0.1, "{lib}: 5′ C→T {ct}");
    }
    // the sample's BAM: both libraries' filtered reads, each with its @RG
    let sb = out.join("samples").join("JK2782.bam");
    let sbody = samtools(&["view", sb.to_str().unwrap()]);
    assert_eq!(sbody.lines().count(), filtered_total);
    for lib in ["JK2782_merged", "JK2782_raw"] {
        assert!(
            sbody.contains(&format!("RG:Z:{lib}")),
            "{lib} in the sample BAM"
        );
    }
    assert!(out.join("samples").join("JK2782.bam.bai").exists());
    // MultiQC: crest's table and damage curves beside fastp and samtools,
    // and mapDamage's files where MultiQC's mapDamage module looks
    let html = std::fs::read_to_string(out.join("multiqc").join("multiqc_report.html")).unwrap();
    for section in [
        "id=\"crest_summary\"",
        "id=\"crest_damage\"",
        "id=\"fastp\"",
        "id=\"Samtools\"",
    ] {
        assert!(html.contains(section), "MultiQC report without {section}");
    }
    for f in ["5pCtoT_freq.txt", "3pGtoA_freq.txt"] {
        let t = std::fs::read_to_string(out.join("libraries").join("JK2782_raw.damage").join(f))
            .unwrap();
        assert_eq!(t.lines().count(), 26, "{f}");
    }
    // shards and their per-shard outputs are temporary
    assert!(!out
        .join("shards")
        .join("JK2782_raw")
        .join("000.fq")
        .exists());
    assert!(!out.join("reads").join("JK2782_raw.fq.gz").exists());
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
fn snakemake_in(
    dir: &Path,
    sheet: &Path,
    targets: &[PathBuf],
    config: &[&str],
) -> std::process::Output {
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
        .args(config)
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
        let o = snakemake_in(dir.path(), &sheet, &[], &[]);
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
    let o = snakemake_in(
        dir.path(),
        &sheet,
        &[shards.join("000.fq")],
        &["preprocess=none"],
    );
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

    // and fastp reads it as a file too (40 bp reads, over the length floor)
    let dir = tempfile::tempdir().unwrap();
    let long: String = (0..5)
        .map(|i| {
            let seq: String = (0..40)
                .map(|j| b"ACGT"[(i * 7 + j * j) % 4] as char)
                .collect();
            format!("@read{i}\n{seq}\n+\n{}\n", "I".repeat(40))
        })
        .collect();
    std::fs::write(dir.path().join(name), long).unwrap();
    let sheet = dir.path().join("samples.tsv");
    std::fs::write(
        &sheet,
        format!("library\tsample\tfastq\nlib1\tS1\t{name}\n"),
    )
    .unwrap();
    let trimmed = dir.path().join("results/reads/lib1.fq.gz");
    let o = snakemake_in(dir.path(), &sheet, std::slice::from_ref(&trimmed), &[]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "snakemake failed:\n{log}");
    assert!(
        !dir.path().join("MARK").exists(),
        "the FASTQ name ran a command in fastp's rule:\n{log}"
    );
    assert_eq!(fastq_names(&trimmed).len(), 5);
}
