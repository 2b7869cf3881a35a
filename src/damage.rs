//! Ancient-DNA damage profile from accepted alignments, in the same pass as
//! mapping: substitution counts by position from each read end (C→T rises at
//! the 5′ end and G→A at the 3′ end of damaged double-stranded libraries),
//! insertions, deletions, soft clips, and the read length distribution.
//!
//! Positions and bases are in the read's own orientation (5′→3′ as
//! sequenced): for a reverse-strand alignment the read's 5′ end is the
//! alignment's right end and both reference and read bases are complemented,
//! as mapDamage counts them. The outputs follow mapDamage 2's
//! `misincorporation.txt` and `lgdistribution.txt` layouts, plus a plain
//! `damage.tsv` (frequencies) and `damage.svg` (the two damage curves).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{CrestError, Result};
use crate::io::{OutputDir, Reference, SamRecord};

/// Positions from each end counted by default (mapDamage's `--length` is
/// 70 for the table; its plots show 25).
pub const DEFAULT_POSITIONS: usize = 25;

const BASES: [u8; 4] = *b"ACGT";

/// Least excess of the damage substitution over its background for a
/// position to count as damaged in [`DamageProfile::fit_damage_len`] (1%).
pub const MIN_DAMAGE_EXCESS: f64 = 0.01;

/// A damage length fitted to a library's confident alignments.
#[derive(Clone, Debug, PartialEq)]
pub struct DamageFit {
    /// Leading positions from each end where damage-like mismatches cost half.
    pub damage_len: u32,
    /// Alignments the fit used.
    pub reads: u64,
    /// Background rate of C→T / G→A (inner positions).
    pub background: f64,
    /// C→T frequency by position from the 5′ end.
    pub ct5: Vec<f64>,
    /// G→A frequency by position from the 3′ end.
    pub ga3: Vec<f64>,
}

impl DamageFit {
    /// One line for the log: the first few frequencies and the length chosen.
    pub fn summary(&self) -> String {
        let head = |v: &[f64]| {
            v.iter()
                .take(6)
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "damage fitted on {} confident alignments: 5′ C→T {} …, 3′ G→A {} … (background {:.4}) → damage length {}",
            self.reads,
            head(&self.ct5),
            head(&self.ga3),
            self.background,
            self.damage_len
        )
    }
}

/// A named, coloured line of the damage plot.
type Curve<'a> = (&'a str, RGBColor, Vec<(i32, f64)>);

fn idx(b: u8) -> Option<usize> {
    match b.to_ascii_uppercase() {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' => Some(3),
        _ => None,
    }
}

/// Read end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Counted from the 5′ end.
    Five = 0,
    /// Counted from the 3′ end.
    Three = 1,
}

/// Counts at one position from one end, for one contig and strand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cell {
    /// `pairs[ref][read]`: aligned bases.
    pairs: [[u64; 4]; 4],
    /// Reference bases deleted next to this read position.
    deleted: [u64; 4],
    /// Read bases inserted at this position.
    inserted: [u64; 4],
    /// Soft-clipped bases at this position.
    clipped: u64,
}

/// The damage profile of a set of alignments (see the module docs).
#[derive(Clone, Debug)]
pub struct DamageProfile {
    positions: usize,
    contigs: Vec<String>,
    /// `cells[contig][end][strand][pos]`.
    cells: Vec<[[Vec<Cell>; 2]; 2]>,
    /// Read lengths per strand (0 +, 1 −).
    lengths: [BTreeMap<usize, u64>; 2],
    reads: u64,
}

impl DamageProfile {
    /// An empty profile over `reference`'s contigs, counting `positions`
    /// bases from each end.
    pub fn new(reference: &Reference, positions: usize) -> Self {
        let positions = positions.max(1);
        let empty = || vec![Cell::default(); positions];
        DamageProfile {
            positions,
            contigs: reference.contigs.iter().map(|c| c.name.clone()).collect(),
            cells: reference
                .contigs
                .iter()
                .map(|_| [[empty(), empty()], [empty(), empty()]])
                .collect(),
            lengths: [BTreeMap::new(), BTreeMap::new()],
            reads: 0,
        }
    }

    /// Alignments counted.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Count one record (unmapped ones are skipped).
    pub fn add(&mut self, rec: &SamRecord, reference: &Reference) {
        let (Some(ci), Some(pos)) = (rec.contig, rec.pos) else {
            return;
        };
        if rec.is_unmapped() || ci >= self.cells.len() {
            return;
        }
        let contig = &reference.contigs[ci].seq;
        let reverse = rec.is_reverse();
        let strand = reverse as usize;
        let len = rec.seq.len();
        if len == 0 {
            return;
        }
        self.reads += 1;
        *self.lengths[strand].entry(len).or_insert(0) += 1;
        let p = self.positions;
        // forward-strand read index → (distance from the 5′ end, from the 3′ end)
        let ends = |qi: usize| {
            if reverse {
                (len - 1 - qi, qi)
            } else {
                (qi, len - 1 - qi)
            }
        };
        let orient = |b: usize| if reverse { 3 - b } else { b };
        let cells = &mut self.cells[ci];
        let mut visit = |qi: usize, f: &mut dyn FnMut(&mut Cell)| {
            let (d5, d3) = ends(qi.min(len - 1));
            if d5 < p {
                f(&mut cells[End::Five as usize][strand][d5]);
            }
            if d3 < p {
                f(&mut cells[End::Three as usize][strand][d3]);
            }
        };
        let (mut qi, mut ri) = (0usize, pos);
        for &(op, n) in &rec.cigar {
            let n = n as usize;
            match op {
                b'M' | b'=' | b'X' => {
                    for _ in 0..n {
                        if let (Some(&r), Some(&q)) = (contig.get(ri), rec.seq.get(qi)) {
                            if let (Some(r), Some(q)) = (idx(r), idx(q)) {
                                let (r, q) = (orient(r), orient(q));
                                visit(qi, &mut |c| c.pairs[r][q] += 1);
                            }
                        }
                        qi += 1;
                        ri += 1;
                    }
                }
                b'I' => {
                    for _ in 0..n {
                        if let Some(q) = rec.seq.get(qi).and_then(|&b| idx(b)) {
                            let q = orient(q);
                            visit(qi, &mut |c| c.inserted[q] += 1);
                        }
                        qi += 1;
                    }
                }
                b'D' | b'N' => {
                    for _ in 0..n {
                        if let Some(r) = contig.get(ri).and_then(|&b| idx(b)) {
                            let r = orient(r);
                            // next to the read base that follows the deletion
                            visit(qi, &mut |c| c.deleted[r] += 1);
                        }
                        ri += 1;
                    }
                }
                b'S' => {
                    for _ in 0..n {
                        visit(qi, &mut |c| c.clipped += 1);
                        qi += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// Sum of a cell field over contigs and strands.
    fn total(&self, end: End, pos: usize, f: impl Fn(&Cell) -> u64) -> u64 {
        self.cells
            .iter()
            .flat_map(|c| c[end as usize].iter())
            .map(|s| f(&s[pos]))
            .fold(0u64, u64::saturating_add)
    }

    /// Frequency of `from`→`to` at `pos` (0-based) from `end`: the count of
    /// reference `from` read as `to`, over all reference `from` there
    /// (mapDamage's definition), over every contig and strand.
    pub fn frequency(&self, end: End, pos: usize, from: u8, to: u8) -> f64 {
        let (Some(f), Some(t)) = (idx(from), idx(to)) else {
            return 0.0;
        };
        if pos >= self.positions {
            return 0.0;
        }
        let n = self.total(end, pos, |c| c.pairs[f][t]);
        let d = self.total(end, pos, |c| {
            c.pairs[f].iter().fold(0u64, |a, &x| a.saturating_add(x))
        });
        if d == 0 {
            0.0
        } else {
            n as f64 / d as f64
        }
    }

    /// The damage-aware verification's length fitted to this profile: the
    /// leading positions from either end where the damage substitution (C→T
    /// from the 5′ end, G→A from the 3′ end) exceeds its background — the
    /// same substitution in the inner half of the counted positions — by at
    /// least that background and at least [`MIN_DAMAGE_EXCESS`]. There a
    /// damage-like mismatch is more likely deamination than error, so it
    /// costs half a difference. None with fewer than `min_reads` alignments.
    pub fn fit_damage_len(&self, min_reads: u64) -> Option<DamageFit> {
        if self.reads < min_reads.max(1) {
            return None;
        }
        let p = self.positions;
        let ct5: Vec<f64> = (0..p)
            .map(|i| self.frequency(End::Five, i, b'C', b'T'))
            .collect();
        let ga3: Vec<f64> = (0..p)
            .map(|i| self.frequency(End::Three, i, b'G', b'A'))
            .collect();
        let inner = p / 2..p;
        let n_inner = inner.len().max(1) as f64;
        let background = inner.clone().map(|i| ct5[i] + ga3[i]).sum::<f64>() / (2.0 * n_inner);
        let threshold = background.max(MIN_DAMAGE_EXCESS);
        let damaged = |i: usize| ct5[i].max(ga3[i]) - background >= threshold;
        let damage_len = (0..p / 2).take_while(|&i| damaged(i)).count() as u32;
        Some(DamageFit {
            damage_len,
            reads: self.reads,
            background,
            ct5,
            ga3,
        })
    }

    /// Mean frequency of the ten substitutions other than C→T and G→A.
    pub fn other_frequency(&self, end: End, pos: usize) -> f64 {
        let mut sum = 0.0;
        for &f in &BASES {
            for &t in &BASES {
                if f != t && !matches!((f, t), (b'C', b'T') | (b'G', b'A')) {
                    sum += self.frequency(end, pos, f, t);
                }
            }
        }
        sum / 10.0
    }

    /// mapDamage 2's `misincorporation.txt`.
    pub fn misincorporation_txt(&self, source: &str) -> String {
        const SUBS: [&str; 12] = [
            "G>A", "C>T", "A>G", "T>C", "A>C", "A>T", "C>G", "C>A", "T>G", "T>A", "G>C", "G>T",
        ];
        let mut s = format!(
            "# table produced by crest {} (mapDamage 2 misincorporation.txt layout)\n# using alignments of {source}\n# Chr: reference from sam/bam header, End: from which termini of DNA sequences, Std: strand of reads\n",
            crate::VERSION
        );
        s.push_str("Chr\tEnd\tStd\tPos\tA\tC\tG\tT\tTotal");
        for h in SUBS {
            s.push_str(&format!("\t{h}"));
        }
        s.push_str("\tA>-\tT>-\tC>-\tG>-\t->A\t->T\t->C\t->G\tS\n");
        let b = |c: char| idx(c as u8).expect("base");
        for (ci, name) in self.contigs.iter().enumerate() {
            for (end, end_name) in [(0usize, "5p"), (1, "3p")] {
                for (strand, std) in [(0usize, "+"), (1, "-")] {
                    for pos in 0..self.positions {
                        let c = &self.cells[ci][end][strand][pos];
                        let refs: Vec<u64> = (0..4)
                            .map(|r| c.pairs[r].iter().fold(0u64, |a, &x| a.saturating_add(x)))
                            .collect();
                        s.push_str(&format!(
                            "{name}\t{end_name}\t{std}\t{}\t{}\t{}\t{}\t{}\t{}",
                            pos + 1,
                            refs[0],
                            refs[1],
                            refs[2],
                            refs[3],
                            refs.iter().fold(0u64, |a, &x| a.saturating_add(x))
                        ));
                        for h in SUBS {
                            let (f, t) = (h.as_bytes()[0] as char, h.as_bytes()[2] as char);
                            s.push_str(&format!("\t{}", c.pairs[b(f)][b(t)]));
                        }
                        for base in ['A', 'T', 'C', 'G'] {
                            s.push_str(&format!("\t{}", c.deleted[b(base)]));
                        }
                        for base in ['A', 'T', 'C', 'G'] {
                            s.push_str(&format!("\t{}", c.inserted[b(base)]));
                        }
                        s.push_str(&format!("\t{}\n", c.clipped));
                    }
                }
            }
        }
        s
    }

    /// mapDamage 2's `lgdistribution.txt` (read lengths per strand).
    pub fn lengths_txt(&self) -> String {
        let mut s = String::from(
            "# table produced by crest (mapDamage 2 lgdistribution.txt layout)\n# Std: strand of reads\nStd\tLength\tOccurences\n",
        );
        for (strand, std) in [(0usize, "+"), (1, "-")] {
            for (len, n) in &self.lengths[strand] {
                s.push_str(&format!("{std}\t{len}\t{n}\n"));
            }
        }
        s
    }

    /// Plain frequencies: end, position (1-based), C→T, G→A, mean of the
    /// other substitutions, and the reference C and G counts behind them.
    pub fn tsv(&self) -> String {
        let mut s = String::from("end\tpos\tC>T\tG>A\tother\tref_C\tref_G\n");
        for (end, name) in [(End::Five, "5p"), (End::Three, "3p")] {
            for pos in 0..self.positions {
                s.push_str(&format!(
                    "{name}\t{}\t{:.6}\t{:.6}\t{:.6}\t{}\t{}\n",
                    pos + 1,
                    self.frequency(end, pos, b'C', b'T'),
                    self.frequency(end, pos, b'G', b'A'),
                    self.other_frequency(end, pos),
                    self.total(end, pos, |c| {
                        c.pairs[1].iter().fold(0u64, |a, &x| a.saturating_add(x))
                    }),
                    self.total(end, pos, |c| {
                        c.pairs[2].iter().fold(0u64, |a, &x| a.saturating_add(x))
                    }),
                ));
            }
        }
        s
    }

    /// mapDamage 2's `5pCtoT_freq.txt` (`End::Five`: C→T by position from
    /// the 5′ end) or `3pGtoA_freq.txt` (`End::Three`: G→A from the 3′ end),
    /// the files MultiQC's mapDamage module reads: `pos` and the frequency,
    /// positions 1 to 25 (fewer if fewer were counted).
    pub fn freq_txt(&self, end: End) -> String {
        let (head, from, to) = match end {
            End::Five => ("5pC>T", b'C', b'T'),
            End::Three => ("3pG>A", b'G', b'A'),
        };
        let mut s = format!("pos\t{head}\n");
        for pos in 0..self.positions.min(25) {
            s.push_str(&format!(
                "{}\t{}\n",
                pos + 1,
                self.frequency(end, pos, from, to)
            ));
        }
        s
    }

    /// The two damage curves (5′ end: position 1 on the left; 3′ end:
    /// position 1 on the right), as SVG text.
    pub fn svg(&self, title: &str) -> Result<String> {
        let err = |e: String| CrestError::Invalid(format!("damage plot: {e}"));
        let p = self.positions;
        let series = |end: End, f: &dyn Fn(usize) -> f64| -> Vec<(i32, f64)> {
            (0..p)
                .map(|i| {
                    let x = match end {
                        End::Five => i as i32 + 1,
                        End::Three => -(i as i32 + 1),
                    };
                    (x, f(i))
                })
                .collect()
        };
        let mut ymax = 0.0f64;
        for end in [End::Five, End::Three] {
            for i in 0..p {
                ymax = ymax
                    .max(self.frequency(end, i, b'C', b'T'))
                    .max(self.frequency(end, i, b'G', b'A'));
            }
        }
        let ymax = ((ymax * 1.15).max(0.02) * 50.0).ceil() / 50.0;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            let root = root
                .titled(title, ("sans-serif", 18))
                .map_err(|e| err(e.to_string()))?;
            let (left, right) = root.split_horizontally(450);
            let red = RGBColor(0xd6, 0x27, 0x28);
            let blue = RGBColor(0x1f, 0x77, 0xb4);
            let grey = RGBColor(0x99, 0x99, 0x99);
            for (area, end) in [(left, End::Five), (right, End::Three)] {
                let (xr, label) = match end {
                    End::Five => (1..p as i32, "position from the 5′ end"),
                    End::Three => (-(p as i32)..-1, "position from the 3′ end"),
                };
                let mut chart = ChartBuilder::on(&area)
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(55)
                    .build_cartesian_2d(xr, 0.0..ymax)
                    .map_err(|e| err(e.to_string()))?;
                chart
                    .configure_mesh()
                    .x_desc(label)
                    .y_desc("frequency")
                    .x_label_formatter(&|x| format!("{}", x.abs()))
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
                let lines: [Curve; 3] = [
                    (
                        "C→T",
                        red,
                        series(end, &|i| self.frequency(end, i, b'C', b'T')),
                    ),
                    (
                        "G→A",
                        blue,
                        series(end, &|i| self.frequency(end, i, b'G', b'A')),
                    ),
                    (
                        "other (mean)",
                        grey,
                        series(end, &|i| self.other_frequency(end, i)),
                    ),
                ];
                for (name, colour, pts) in lines {
                    chart
                        .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                        .map_err(|e| err(e.to_string()))?
                        .label(name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                        });
                }
                chart
                    .configure_series_labels()
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.8))
                    .position(match end {
                        End::Five => SeriesLabelPosition::UpperRight,
                        End::Three => SeriesLabelPosition::UpperLeft,
                    })
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
            }
            root.present().map_err(|e| err(e.to_string()))?;
        }
        Ok(svg)
    }

    /// Write `misincorporation.txt`, `lgdistribution.txt`, `damage.tsv`,
    /// mapDamage's `5pCtoT_freq.txt` and `3pGtoA_freq.txt` and `damage.svg`
    /// into the folder `dir` (built under a temporary name and
    /// moved into place when complete; an earlier profile there is replaced,
    /// a folder holding anything else is refused).
    pub fn write(&self, dir: &Path, source: &str) -> Result<()> {
        self.write_staged(dir, source)?.commit().map(drop)
    }

    /// Like [`DamageProfile::write`], but the folder stays under its
    /// temporary name until the caller commits it with its other outputs.
    pub fn write_staged(&self, dir: &Path, source: &str) -> Result<OutputDir> {
        check_dir(dir, "damage profile folder")?;
        let out = OutputDir::create(dir, true)?;
        let put = |name: &str, data: &[u8]| {
            let p = out.path().join(name);
            std::fs::write(&p, data).map_err(|e| CrestError::io(&p, e))
        };
        put(
            "misincorporation.txt",
            self.misincorporation_txt(source).as_bytes(),
        )?;
        put("lgdistribution.txt", self.lengths_txt().as_bytes())?;
        put("damage.tsv", self.tsv().as_bytes())?;
        put("5pCtoT_freq.txt", self.freq_txt(End::Five).as_bytes())?;
        put("3pGtoA_freq.txt", self.freq_txt(End::Three).as_bytes())?;
        let title = format!("damage: {} alignments of {source}", self.reads);
        put("damage.svg", self.svg(&title)?.as_bytes())?;
        Ok(out)
    }
}

impl DamageProfile {
    /// Read a profile folder written by [`DamageProfile::write`] (its
    /// `misincorporation.txt` and `lgdistribution.txt`; the counts are exact,
    /// so profiles of shards can be summed with [`DamageProfile::merge`]).
    /// Returns the profile and the source named in its header.
    pub fn read(dir: &Path) -> Result<(DamageProfile, String)> {
        let mis = dir.join("misincorporation.txt");
        let text = std::fs::read_to_string(&mis).map_err(|e| CrestError::io(&mis, e))?;
        let bad = |line: usize, m: String| CrestError::Format {
            path: mis.clone(),
            record: line as u64,
            message: format!("line {line}: {m}"),
        };
        let mut source = String::new();
        let mut contigs: Vec<String> = Vec::new();
        // (contig, end, strand, pos) → cell
        let mut rows: Vec<(usize, usize, usize, usize, Cell)> = Vec::new();
        let mut header_seen = false;
        for (i, line) in text.lines().enumerate() {
            let ln = i + 1;
            if let Some(rest) = line.strip_prefix("# using alignments of ") {
                source = rest.to_string();
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if !header_seen {
                if f.first() != Some(&"Chr") || f.len() != 30 {
                    return Err(bad(
                        ln,
                        "expected the misincorporation.txt header (30 columns)".into(),
                    ));
                }
                header_seen = true;
                continue;
            }
            if f.len() != 30 {
                return Err(bad(ln, format!("{} columns, expected 30", f.len())));
            }
            let end = match f[1] {
                "5p" => 0,
                "3p" => 1,
                e => return Err(bad(ln, format!("End '{e}' is not 5p or 3p"))),
            };
            let strand = match f[2] {
                "+" => 0,
                "-" => 1,
                s => return Err(bad(ln, format!("Std '{s}' is not + or -"))),
            };
            let pos: usize = f[3]
                .parse()
                .ok()
                .filter(|&p| p >= 1)
                .ok_or_else(|| bad(ln, format!("Pos '{}' is not a position", f[3])))?;
            let mut n = [0u64; 26];
            for (k, v) in f[4..].iter().enumerate() {
                n[k] = v
                    .parse()
                    .map_err(|_| bad(ln, format!("'{v}' is not a count")))?;
            }
            // A C G T Total, 12 substitutions, A>- T>- C>- G>-, ->A ->T ->C ->G, S
            const SUBS: [(usize, usize); 12] = [
                (2, 0),
                (1, 3),
                (0, 2),
                (3, 1),
                (0, 1),
                (0, 3),
                (1, 2),
                (1, 0),
                (3, 2),
                (3, 0),
                (2, 1),
                (2, 3),
            ];
            let mut c = Cell::default();
            for (k, &(r, q)) in SUBS.iter().enumerate() {
                c.pairs[r][q] = n[5 + k];
            }
            for (r, &base_count) in n[..4].iter().enumerate() {
                let off = (0..4)
                    .filter(|&q| q != r)
                    .try_fold(0u64, |a, q| a.checked_add(c.pairs[r][q]))
                    .ok_or_else(|| bad(ln, "counts overflow".into()))?;
                c.pairs[r][r] = base_count
                    .checked_sub(off)
                    .ok_or_else(|| bad(ln, "substitutions exceed the base count".into()))?;
            }
            if Some(n[4]) != n[..4].iter().try_fold(0u64, |a, &x| a.checked_add(x)) {
                return Err(bad(ln, "Total is not A+C+G+T".into()));
            }
            for (k, b) in [0usize, 3, 1, 2].into_iter().enumerate() {
                c.deleted[b] = n[17 + k];
                c.inserted[b] = n[21 + k];
            }
            c.clipped = n[25];
            let ci = match contigs.iter().position(|x| x == f[0]) {
                Some(ci) => ci,
                None => {
                    contigs.push(f[0].to_string());
                    contigs.len() - 1
                }
            };
            rows.push((ci, end, strand, pos - 1, c));
        }
        let positions = rows.iter().map(|r| r.3 + 1).max().unwrap_or(0);
        if positions == 0 {
            return Err(bad(text.lines().count(), "no rows".into()));
        }
        let empty = || vec![Cell::default(); positions];
        let mut cells: Vec<[[Vec<Cell>; 2]; 2]> = contigs
            .iter()
            .map(|_| [[empty(), empty()], [empty(), empty()]])
            .collect();
        for (ci, end, strand, pos, c) in rows {
            cells[ci][end][strand][pos] = c;
        }
        let lg = dir.join("lgdistribution.txt");
        let text = std::fs::read_to_string(&lg).map_err(|e| CrestError::io(&lg, e))?;
        let mut lengths = [BTreeMap::new(), BTreeMap::new()];
        let mut reads = 0u64;
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.starts_with("Std") || line.is_empty() {
                continue;
            }
            let bad = |m: String| CrestError::Format {
                path: lg.clone(),
                record: i as u64 + 1,
                message: format!("line {}: {m}", i + 1),
            };
            let f: Vec<&str> = line.split('\t').collect();
            let strand = match f.first() {
                Some(&"+") if f.len() == 3 => 0,
                Some(&"-") if f.len() == 3 => 1,
                _ => return Err(bad("expected 'Std<TAB>Length<TAB>Occurences'".into())),
            };
            let len: usize = f[1]
                .parse()
                .map_err(|_| bad(format!("length '{}'", f[1])))?;
            let n: u64 = f[2].parse().map_err(|_| bad(format!("count '{}'", f[2])))?;
            let e = lengths[strand].entry(len).or_insert(0u64);
            *e = e
                .checked_add(n)
                .ok_or_else(|| bad("counts overflow".into()))?;
            reads = reads
                .checked_add(n)
                .ok_or_else(|| bad("counts overflow".into()))?;
        }
        Ok((
            DamageProfile {
                positions,
                contigs,
                cells,
                lengths,
                reads,
            },
            source,
        ))
    }

    /// Add another profile's counts (same contigs and positions).
    pub fn merge(&mut self, other: &DamageProfile) -> Result<()> {
        if other.contigs != self.contigs || other.positions != self.positions {
            return Err(CrestError::Invalid(format!(
                "damage profiles differ in contigs or positions ({} contigs × {} positions vs {} × {}); merge profiles of the same reference and --damage-positions",
                self.contigs.len(),
                self.positions,
                other.contigs.len(),
                other.positions
            )));
        }
        // counts are summed with overflow checks (a profile edited to hold
        // counts near 2^64 must not wrap into small ones); on overflow self
        // is left unchanged
        let overflow = || {
            CrestError::Invalid(
                "damage counts overflow when summed (a profile holds counts near 2^64: edited or damaged?)"
                    .into(),
            )
        };
        let mut merged = self.clone();
        let add = |x: &mut u64, y: u64| -> Result<()> {
            *x = x.checked_add(y).ok_or_else(overflow)?;
            Ok(())
        };
        for (a, b) in merged.cells.iter_mut().zip(&other.cells) {
            for e in 0..2 {
                for s in 0..2 {
                    for (x, y) in a[e][s].iter_mut().zip(&b[e][s]) {
                        for r in 0..4 {
                            for q in 0..4 {
                                add(&mut x.pairs[r][q], y.pairs[r][q])?;
                            }
                            add(&mut x.deleted[r], y.deleted[r])?;
                            add(&mut x.inserted[r], y.inserted[r])?;
                        }
                        add(&mut x.clipped, y.clipped)?;
                    }
                }
            }
        }
        for s in 0..2 {
            for (len, n) in &other.lengths[s] {
                add(merged.lengths[s].entry(*len).or_insert(0), *n)?;
            }
        }
        add(&mut merged.reads, other.reads)?;
        *self = merged;
        Ok(())
    }
}

/// The files a profile folder holds.
pub const FILES: [&str; 6] = [
    "misincorporation.txt",
    "lgdistribution.txt",
    "damage.tsv",
    "damage.svg",
    "5pCtoT_freq.txt",
    "3pGtoA_freq.txt",
];

/// Refuse a profile folder that exists and holds anything but a profile
/// (call it before mapping so that a bad name fails at once); `what` names
/// the option in errors.
pub fn check_dir(dir: &Path, what: &str) -> Result<()> {
    // the profile is built in a temporary folder beside it: that folder's
    // parent must take new entries
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(md) = std::fs::metadata(dir) else {
        if !parent.is_dir() {
            return Err(CrestError::Invalid(format!(
                "{what} {}: folder {} does not exist",
                dir.display(),
                parent.display()
            )));
        }
        return crate::io::output::check_writable_dir(parent, what);
    };
    crate::io::output::check_writable_dir(parent, what)?;
    if !md.is_dir() {
        return Err(CrestError::Invalid(format!(
            "{what} {}: exists and is not a folder",
            dir.display()
        )));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| CrestError::io(dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !FILES.contains(&name.as_str()) {
            return Err(CrestError::Invalid(format!(
                "{what} {}: the folder holds {name}, which is not part of a damage profile; choose an empty or new folder",
                dir.display()
            )));
        }
    }
    Ok(())
}
