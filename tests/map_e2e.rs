//! End-to-end mapping with the bundled mammoth mtDNA model: simulated reads
//! land where they came from; the real ancient mammoth reads agree with
//! BWA-aln; SAM and BAM hold the same records; the same input gives a
//! byte-identical SAM; bad input fails cleanly.

mod common;
use common::asset;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crest binary: (success, stdout, stderr).
fn crest(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = common::crest(args);
    (code == 0, out, err)
}

/// Reads from mammoth mtDNA by `crest::sim` (truth in the name), 30–90 bp,
/// deamination 0.3·0.5^d at the ends and 1% substitutions: the FASTQ text,
/// the read names and each read's (0-based start, reverse strand).
fn simulate(n: usize, seed: u64) -> (String, Vec<String>, Vec<(usize, bool)>) {
    let reference = crest::io::Reference::load(&asset("mammoth_chrM.fa")).unwrap();
    let cfg = crest::sim::SimConfig {
        n,
        seed,
        median: 55.0,
        sigma: 0.3,
        min_len: 30,
        max_len: 90,
        deamination: 0.3,
        decay: 0.5,
        substitution: 0.01,
        ..crest::sim::SimConfig::default()
    };
    let mut fq = Vec::new();
    crest::sim::simulate(&reference, &[], &cfg, &mut fq).unwrap();
    let fq = String::from_utf8(fq).unwrap();
    let names: Vec<String> = fq
        .lines()
        .step_by(4)
        .map(|l| l[1..].split_whitespace().next().unwrap().to_string())
        .collect();
    let truth = names
        .iter()
        .map(|name| match crest::sim::parse_truth(name) {
            Some(crest::sim::Truth::Reference { start, reverse, .. }) => (start, reverse),
            other => panic!("{name}: {other:?}"),
        })
        .collect();
    (fq, names, truth)
}

fn model() -> String {
    asset("mammoth_chrM.crest").display().to_string()
}

fn reference() -> String {
    asset("mammoth_chrM.fa").display().to_string()
}

#[test]
fn simulated_reads_map_to_their_origin() {
    if common::gpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (fq, names, truth) = simulate(200, 7);
    let reads = dir.path().join("sim.fq");
    std::fs::write(&reads, fq).unwrap();
    for propose in ["index", "flat", "head,index"] {
        let out = dir.path().join(format!("{propose}.sam"));
        let (ok, _, err) = crest(&[
            "map",
            "--model",
            &model(),
            "--reference",
            &reference(),
            reads.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--propose",
            propose,
        ]);
        assert!(ok, "{err}");
        let sam = std::fs::read_to_string(&out).unwrap();
        let recs: Vec<Vec<&str>> = sam
            .lines()
            .filter(|l| !l.starts_with('@'))
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(recs.len(), 200, "one record per read, unmapped kept");
        let mut correct = 0;
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r[0], names[i], "input order");
            let flag: u16 = r[1].parse().unwrap();
            if flag & 4 == 0 {
                let pos: usize = r[3].parse().unwrap();
                if pos.abs_diff(truth[i].0 + 1) <= 5 && (flag & 16 != 0) == truth[i].1 {
                    correct += 1;
                }
            }
        }
        eprintln!("--propose {propose}: {correct}/200 simulated reads at their origin");
        assert!(
            correct >= 180,
            "--propose {propose}: only {correct}/200 correct"
        );
    }
}

#[test]
fn real_ancient_reads_agree_with_bwa_aln() {
    if common::gpu().is_none() {
        return;
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mammoth.bam");
    let (ok, _, err) = crest(&[
        "map",
        "--model",
        &model(),
        "--reference",
        &reference(),
        data.join("mammoth_JK2782_merged.fq.gz").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--propose",
        "index",
        "--damage-profile",
        dir.path().join("damage").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // the damage profile of the same pass: a real non-UDG library shows C→T
    // at the 5′ end and G→A at the 3′ end (mapDamage on this BAM: 0.163 and
    // 0.155, BENCHMARKS.md), falling off inwards
    let tsv = std::fs::read_to_string(dir.path().join("damage/damage.tsv")).unwrap();
    let at = |end: &str, pos: &str, col: usize| -> f64 {
        let l = tsv
            .lines()
            .find(|l| l.starts_with(&format!("{end}\t{pos}\t")))
            .unwrap();
        l.split('\t').nth(col).unwrap().parse().unwrap()
    };
    let (ct1, ga1) = (at("5p", "1", 2), at("3p", "1", 3));
    assert!((0.10..0.25).contains(&ct1), "5′ C→T {ct1}\n{tsv}");
    assert!((0.10..0.25).contains(&ga1), "3′ G→A {ga1}\n{tsv}");
    assert!(
        at("5p", "15", 2) < ct1 / 4.0 && at("3p", "15", 3) < ga1 / 4.0,
        "{tsv}"
    );
    for f in crest::damage::FILES {
        assert!(dir.path().join("damage").join(f).is_file(), "{f}");
    }
    let view = |p: &Path| -> Vec<(String, u16, usize, u8)> {
        let o = Command::new("samtools")
            .args(["view", "-F", "0x900"])
            .arg(p)
            .output()
            .expect("samtools");
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].to_string(),
                    f[1].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                )
            })
            .collect()
    };
    // Unmerged mates share a name: keep every mapped record of a name.
    let mut ours: std::collections::HashMap<String, Vec<(u16, usize)>> = Default::default();
    for (n, f, p, _) in view(&out) {
        if f & 4 == 0 {
            ours.entry(n).or_default().push((f, p));
        }
    }
    let (mut total, mut same) = (0, 0);
    for (name, flag, pos, mapq) in view(&data.join("mammoth_JK2782_merged.bwa_aln.bam")) {
        if flag & 4 != 0 || mapq < 25 {
            continue;
        }
        total += 1;
        if let Some(hits) = ours.get(&name) {
            same += hits
                .iter()
                .any(|&(f, p)| p.abs_diff(pos) <= 5 && (f & 16) == (flag & 16))
                as usize;
        }
    }
    eprintln!("{same}/{total} of BWA-aln's MAPQ ≥ 25 reads at the same position and strand");
    assert!(total > 1000);
    assert!(same as f64 >= 0.98 * total as f64, "{same}/{total}");
}

#[test]
fn sam_and_bam_agree_and_output_is_deterministic() {
    if common::gpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (fq, _, _) = simulate(60, 8);
    let reads = dir.path().join("r.fq");
    std::fs::write(&reads, fq).unwrap();
    let (model, reference) = (model(), reference());
    let run_with = |out: &str, extra: &[&str]| {
        let p = dir.path().join(out);
        let mut args = vec![
            "map",
            "--model",
            &model,
            "--reference",
            &reference,
            reads.to_str().unwrap(),
            "-o",
            p.to_str().unwrap(),
            "-R",
            "@RG\\tID:sim\\tSM:mammoth",
        ];
        args.extend_from_slice(extra);
        let (ok, _, err) = crest(&args);
        assert!(ok, "{err}");
        p
    };
    let run = |out: &str| run_with(out, &[]);
    // Same command line (the @PG CL names the output), run twice.
    let a = run("a.sam");
    let first = std::fs::read_to_string(&a).unwrap();
    run("a.sam");
    let second = std::fs::read_to_string(&a).unwrap();
    assert!(first == second, "same input, different SAM");
    let bam = run("c.bam");
    let q = Command::new("samtools")
        .arg("quickcheck")
        .arg(&bam)
        .status()
        .expect("samtools");
    assert!(q.success());
    let view = |p: &Path| {
        Command::new("samtools")
            .arg("view")
            .arg(p)
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(view(&a), view(&bam), "SAM and BAM records differ");
    assert!(String::from_utf8_lossy(&view(&a)).contains("RG:Z:sim"));

    // --sort: the records of the unsorted BAM in samtools sort's order, and
    // the same index as samtools index's.
    let sorted = run_with("d.bam", &["--sort"]);
    let by_samtools = dir.path().join("by_samtools.bam");
    let st = Command::new("samtools")
        .args(["sort", "-o"])
        .arg(&by_samtools)
        .arg(&bam)
        .status()
        .expect("samtools sort");
    assert!(st.success());
    assert_eq!(
        view(&sorted),
        view(&by_samtools),
        "order differs from samtools sort"
    );
    let ours =
        noodles::bam::bai::fs::read(dir.path().join("d.bam.bai")).expect("d.bam.bai written");
    let copy = dir.path().join("copy.bam");
    std::fs::copy(&sorted, &copy).unwrap();
    assert!(Command::new("samtools")
        .arg("index")
        .arg(&copy)
        .status()
        .unwrap()
        .success());
    let theirs = noodles::bam::bai::fs::read(dir.path().join("copy.bam.bai")).unwrap();
    if ours != theirs {
        eprintln!("OURS {ours:?}\nTHEIRS {theirs:?}");
    }
    assert!(ours == theirs);
}

#[test]
fn bad_inputs_fail_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.sam");
    let o = out.to_str().unwrap();
    let (m, lambda, phix) = (
        model(),
        asset("lambda_phage.fa").display().to_string(),
        asset("phix174.fa").display().to_string(),
    );
    // `crest map --model M --reference R READS -o x.sam` plus `extra`
    let map = |r: &str, reads: &str, extra: &[&str]| {
        let mut args = vec!["map", "--model", &m, "--reference", r, reads, "-o", o];
        args.extend_from_slice(extra);
        crest(&args)
    };
    // the raw-coordinate bit head of a model for another reference
    let (ok, _, err) = map(
        &lambda,
        &phix,
        &["--device", "cpu-reference", "--propose", "head"],
    );
    assert!(!ok && err.contains("different reference"), "{err}");
    assert!(!out.exists());
    // a masked run longer than MAX_RESCUE_MASK
    let (ok, _, err) = map(&reference(), &phix, &["--rescue-mask", "9"]);
    assert!(!ok && err.contains("--rescue-mask"), "{err}");
    assert!(!out.exists());
    // an index of another reference
    let idx_dir = tempfile::tempdir().unwrap();
    let idx = idx_dir.path().join("phix.crest-index");
    let (ok, _, err) = crest(&[
        "index",
        "--model",
        &m,
        "--reference",
        &phix,
        "-o",
        idx.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = map(&lambda, &phix, &["--index", idx.to_str().unwrap()]);
    assert!(!ok && err.contains("indexes another reference"), "{err}");
    // an index output that is a directory is refused before any work
    let (ok, _, err) = crest(&[
        "index",
        "--model",
        &m,
        "--reference",
        &phix,
        "-o",
        idx_dir.path().to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("is a folder"), "{err}");
    assert!(!out.exists());
    // a malformed record mid-file: error names file and record, no output left
    let bad = dir.path().join("bad.fq");
    std::fs::write(
        &bad,
        "@r1\nACGTACGTACGTACGTACGTACGT\n+\nIIIIIIIIIIIIIIIIIIIIIIII\n@r2\nACGT\nIIII\n",
    )
    .unwrap();
    let (ok, _, err) = map(
        &reference(),
        bad.to_str().unwrap(),
        &["--device", "cpu-reference"],
    );
    assert!(
        !ok && err.contains("bad.fq") && err.contains("record 2"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    assert!(!out.exists(), "partial output left behind");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary file left behind"
    );
    // empty, short and all-N reads are unmapped, not errors
    let odd = dir.path().join("odd.fa");
    std::fs::write(
        &odd,
        ">empty\n\n>short\nACGT\n>alln\nNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN\n",
    )
    .unwrap();
    let (ok, sam, err) = crest(&[
        "map",
        "--device",
        "cpu-reference",
        "--model",
        &model(),
        "--reference",
        &reference(),
        odd.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let recs: Vec<&str> = sam.lines().filter(|l| !l.starts_with('@')).collect();
    assert_eq!(recs.len(), 3);
    assert!(
        recs.iter().all(|r| r.split('\t').nth(1) == Some("4")),
        "{sam}"
    );
}

#[test]
fn router_is_added_to_an_index_and_used_by_map() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let phix = asset("phix174.fa").display().to_string();
    let model = model();
    // `crest index` / `crest map` of phiX with the bundled model, plus `extra`
    let index = |extra: &[&str]| {
        let mut a = vec!["index", "--model", &model, "--reference", &phix];
        a.extend_from_slice(extra);
        crest(&a)
    };
    let map = |extra: &[&str]| {
        let mut a = vec!["map", "--model", &model, "--reference", &phix];
        a.extend_from_slice(extra);
        crest(&a)
    };
    let (plain, routed) = (p("plain.crest-index"), p("r.crest-index"));
    let (ok, _, err) = index(&["-o", &plain]);
    assert!(ok, "{err}");
    // route search on an index without a router: refused, with the way out
    let (ok, _, err) = map(&[
        "--index",
        &plain,
        "--propose",
        "route",
        &phix,
        "-o",
        &p("x.sam"),
    ]);
    assert!(!ok && err.contains("--route-steps"), "{err}");
    assert!(!dir.path().join("x.sam").exists());
    // --from without --route-steps, and over its own input, are refused
    let (ok, _, err) = index(&["--from", &plain, "-o", &routed]);
    assert!(!ok && err.contains("--route-steps"), "{err}");
    let (ok, _, err) = index(&["--from", &plain, "--route-steps", "10", "-o", &plain]);
    assert!(!ok, "{err}");
    let (ok, _, err) = index(&[
        "--from",
        &plain,
        "--route-steps",
        "20",
        "--route-batch",
        "32",
        "-o",
        &routed,
    ]);
    assert!(ok && err.contains("router trained (20 steps"), "{err}");
    // the genome's own sequence as reads: every read maps with index,route
    let reads = dir.path().join("reads.fa");
    let seq = &std::fs::read_to_string(asset("phix174.fa")).unwrap();
    let genome: String = seq.lines().skip(1).collect();
    let mut fa = String::new();
    for (i, s) in (0..genome.len() - 60).step_by(500).enumerate() {
        fa.push_str(&format!(">r{i}\n{}\n", &genome[s..s + 50]));
    }
    std::fs::write(&reads, fa).unwrap();
    let reads = reads.to_str().unwrap();
    for (propose, width) in [("index,route", "8"), ("route", "16")] {
        let (ok, _, err) = map(&[
            "--index",
            &routed,
            "--propose",
            propose,
            "--route-width",
            width,
            reads,
            "-o",
            &p("r.sam"),
        ]);
        assert!(ok, "{propose}: {err}");
        let sam = std::fs::read_to_string(p("r.sam")).unwrap();
        let mapped: Vec<&str> = sam
            .lines()
            .filter(|l| !l.starts_with('@'))
            .filter(|l| l.split('\t').nth(2) != Some("*"))
            .collect();
        assert_eq!(mapped.len(), 11, "{propose}: {sam}");
    }
    // a width that is not a power of two
    let (ok, _, err) = map(&[
        "--index",
        &routed,
        "--propose",
        "route",
        "--route-width",
        "12",
        reads,
        "-o",
        &p("y.sam"),
    ]);
    assert!(!ok && err.contains("power of two"), "{err}");
}

/// Reads simulated from the bundled mammoth mtDNA with `cfg`, written to
/// `dir/name`.
fn simulated_mtdna(dir: &Path, name: &str, cfg: &crest::sim::SimConfig) -> PathBuf {
    let reference_seq = crest::io::Reference::load(&asset("mammoth_chrM.fa")).unwrap();
    let mut fq = Vec::new();
    crest::sim::simulate(&reference_seq, &[], cfg, &mut fq).unwrap();
    let reads = dir.join(name);
    std::fs::write(&reads, fq).unwrap();
    reads
}

/// `crest map` arguments for `reads` against the bundled mtDNA model, SAM to `out`.
fn map_args<'a>(m: &'a str, r: &'a str, reads: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "map",
        "--model",
        m,
        "--reference",
        r,
        reads.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]
}

/// `--damage-len auto` (the default) fits the damage of a library mapped in
/// one batch, says so, and maps the most damaged short reads, which a map
/// forgiving no damage rejects (6 of these 400 with 3+ damage-like
/// mismatches over bwa's bound).
#[test]
fn damage_length_is_fitted_to_the_library() {
    common::gpu().expect("adapter");
    let dir = tempfile::tempdir().unwrap();
    let cfg = crest::sim::SimConfig {
        n: 400,
        seed: 21,
        median: 32.0,
        sigma: 0.2,
        min_len: 25,
        max_len: 45,
        deamination: 0.9,
        decay: 0.6,
        substitution: 0.005,
        ..crest::sim::SimConfig::default()
    };
    let reads = simulated_mtdna(dir.path(), "damaged.fq", &cfg);
    let (m, r) = (model(), reference());
    let out = dir.path().join("out.sam");
    let run = |extra: &[&str]| -> (usize, String) {
        let mut args = map_args(&m, &r, &reads, &out);
        args.extend_from_slice(extra);
        let (ok, _, err) = crest(&args);
        assert!(ok, "{err}");
        let sam = std::fs::read_to_string(&out).unwrap();
        let mapped = sam
            .lines()
            .filter(|l| !l.starts_with('@'))
            .filter(|l| l.split('\t').nth(1).unwrap().parse::<u16>().unwrap() & 4 == 0)
            .count();
        (mapped, err)
    };
    let (auto, err) = run(&[]);
    let line = err
        .lines()
        .find(|l| l.contains("damage fitted on"))
        .unwrap_or_else(|| panic!("no fit line in: {err}"));
    let fitted: u32 = line
        .split("damage length ")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // 0.9 · 0.6^i passes 1% up to i = 8; sampling noise either side
    assert!((7..=12).contains(&fitted), "{line}");
    let (none, _) = run(&["--damage-len", "0"]);
    assert!(
        auto >= none + 3,
        "fitted damage maps {auto}, none forgiven {none}"
    );
}

/// A SAM record's name, flag, contig, 1-based position and MAPQ.
type Placement = (String, u16, String, i64, u8);

/// `crest map` of `reads` with a first pass starved of neighbours and
/// candidates (so that the rescue pass has reads to place) and `extra`
/// options: the records and the count the rescue pass placed.
fn map_starved(
    m: &str,
    r: &str,
    reads: &Path,
    out: &Path,
    extra: &[&str],
) -> (Vec<Placement>, u64) {
    let mut args = map_args(m, r, reads, out);
    args.extend_from_slice(&[
        "--damage-len",
        "5",
        "--flip",
        "0",
        "--read-neighbours",
        "1",
        "--candidates",
        "1",
    ]);
    args.extend_from_slice(extra);
    let (ok, _, err) = crest(&args);
    assert!(ok, "{err}");
    let rescued: u64 = err
        .lines()
        .find(|l| l.contains("by the rescue pass"))
        .and_then(|l| l.split("; ").nth(1))
        .and_then(|t| t.split(" of ").next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rescue count in: {err}"));
    let recs = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('@'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].to_string(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    (recs, rescued)
}

fn mapped(recs: &[Placement]) -> usize {
    recs.iter().filter(|r| r.1 & 4 == 0).count()
}

/// Where a simulated read's name (crest_N_CONTIG_POS_STRAND_LEN) says it came from.
fn origin(name: &str) -> i64 {
    let p: Vec<&str> = name.split('_').collect();
    p[p.len() - 3].parse().unwrap()
}

#[test]
fn rescue_views_place_reads_the_first_pass_missed() {
    common::gpu().expect("adapter");
    let dir = tempfile::tempdir().unwrap();
    let cfg = crest::sim::SimConfig {
        n: 300,
        seed: 23,
        median: 26.0,
        sigma: 0.15,
        min_len: 20,
        max_len: 34,
        deamination: 0.5,
        decay: 0.5,
        substitution: 0.02,
        ..crest::sim::SimConfig::default()
    };
    let reads = simulated_mtdna(dir.path(), "short.fq", &cfg);
    let (m, r) = (model(), reference());
    let out = dir.path().join("out.sam");
    let run = |extra: &[&str]| map_starved(&m, &r, &reads, &out, extra);
    let (off, r0) = run(&["--rescue-beam", "0"]);
    let (deeper, r1) = run(&["--rescue-views", "0"]);
    let (views, r2) = run(&[]);
    assert_eq!(r0, 0);
    assert_eq!(mapped(&deeper), mapped(&off) + r1 as usize);
    assert_eq!(mapped(&views), mapped(&off) + r2 as usize);
    // on mtDNA a deeper search of the same windows finds nearly all (views
    // pay off on E. coli, BENCHMARKS.md); here the views, whose neighbours
    // are spread over more windows, must do nearly as well
    assert!(
        r1 >= 30 && 10 * r2 >= 9 * r1,
        "views rescued {r2}, deeper search alone {r1} (first pass mapped {} of 300)",
        mapped(&off)
    );
    // the rescue pass touches only what the first left unmapped, and what it
    // places confidently is where the read came from (name: crest_N_CONTIG_POS_STRAND_LEN)
    for (a, b) in off.iter().zip(&views) {
        assert_eq!(a.0, b.0);
        if a.1 & 4 == 0 {
            assert_eq!(a, b, "a first-pass record changed");
        } else if b.1 & 4 == 0 && b.4 >= 20 {
            assert!(
                (b.3 - 1 - origin(&b.0)).abs() <= 5,
                "rescued {} placed at {}",
                b.0,
                b.3
            );
        }
    }
}

/// Masked views (the rescue pass's copies of a short read with one base as
/// N) reach the loci of reads with one mismatch in the middle, the case no
/// shorter view can help: hand-made 25-bp reads from mammoth mtDNA (outside
/// the control region's tandem repeats), each with one substitution at base
/// 12, searched with a one-leaf beam so that the unmasked window alone often
/// misses (52 of 80 placed without masks, 65 with, when written).
#[test]
fn masked_views_place_reads_with_a_middle_mismatch() {
    common::gpu().expect("adapter");
    let dir = tempfile::tempdir().unwrap();
    let genome = crest::io::Reference::load(&asset("mammoth_chrM.fa")).unwrap();
    let name = &genome.contigs[0].name;
    let seq = &genome.contigs[0].seq[..15_000];
    let mut fq = String::new();
    let n = 80;
    for i in 0..n {
        let pos = 100 + i * (seq.len() - 200) / n;
        let mut read = seq[pos..pos + 25].to_vec();
        read[12] = match read[12] {
            b'A' => b'G',
            b'G' => b'A',
            b'C' => b'T',
            _ => b'C',
        };
        let read = String::from_utf8(read).unwrap();
        fq.push_str(&format!(
            "@crest_{i}_{name}_{pos}_+_25\n{read}\n+\n{}\n",
            "I".repeat(25)
        ));
    }
    let reads = dir.path().join("middle.fq");
    std::fs::write(&reads, fq).unwrap();
    let (m, r) = (model(), reference());
    let out = dir.path().join("out.sam");
    let narrow = ["--beam", "1", "--rescue-beam", "1", "--rescue-views", "0"];
    let with_mask = |mask: &str| {
        let mut a = narrow.to_vec();
        a.extend_from_slice(&["--rescue-mask", mask]);
        map_starved(&m, &r, &reads, &out, &a)
    };
    let (plain, r0) = with_mask("0");
    let (masked, r1) = with_mask("1");
    assert_eq!(mapped(&masked), mapped(&plain) - r0 as usize + r1 as usize);
    assert!(
        mapped(&masked) >= mapped(&plain) + n / 10,
        "{} placed without masked views, {} with",
        mapped(&plain),
        mapped(&masked)
    );
    for (a, b) in plain.iter().zip(&masked) {
        if a.1 & 4 == 0 && b.1 & 4 == 0 {
            assert_eq!(a, b, "a read placed either way moved");
        }
        if b.1 & 4 == 0 {
            assert_eq!((b.1, b.3 - 1, b.4 >= 20), (0, origin(&b.0), true), "{b:?}");
        }
    }
}

/// `-t` changes how the host work is spread, never the output: the same
/// SAM with 1 and 4 threads over several batches. `--stats` writes per-batch
/// device traffic; after the first batch no device buffer is created (the
/// pool reuses them) and the batch is recorded in a few submissions.
#[test]
fn threads_do_not_change_the_sam_and_stats_count_device_traffic() {
    common::gpu().expect("adapter");
    let dir = tempfile::tempdir().unwrap();
    let (fq, _, _) = simulate(90, 31);
    let reads = dir.path().join("r.fq");
    std::fs::write(&reads, fq).unwrap();
    let (m, r) = (model(), reference());
    let mut sams = Vec::new();
    for t in ["1", "4"] {
        let out = dir.path().join(format!("t{t}.sam"));
        let stats = dir.path().join(format!("t{t}.json"));
        let mut args = map_args(&m, &r, &reads, &out);
        args.extend_from_slice(&["-t", t, "--batch", "30", "--stats", stats.to_str().unwrap()]);
        let (ok, _, err) = crest(&args);
        assert!(ok, "{err}");
        let body: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("@PG"))
            .map(str::to_string)
            .collect();
        sams.push(body);
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        let batches = j["stats"]["batches"].as_array().unwrap();
        assert_eq!(batches.len(), 3, "{j}");
        let reads_in: u64 = batches.iter().map(|b| b["reads"].as_u64().unwrap()).sum();
        assert_eq!(reads_in, 90);
        let steady = &j["steady_state_per_batch"];
        assert!(steady["dispatches"].as_u64().unwrap() > 0, "{j}");
        assert_eq!(steady["buffers_created"].as_u64(), Some(0), "{j}");
        assert!(
            steady["submissions"].as_u64().unwrap() <= steady["waits"].as_u64().unwrap() + 2,
            "submissions beyond one per wait: {j}"
        );
        assert!(steady["bytes_down"].as_u64().unwrap() > 0);
    }
    assert!(sams[0] == sams[1], "-t 1 and -t 4 gave different SAM");
}
