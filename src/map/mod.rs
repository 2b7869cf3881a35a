//! Read mapping: the network proposes loci, alignment disposes.
//!
//! For every read: k-mer windows (every `stride` bp, and the last one; one
//! N-padded window for reads shorter than k) → encoder → bit head → the top
//! 2^flip coordinates per window (batched bit-decoding on the device) → each
//! coordinate corrected for its window's offset under both strand hypotheses
//! → candidates clustered and ranked by summed probability → banded,
//! damage-aware alignment of the read (both strands) around each candidate on
//! the device → best and second-best hit, accepted when its differences are
//! within bwa aln's `-n` bound → CIGAR/NM/MD by host traceback of that one
//! alignment → MAPQ on BWA's scale. Reads that fail anywhere stay unmapped,
//! in input order.

pub mod config;
pub mod mapq;
pub mod stream;
pub mod tags;
pub mod trace;
pub mod views;

use crate::backend::Backend;
use crate::damage::{DamageFit, DamageProfile};
use crate::error::{CrestError, Result};
use crate::index::{BeamConfig, Index, Searcher};
use crate::io::sam::flags;
use crate::io::{ReadRecord, Reference, SamRecord};
use crate::model::encoder::EMBED_BATCH;

use crate::model::{BitHead, Encoder};
use crate::ops::align::{self, AlignParams, AlignTask};
use crate::ops::encode::{GpuSeq, Window};
use crate::ops::index::NONE;
use crate::seq::{reverse_complement, PackedSeq};

pub use config::{
    neighbours_per_window, MapConfig, Propose, DEFAULT_CANDIDATES, DEFAULT_DAMAGE_LEN,
    DEFAULT_MIN_BASE_QUALITY, DEFAULT_RESCUE_MAX_LEN,
};
pub use mapq::{approx_mapq, chance_cap, max_diff};
pub use trace::{ReadTrace, TraceCandidate};

/// Counters of a mapping run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MapStats {
    /// Reads seen.
    pub reads: u64,
    /// Reads mapped.
    pub mapped: u64,
    /// Mapped with MAPQ ≥ 20.
    pub mapq20: u64,
    /// Alignments verified.
    pub alignments: u64,
    /// Reads the deeper second search mapped (counted in `mapped` too).
    pub rescued: u64,
    /// Reads the deeper second search tried (unmapped short reads).
    pub rescue_tried: u64,
    /// Reads the deeper second search could have tried (unmapped by the
    /// first pass, short enough); the gate tries fewer when it places few.
    pub rescue_eligible: u64,
    /// Seconds of the deeper second search (included in the stages).
    pub rescue_s: f64,
    /// Seconds per stage: encoding windows (one-hot + encoder forward).
    pub encode_s: f64,
    /// Seconds searching the index (or decoding the bit head).
    pub search_s: f64,
    /// Seconds verifying candidates by alignment on the device.
    pub verify_s: f64,
    /// Seconds of host work (windows, clustering, traceback, records).
    pub host_s: f64,
    /// Per batch: reads, seconds and device traffic.
    pub batches: Vec<BatchStats>,
}

/// One mapped batch, for `crest map --stats`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BatchStats {
    /// Reads in the batch.
    pub reads: u64,
    /// Wall seconds of the batch (proposal, verification, rescue, records).
    pub seconds: f64,
    /// Reads the rescue pass tried in this batch.
    pub rescue_tried: u64,
    /// Device traffic of the batch (None on the plain-Rust backend).
    pub device: Option<crate::gpu::GpuCounters>,
}

impl MapStats {
    /// Device traffic per batch in steady state: the largest of each counter
    /// over the batches after the first two (with `--damage-len auto` the
    /// first is mapped from the fit's proposals, so the second is the first
    /// to build the proposal stage's pipelines and fill the buffer pool);
    /// the last batch's when there are fewer than three.
    pub fn steady_state(&self) -> Option<crate::gpu::GpuCounters> {
        let n = self.batches.len();
        let rest = if n > 2 {
            &self.batches[2..]
        } else {
            &self.batches[n.saturating_sub(1)..]
        };
        let mut out: Option<crate::gpu::GpuCounters> = None;
        for b in rest.iter().filter_map(|b| b.device) {
            let o = out.get_or_insert_with(Default::default);
            o.dispatches = o.dispatches.max(b.dispatches);
            o.submissions = o.submissions.max(b.submissions);
            o.waits = o.waits.max(b.waits);
            o.buffers_created = o.buffers_created.max(b.buffers_created);
            o.bytes_up = o.bytes_up.max(b.bytes_up);
            o.bytes_down = o.bytes_down.max(b.bytes_down);
        }
        out
    }
}

impl MapStats {
    /// One line: seconds per stage and their shares.
    pub fn stages(&self) -> String {
        let total = (self.encode_s + self.search_s + self.verify_s + self.host_s).max(1e-9);
        format!(
            "encode {:.1}s ({:.0}%), search {:.1}s ({:.0}%), verify {:.1}s ({:.0}%), host {:.1}s ({:.0}%)",
            self.encode_s,
            100.0 * self.encode_s / total,
            self.search_s,
            100.0 * self.search_s / total,
            self.verify_s,
            100.0 * self.verify_s / total,
            self.host_s,
            100.0 * self.host_s / total
        )
    }
}

/// What one batch gives: records, traces when asked, and the contigs of
/// each read's tied best hits.
type Mapped = (Vec<SamRecord>, Option<Vec<ReadTrace>>, Vec<Vec<usize>>);

/// A key for a batch of reads (names and bases), to recognise the batch the
/// library fit already proposed loci for.
fn batch_key(reads: &[ReadRecord]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    reads.len().hash(&mut h);
    for r in reads {
        r.name.hash(&mut h);
        r.seq.hash(&mut h);
    }
    h.finish()
}

/// Set the bits (one per base, 32 per word, from `start`) of the bases whose
/// Phred+33 quality is below `min`. Reads without qualities set none.
pub fn mark_low_quality(mask: &mut Vec<u32>, start: usize, qual: &[u8], min: u8) {
    for (j, &q) in qual.iter().enumerate() {
        if q.saturating_sub(33) < min {
            let pos = start + j;
            if mask.len() <= pos >> 5 {
                mask.resize((pos >> 5) + 1, 0);
            }
            mask[pos >> 5] |= 1 << (pos & 31);
        }
    }
}

/// Alignments at this MAPQ or above are the confident ones a damage fit uses.
pub const DAMAGE_FIT_MAPQ: u8 = 30;

/// Confident alignments a damage fit needs.
pub const DAMAGE_FIT_MIN_READS: u64 = 100;

/// What [`Mapper::fit_library`] found.
#[derive(Clone, Debug)]
pub struct LibraryFit {
    /// The damage fit (None: too few confident alignments).
    pub damage: Option<DamageFit>,
    /// Differences per aligned base of the confident alignments.
    pub error_rate: Option<f64>,
    /// Confident alignments seen.
    pub confident: u64,
}

/// How deep one proposal pass searches.
#[derive(Clone, Copy, Debug)]
struct Depth {
    beam: BeamConfig,
    read_neighbours: usize,
    candidates: usize,
    /// Shorter views of each read besides the first pass's windows.
    views: Option<views::RescueViews>,
}

/// The rescue pass takes this many times the first pass's neighbours per
/// read (spread over its views, up to what the scan keeps per window: with
/// the default views every window of a short read takes the scan's most).
const RESCUE_NEIGHBOURS: usize = 64;

/// The rescue pass verifies this many times the first pass's candidates per
/// read (the views' neighbours scatter over many loci; on the E. coli tuning
/// reads 128× mapped no more than 32× without masked views; with them 48×
/// keeps the first pass's near-miss clusters in: 0.9695 against 0.9680 at
/// 64 first-pass candidates).
const RESCUE_CANDIDATES: usize = 48;

/// Neighbours searched per masked view in the rescue pass (a masked view
/// that hides the read's one mismatch ranks its locus near the top, though
/// not always in the first 64: on 5,000 E. coli tuning reads, seed 105,
/// 256 gave recall 0.9704 against 0.9690 at 64, at the same time).
const MASKED_NEIGHBOURS: usize = 256;

/// A mapper bound to a model and its reference.
pub struct Mapper<'a> {
    be: &'a Backend,
    encoder: &'a Encoder,
    head: Option<&'a BitHead>,
    index: Option<&'a Index>,
    searcher: Option<Searcher>,
    plan: Option<crate::model::encoder::InferPlan>,
    reference: &'a Reference,
    packed: PackedSeq,
    gpu_ref: Option<GpuSeq>,
    offsets: Vec<u64>,
    total: u64,
    /// The first pass's proposals for the batch the library fit mapped
    /// (keyed by a hash of its reads), reused when that batch is mapped.
    fit_proposals: std::sync::Mutex<Option<(u64, Proposals)>>,
    /// The rescue pass's yield so far (see [`RescueGate`]).
    gate: std::sync::Mutex<RescueGate>,
    /// Options.
    pub cfg: MapConfig,
}

/// Reads tried by the rescue pass before its yield is judged.
pub const RESCUE_JUDGE_AFTER: u64 = 64;

/// Below this yield (reads placed per read tried; `--rescue-min-yield`) the
/// rescue pass only probes: on real libraries of mostly other genomes it placed 0 of 2,484
/// reads (mammoth JK2782) while costing most of the run; on simulated
/// reference reads it places 4–25% of those it tries.
pub const RESCUE_MIN_YIELD: f64 = 0.005;

/// Embedding chunks ([`EMBED_BATCH`] windows) recorded between two waits of
/// the proposal stage: a wait per chunk was most of a batch's waits (28 of
/// 48 on a JK2782 batch). Two steps in flight hold 8 chunks' buffers
/// (~16 MB each for the mammoth encoder): JK2782 maps in 462 MB instead of
/// 366 MB with 24 waits a batch instead of 48; 8 chunks a step took 606 MB
/// for 21.
const EMBED_STEP: usize = 4;

/// While the yield is low, one eligible read in this many is still tried,
/// so that the yield keeps being measured and the pass reopens if it rises.
pub const RESCUE_PROBE_EVERY: u64 = 32;

/// The rescue pass pays for itself: it tries every eligible read until
/// [`RESCUE_JUDGE_AFTER`] were tried, and afterwards only while it places at
/// least [`RESCUE_MIN_YIELD`] of them; below that it tries one eligible read
/// in [`RESCUE_PROBE_EVERY`]. The gate is judged once a batch (after a
/// probe of the reads it still needs to judge), so that a batch costs at
/// most two rescue passes. Decisions depend only on the reads in input
/// order, so the same input gives the same SAM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RescueGate {
    /// Eligible reads seen (unmapped by the first pass, short enough).
    pub eligible: u64,
    /// Reads tried.
    pub tried: u64,
    /// Reads placed.
    pub placed: u64,
}

impl RescueGate {
    /// Whether the pass is open for every eligible read now, at a least
    /// yield of `min_yield`.
    pub fn open(&self, min_yield: f64) -> bool {
        self.tried < RESCUE_JUDGE_AFTER || self.placed as f64 >= min_yield * self.tried as f64
    }

    /// Which of `n` further eligible reads to try; counts them as seen.
    pub fn choose(&mut self, n: usize, min_yield: f64) -> Vec<bool> {
        let open = self.open(min_yield);
        let first = self.eligible;
        self.eligible += n as u64;
        (0..n as u64)
            .map(|j| open || (first + j).is_multiple_of(RESCUE_PROBE_EVERY))
            .collect()
    }
}

/// What the proposal stage hands to verification: the batch's packed reads
/// (with masked copies after them), their low-quality bits and starts, and
/// each read's proposed loci as (strand, start, log-weight).
#[derive(Clone)]
struct Proposals {
    rseq: PackedSeq,
    lowq: Vec<u32>,
    rstart: Vec<u32>,
    props: Vec<Vec<(u32, i64, f32)>>,
    encode_s: f64,
    search_s: f64,
    host_s: f64,
}

struct Hit {
    cost: u32,
    strand: u32,
    end: u64,
    task: AlignTask,
}

impl<'a> Mapper<'a> {
    /// Prepare the reference (packed, and uploaded once to the device).
    pub fn new(
        be: &'a Backend,
        encoder: &'a Encoder,
        head: Option<&'a BitHead>,
        index: Option<&'a Index>,
        reference: &'a Reference,
        cfg: MapConfig,
    ) -> Result<Self> {
        if cfg.propose.is_empty() {
            return Err(CrestError::option(
                "--propose",
                "--propose needs at least one source",
            ));
        }
        if head.is_none() && cfg.propose.contains(&Propose::Head) {
            return Err(CrestError::Invalid(
                "the model has no bit head: use --propose index, or train one with `crest train --head-steps N`".into(),
            ));
        }
        let kinds = Propose::search_kinds(&cfg.propose);
        let searcher = match (kinds.is_empty(), index) {
            (true, _) => None,
            (false, Some(ix)) => {
                let mut s = Searcher::new(be, ix, &kinds, BeamConfig { width: cfg.beam })?;
                crate::index::route::width_flips(cfg.route_width)?;
                s.route_width = cfg.route_width;
                Some(s)
            }
            (false, None) => {
                return Err(CrestError::option(
                    "--propose",
                    "--propose index/flat/route needs an index (crest index)",
                ))
            }
        };
        if cfg.pad > align::MAX_PAD {
            return Err(CrestError::option(
                "--pad",
                format!("--pad {} exceeds {}", cfg.pad, align::MAX_PAD),
            ));
        }
        if cfg.flip > crate::ops::bithead::MAX_FLIP {
            return Err(CrestError::option(
                "--flip",
                format!(
                    "--flip {} exceeds {}",
                    cfg.flip,
                    crate::ops::bithead::MAX_FLIP
                ),
            ));
        }
        let mut packed = PackedSeq::default();
        for c in &reference.contigs {
            packed.extend_ascii(&c.seq);
        }
        let gpu_ref = match be {
            Backend::Gpu(g) => Some(GpuSeq::upload(g, &packed)?),
            Backend::CpuReference => None,
        };
        Ok(Mapper {
            be,
            encoder,
            head,
            index,
            searcher,
            plan: encoder.infer_plan(be)?,
            reference,
            total: packed.len as u64,
            packed,
            gpu_ref,
            offsets: crate::train::head::contig_offsets(reference),
            fit_proposals: std::sync::Mutex::new(None),
            gate: std::sync::Mutex::new(RescueGate::default()),
            cfg,
        })
    }

    fn mappable(&self, r: &ReadRecord) -> bool {
        r.seq.len() >= self.cfg.min_len.max(1)
            && r.seq.iter().filter(|&&b| b != b'N').count() >= self.cfg.min_len.max(1) / 2
    }

    /// Fit the library to `reads` (its first batch): map them with the
    /// current settings, without the rescue pass, and, from the confident
    /// alignments (MAPQ ≥ [`DAMAGE_FIT_MAPQ`]), set `cfg.damage_len` to the damage profile's
    /// fitted length and `cfg.error_rate` to their differences per aligned
    /// base. The caller maps the reads again afterwards. With fewer than
    /// [`DAMAGE_FIT_MIN_READS`] confident alignments nothing changes.
    pub fn fit_library(&mut self, reads: &[ReadRecord]) -> Result<LibraryFit> {
        let mut scratch = MapStats::default();
        // the first pass only: the fit needs confident alignments, and the
        // rescue pass costs most on libraries of mostly other genomes. Its
        // proposals do not depend on what the fit sets (damage length and
        // error rate act in verification), so the batch's mapping reuses them.
        let first = self.first_depth();
        let p = self.propose(reads, &first)?;
        let recs = self
            .verify(reads, p.clone(), &mut scratch, false, &first)?
            .0;
        *self.fit_proposals.lock().expect("fit cache poisoned") = Some((batch_key(reads), p));
        let mut profile = DamageProfile::new(self.reference, crate::damage::DEFAULT_POSITIONS);
        let (mut diffs, mut bases) = (0u64, 0u64);
        for r in recs.iter().filter(|r| r.mapq >= DAMAGE_FIT_MAPQ) {
            profile.add(r, self.reference);
            diffs += r.nm.unwrap_or(0).max(0) as u64;
            bases += r.seq.len() as u64;
        }
        let damage = profile.fit_damage_len(DAMAGE_FIT_MIN_READS);
        let error_rate = damage.as_ref().map(|_| diffs as f64 / bases.max(1) as f64);
        if let (Some(f), Some(e)) = (&damage, error_rate) {
            self.cfg.damage_len = f.damage_len;
            self.cfg.error_rate = e;
        }
        Ok(LibraryFit {
            damage,
            error_rate,
            confident: profile.reads(),
        })
    }

    /// Map a batch of reads; records come back in input order.
    pub fn map_batch(&self, reads: &[ReadRecord], stats: &mut MapStats) -> Result<Vec<SamRecord>> {
        Ok(self.map_inner(reads, stats, false)?.0)
    }

    /// [`Mapper::map_batch`], plus for each mapped read the contigs of every
    /// distinct hit that ties with the best (one entry per hit; empty for
    /// unmapped reads): what `crest profile` needs to tell a read repeated
    /// within one genome from one shared by two.
    pub fn map_batch_ties(
        &self,
        reads: &[ReadRecord],
        stats: &mut MapStats,
    ) -> Result<(Vec<SamRecord>, Vec<Vec<usize>>)> {
        let (recs, _, ties) = self.map_inner(reads, stats, false)?;
        Ok((recs, ties))
    }

    /// [`Mapper::map_batch`], plus what was tried for each read (in input
    /// order): the candidates verified and their differences.
    pub fn map_batch_traced(
        &self,
        reads: &[ReadRecord],
        stats: &mut MapStats,
    ) -> Result<(Vec<SamRecord>, Vec<ReadTrace>)> {
        let (recs, traces, _) = self.map_inner(reads, stats, true)?;
        Ok((recs, traces.unwrap_or_default()))
    }

    fn first_depth(&self) -> Depth {
        Depth {
            beam: BeamConfig {
                width: self.cfg.beam,
            },
            read_neighbours: self.cfg.read_neighbours,
            candidates: self.cfg.max_candidates,
            views: None,
        }
    }

    fn map_inner(&self, reads: &[ReadRecord], stats: &mut MapStats, trace: bool) -> Result<Mapped> {
        let t_batch = std::time::Instant::now();
        let before = self.device_counters();
        let rescue_before = stats.rescue_tried;
        let first = self.first_depth();
        let cached = self
            .fit_proposals
            .lock()
            .expect("fit cache poisoned")
            .take()
            .filter(|(key, _)| *key == batch_key(reads));
        let (mut out, mut traces, mut ties) = match cached {
            Some((_, p)) => self.verify(reads, p, stats, trace, &first)?,
            None => self.pass(reads, stats, trace, &first)?,
        };
        if let Some(deep) = self.rescue_depth(&first) {
            let eligible: Vec<usize> = (0..reads.len())
                .filter(|&i| {
                    out[i].is_unmapped()
                        && self.mappable(&reads[i])
                        && reads[i].seq.len() <= self.cfg.rescue_max_len
                })
                .collect();
            stats.rescue_eligible += eligible.len() as u64;
            // At most two rescue passes a batch: while the gate is not yet
            // judged, a probe of the first reads it needs; then one pass for
            // every other read the gate chooses.
            let unjudged = {
                let g = self.gate.lock().expect("gate poisoned");
                RESCUE_JUDGE_AFTER.saturating_sub(g.tried) as usize
            };
            let (probe, rest) = eligible.split_at(unjudged.min(eligible.len()));
            for part in [probe, rest] {
                if part.is_empty() {
                    continue;
                }
                let chosen = self
                    .gate
                    .lock()
                    .expect("gate poisoned")
                    .choose(part.len(), self.cfg.rescue_min_yield);
                let idx: Vec<usize> = part
                    .iter()
                    .zip(chosen)
                    .filter_map(|(&i, c)| c.then_some(i))
                    .collect();
                if idx.is_empty() {
                    continue;
                }
                let t0 = std::time::Instant::now();
                let sub: Vec<ReadRecord> = idx.iter().map(|&i| reads[i].clone()).collect();
                let (o2, t2, ties2) = self.pass(&sub, stats, trace, &deep)?;
                stats.rescue_tried += idx.len() as u64;
                stats.rescue_s += t0.elapsed().as_secs_f64();
                let mut placed = 0u64;
                let mut t2 = t2.map(Vec::into_iter);
                for ((&i, rec), tied) in idx.iter().zip(o2).zip(ties2) {
                    let more = t2.as_mut().and_then(Iterator::next);
                    if let (Some(t), Some(more)) = (traces.as_mut(), more) {
                        t[i].candidates.extend(more.candidates);
                    }
                    if !rec.is_unmapped() {
                        placed += 1;
                        out[i] = rec;
                        ties[i] = tied;
                    }
                }
                stats.rescued += placed;
                let mut g = self.gate.lock().expect("gate poisoned");
                g.tried += idx.len() as u64;
                g.placed += placed;
            }
        }
        // the read's own read group (unaligned SAM/BAM input) travels along
        for (rec, r) in out.iter_mut().zip(reads) {
            rec.rg.clone_from(&r.rg);
        }
        for rec in &out {
            stats.reads += 1;
            if !rec.is_unmapped() {
                stats.mapped += 1;
                stats.mapq20 += (rec.mapq >= 20) as u64;
            }
        }
        let device = match (self.device_counters(), before) {
            (Some(now), Some(before)) => Some(now.since(&before)),
            _ => None,
        };
        stats.batches.push(BatchStats {
            reads: reads.len() as u64,
            seconds: t_batch.elapsed().as_secs_f64(),
            rescue_tried: stats.rescue_tried - rescue_before,
            device,
        });
        Ok((out, traces, ties))
    }

    fn device_counters(&self) -> Option<crate::gpu::GpuCounters> {
        match self.be {
            Backend::Gpu(g) => Some(g.counters()),
            Backend::CpuReference => None,
        }
    }

    /// The deeper pass for reads the first left unmapped: a wider beam, more
    /// neighbours and candidates. None when it is off or adds nothing (no
    /// tree search among the sources).
    fn rescue_depth(&self, first: &Depth) -> Option<Depth> {
        let searcher = self.searcher.as_ref()?;
        let tree = self
            .cfg
            .propose
            .iter()
            .any(|p| matches!(p, Propose::Index | Propose::Route));
        if self.cfg.rescue_beam == 0 || !tree {
            return None;
        }
        Some(Depth {
            beam: BeamConfig {
                width: self
                    .cfg
                    .rescue_beam
                    .max(first.beam.width)
                    .min(searcher.max_beam()),
            },
            read_neighbours: first.read_neighbours.saturating_mul(RESCUE_NEIGHBOURS),
            candidates: first.candidates.saturating_mul(RESCUE_CANDIDATES),
            views: Some(self.cfg.rescue_views),
        })
    }

    /// One proposal-and-verification pass over `reads` at `depth`.
    fn pass(
        &self,
        reads: &[ReadRecord],
        stats: &mut MapStats,
        trace: bool,
        depth: &Depth,
    ) -> Result<Mapped> {
        let p = self.propose(reads, depth)?;
        self.verify(reads, p, stats, trace, depth)
    }

    /// The proposal stage: windows of every mappable read → encoder →
    /// index search (or bit head) → each read's proposed (strand, start,
    /// log-weight) loci.
    fn propose(&self, reads: &[ReadRecord], depth: &Depth) -> Result<Proposals> {
        let k = self.encoder.cfg.k;
        let t_batch = std::time::Instant::now();
        let (mut t_enc, mut t_search) = (0.0f64, 0.0f64);
        // 1. windows of every mappable read
        let mut rseq = PackedSeq::default();
        let mut lowq: Vec<u32> = Vec::new();
        let mut rstart = vec![0u32; reads.len()];
        let mut windows = Vec::new();
        let mut owner: Vec<(usize, usize, usize)> = Vec::new(); // (read, offset, length)
        let mut masked: Vec<bool> = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            rstart[i] = rseq.len as u32;
            rseq.extend_ascii(&r.seq);
            mark_low_quality(
                &mut lowq,
                rstart[i] as usize,
                &r.qual,
                self.cfg.min_base_quality,
            );
            if !self.mappable(r) {
                continue;
            }
            let l = r.seq.len();
            let mut v = views::first_pass(l, k, self.cfg.stride, self.cfg.short_both_strands);
            if let Some(extra) = &depth.views {
                let more = views::rescue(l, k, &v, extra);
                v.extend(more);
            }
            for w in v {
                // a masked view embeds a copy of its window with the masked
                // bases as N, after the read (alignment reads only rstart..)
                let start = match views::masked_window(&r.seq, &w) {
                    None => rstart[i] + w.offset as u32,
                    Some(copy) => {
                        let at = rseq.len as u32;
                        rseq.extend_ascii(&copy);
                        at
                    }
                };
                windows.push(Window::new(start, w.len as u32, w.reverse));
                owner.push((i, w.offset, w.len));
                masked.push(w.mask.is_some());
            }
        }
        // 2. network proposals: (coordinate, log-weight) of each window, from
        // the head per embedding batch, from the index over the whole batch
        // (one search of many windows: fewer, fuller dispatches)
        let m = 1usize << self.cfg.flip;
        let mut per_window: Vec<Vec<(u32, f32)>> = vec![Vec::new(); windows.len()];
        let dim = self.encoder.cfg.proj_dim;
        // every chunk's embeddings gathered on the device and read once (one
        // wait for the batch, not one per chunk)
        // (whole chunks: batches of alike size take the same pooled buffer)
        let chunks = windows.len().div_ceil(EMBED_BATCH);
        let mut z_dev = self.be.zeros(chunks.max(1) * EMBED_BATCH * dim)?;
        let mut w0 = 0usize;
        for (ci, chunk) in windows.chunks(EMBED_BATCH).enumerate() {
            let n = chunk.len();
            let t0 = std::time::Instant::now();
            let mut x = self.be.zeros(n * 4 * k)?;
            self.be.onehot(&rseq, chunk, k, &mut x)?;
            let (e, z) = self
                .encoder
                .embed_batch(self.be, self.plan.as_ref(), x, n)?;
            // no wait here: the read-back of z below waits for the encoder
            // (and its time is counted as encoding too)
            t_enc += t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            if let (Some(head), true) = (self.head, self.cfg.propose.contains(&Propose::Head)) {
                let h = head.forward(self.be, &e, n)?;
                let limit = self.total.min(u32::MAX as u64) as u32;
                let cands = self
                    .be
                    .decode(&h.logits, n, head.cfg.bits, self.cfg.flip, limit)?;
                for (w, pw) in per_window[w0..w0 + n].iter_mut().enumerate() {
                    pw.extend(cands[w * m..(w + 1) * m].iter().filter(|c| c.1 > -1e30));
                }
            }
            t_search += t1.elapsed().as_secs_f64();
            let t2 = std::time::Instant::now();
            self.be.copy_into_at(&z, &mut z_dev, w0 * dim)?;
            w0 += n;
            // EMBED_STEP chunks a step: at most two steps in flight (bounded
            // memory); the wait is for the step before, so the device stays
            // busy
            if (ci + 1) % EMBED_STEP == 0 {
                self.be.end_step()?;
            }
            t_enc += t2.elapsed().as_secs_f64();
        }
        let t2 = std::time::Instant::now();
        let z_all: Vec<f32> = if windows.is_empty() {
            Vec::new()
        } else {
            self.be.read_prefix(&z_dev, windows.len() * dim)?
        };
        t_enc += t2.elapsed().as_secs_f64();
        let t1 = std::time::Instant::now();
        if let (Some(searcher), Some(index)) = (&self.searcher, self.index) {
            // similarity as a log-weight on the head's scale (τ = 0.1): cosine − 1
            // (Euclidean) or −distance (Poincaré), over τ
            let best = match self.encoder.cfg.geometry {
                crate::model::Geometry::Euclidean => 1.0,
                crate::model::Geometry::Poincare => 0.0,
            };
            // windows per read → neighbours per window (a power of two)
            // (masked views take their own, fixed number)
            let mut per_read = vec![0usize; reads.len()];
            for (&(ri, _, _), &mk) in owner.iter().zip(&masked) {
                per_read[ri] += !mk as usize;
            }
            let want: Vec<usize> = owner
                .iter()
                .zip(&masked)
                .map(|(&(ri, _, _), &mk)| {
                    if mk {
                        m.max(MASKED_NEIGHBOURS)
                    } else {
                        neighbours_per_window(m, depth.read_neighbours, per_read[ri])
                    }
                })
                .collect();
            for kind in Propose::search_kinds(&self.cfg.propose) {
                let cap = searcher.max_m(kind);
                // One search per distinct depth: few, large searches. Depths
                // up to what a tree search keeps exactly are one search at
                // the largest of them, each window taking its first results
                // (the same as a search at its own depth).
                let prefix = searcher.max_m_prefix(kind);
                let small = want
                    .iter()
                    .map(|&w| w.min(cap))
                    .filter(|&mk| mk <= prefix)
                    .max()
                    .unwrap_or(0);
                let depth_of = |w: usize| match want[w].min(cap) {
                    mk if mk <= prefix => small,
                    mk => mk,
                };
                let mut depths: Vec<usize> = (0..windows.len()).map(depth_of).collect();
                depths.sort_unstable();
                depths.dedup();
                for mk in depths {
                    let group: Vec<usize> =
                        (0..windows.len()).filter(|&w| depth_of(w) == mk).collect();
                    let mut zq = Vec::with_capacity(group.len() * dim);
                    for &w in &group {
                        zq.extend_from_slice(&z_all[w * dim..(w + 1) * dim]);
                    }
                    let near =
                        searcher.search_host_with(self.be, kind, &zq, dim, mk, &depth.beam)?;
                    for (gi, &w) in group.iter().enumerate() {
                        let pw = &mut per_window[w];
                        let own = want[w].min(cap);
                        for &(sim, j) in &near[gi * mk..gi * mk + own] {
                            if j == NONE {
                                continue;
                            }
                            let (c, pos) = index.grid.loci[j as usize];
                            let coord = (self.offsets[c as usize] + pos as u64) as u32;
                            let s = (sim - best) * 10.0;
                            pw.push((coord, s));
                            // exact copies elsewhere: verified too, so that a
                            // read from a repeat ties (MAPQ 0) even when the
                            // search found one copy
                            pw.extend(index.mates.of(j as usize).iter().map(|&g| (g, s)));
                        }
                    }
                }
            }
        }
        t_search += t1.elapsed().as_secs_f64();
        let mut props: Vec<Vec<(u32, i64, f32)>> = vec![Vec::new(); reads.len()];
        for (w, pw) in per_window.iter().enumerate() {
            let (ri, o, len) = owner[w];
            let l = reads[ri].seq.len();
            for &(c, s) in pw {
                for (strand, start) in views::read_starts(c as i64, o, len, l) {
                    props[ri].push((strand, start, s));
                }
            }
        }
        Ok(Proposals {
            rseq,
            lowq,
            rstart,
            props,
            encode_s: t_enc,
            search_s: t_search,
            host_s: (t_batch.elapsed().as_secs_f64() - t_enc - t_search).max(0.0),
        })
    }

    /// The verification stage: each read's proposals clustered into
    /// candidates, aligned on the device, and the best hit made a record.
    fn verify(
        &self,
        reads: &[ReadRecord],
        p: Proposals,
        stats: &mut MapStats,
        trace: bool,
        depth: &Depth,
    ) -> Result<Mapped> {
        let t_batch = std::time::Instant::now();
        let mut t_verify = 0.0f64;
        let Proposals {
            rseq,
            lowq,
            rstart,
            mut props,
            encode_s,
            search_s,
            host_s,
        } = p;
        // 3. candidates → alignment tasks
        let pad = self.cfg.pad as i64;
        let mut tasks: Vec<AlignTask> = Vec::new();
        let mut task_read: Vec<usize> = Vec::new();
        let mut task_start: Vec<i64> = Vec::new();
        for (ri, p) in props.iter_mut().enumerate() {
            if p.is_empty() {
                continue;
            }
            p.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.total_cmp(&a.2)));
            // clusters: (weight, strand, start of best member, best score)
            let mut clusters: Vec<(f64, u32, i64, f32)> = Vec::new();
            let mut first = (u32::MAX, i64::MIN);
            for &(strand, start, s) in p.iter() {
                let w = (s as f64).exp();
                if strand == first.0 && start - first.1 <= pad / 2 {
                    let c = clusters.last_mut().expect("cluster");
                    c.0 += w;
                    if s > c.3 {
                        c.2 = start;
                        c.3 = s;
                    }
                } else {
                    clusters.push((w, strand, start, s));
                    first = (strand, start);
                }
            }
            clusters.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            let l = reads[ri].seq.len() as i64;
            for &(_, strand, start, _) in clusters.iter().take(depth.candidates) {
                if start + l + pad < 0 || start - pad >= self.total as i64 {
                    continue;
                }
                tasks.push(AlignTask {
                    read_start: rstart[ri],
                    read_len: l as u32,
                    ref_start: (start - pad).max(0) as u32,
                    strand,
                });
                task_read.push(ri);
                task_start.push(start);
            }
        }
        // 4. verification on the device
        let ap = AlignParams {
            pad: self.cfg.pad,
            damage_len: self.cfg.damage_len,
        };
        let t2 = std::time::Instant::now();
        let results = match (&self.gpu_ref, self.be) {
            (Some(gref), Backend::Gpu(g)) => {
                align::align_gpu(g, gref, &GpuSeq::upload(g, &rseq)?, &lowq, &tasks, &ap)?
            }
            _ => align::align_cpu(&self.packed, &rseq, &lowq, &tasks, &ap),
        };
        stats.alignments += tasks.len() as u64;
        t_verify += t2.elapsed().as_secs_f64();
        let mut hits: Vec<Vec<Hit>> = (0..reads.len()).map(|_| Vec::new()).collect();
        for ((t, &(cost, d)), &ri) in tasks.iter().zip(&results).zip(&task_read) {
            let end = t.ref_start as u64 + t.read_len as u64 - 1 + d as u64;
            hits[ri].push(Hit {
                cost,
                strand: t.strand,
                end,
                task: *t,
            });
        }
        let traces = trace.then(|| self.traces(reads, &tasks, &results, &task_read, &task_start));
        // 5. records
        let mut out = Vec::with_capacity(reads.len());
        let mut ties = Vec::with_capacity(reads.len());
        for (ri, r) in reads.iter().enumerate() {
            let rec = self.record(r, &mut hits[ri], &rseq, &lowq, &ap)?;
            let mut tied = Vec::new();
            if !rec.is_unmapped() {
                // record() left the hits sorted by cost, one per locus
                let best = hits[ri][0].cost;
                tied.extend(hits[ri].iter().take_while(|h| h.cost == best).map(|h| {
                    let g = h.end.min(self.total.saturating_sub(1));
                    self.offsets.partition_point(|&o| o <= g) - 1
                }));
            }
            ties.push(tied);
            out.push(rec);
        }
        stats.encode_s += encode_s;
        stats.search_s += search_s;
        stats.verify_s += t_verify;
        stats.host_s += host_s + (t_batch.elapsed().as_secs_f64() - t_verify).max(0.0);
        Ok((out, traces, ties))
    }

    /// Per read: its difference bound and the candidates verified for it.
    fn traces(
        &self,
        reads: &[ReadRecord],
        tasks: &[AlignTask],
        results: &[(u32, u32)],
        task_read: &[usize],
        task_start: &[i64],
    ) -> Vec<ReadTrace> {
        let mut out: Vec<ReadTrace> = reads
            .iter()
            .map(|r| ReadTrace {
                max_diffs: if self.mappable(r) {
                    max_diff(r.seq.len(), self.cfg.max_diff)
                } else {
                    0
                },
                candidates: Vec::new(),
            })
            .collect();
        for (((t, &(cost, _)), &ri), &start) in
            tasks.iter().zip(results).zip(task_read).zip(task_start)
        {
            let g = start.clamp(0, self.total as i64 - 1) as u64;
            let ci = self.offsets.partition_point(|&o| o <= g) - 1;
            out[ri].candidates.push(TraceCandidate {
                contig: ci,
                pos: start - self.offsets[ci] as i64,
                reverse: t.strand == 1,
                diffs: cost.div_ceil(2),
            });
        }
        out
    }

    fn record(
        &self,
        r: &ReadRecord,
        hits: &mut Vec<Hit>,
        rseq: &PackedSeq,
        lowq: &[u32],
        ap: &AlignParams,
    ) -> Result<SamRecord> {
        let unmapped = || SamRecord::unmapped(&r.name, &r.seq, &r.qual);
        if hits.is_empty() {
            return Ok(unmapped());
        }
        // Distinct loci: tasks converging on the same end and strand are one hit.
        hits.sort_by_key(|h| (h.cost, h.strand, h.end));
        hits.dedup_by_key(|h| (h.strand, h.end));
        let best = &hits[0];
        let diffs = |c: u32| c.div_ceil(2);
        let maxd = max_diff(r.seq.len(), self.cfg.max_diff);
        if diffs(best.cost) > maxd {
            return Ok(unmapped());
        }
        let c1 = hits.iter().filter(|h| h.cost == best.cost).count();
        let c2 = hits
            .iter()
            .filter(|h| diffs(h.cost) == diffs(best.cost) + 1)
            .count();
        let Some(tr) = align::traceback(&self.packed, rseq, lowq, &best.task, ap) else {
            return Ok(unmapped());
        };
        debug_assert_eq!(tr.cost, best.cost);
        // Place on a contig; reject alignments that run off its end.
        let ci = self.offsets.partition_point(|&o| o <= tr.ref_pos as u64) - 1;
        let local = tr.ref_pos as u64 - self.offsets[ci];
        let span: u32 = tr
            .cigar
            .iter()
            .filter(|(op, _)| *op != b'I')
            .map(|(_, n)| n)
            .sum();
        if local + span as u64 > self.reference.contigs[ci].seq.len() as u64 {
            return Ok(unmapped());
        }
        let reverse = best.strand == 1;
        let (seq, qual) = if reverse {
            let mut q = r.qual.clone();
            q.reverse();
            (reverse_complement(&r.seq), q)
        } else {
            (r.seq.clone(), r.qual.clone())
        };
        // bwa's tags: the other hits as good or one difference worse are
        // listed (XA) when there are few, each traced back for its CIGAR
        let near: Vec<&Hit> = hits
            .iter()
            .skip(1)
            .filter(|h| diffs(h.cost) <= diffs(best.cost) + 1)
            .collect();
        let alternatives = if near.len() <= tags::MAX_XA {
            near.iter()
                .filter_map(|h| {
                    let t = align::traceback(&self.packed, rseq, lowq, &h.task, ap)?;
                    let c = self.offsets.partition_point(|&o| o <= t.ref_pos as u64) - 1;
                    let pos = t.ref_pos as u64 - self.offsets[c] + 1;
                    let sign = if h.strand == 1 { '-' } else { '+' };
                    Some(format!(
                        "{},{sign}{pos},{},{}",
                        self.reference.contigs[c].name,
                        tags::cigar_text(&t.cigar),
                        t.nm
                    ))
                })
                .collect()
        } else {
            Vec::new()
        };
        let extra = tags::bwa_tags(&tags::HitSummary {
            best: c1,
            suboptimal: c2,
            cigar: &tr.cigar,
            nm: tr.nm,
            cost: best.cost,
            // a second-best alignment counts when it is within the bound
            second_cost: hits.get(1).map(|h| h.cost).filter(|&c| diffs(c) <= maxd),
            alternatives,
        });
        Ok(SamRecord {
            name: r.name.clone(),
            flag: if reverse { flags::REVERSE } else { 0 },
            contig: Some(ci),
            pos: Some(local as usize),
            // bwa's scale, capped by how many places a read this short fits
            // by chance (crest verifies only a few proposed loci); a read at
            // the difference bound gets bwa's 25 whether its differences are
            // whole mismatches or damage-discounted ones past bwa's count
            mapq: approx_mapq(c1, c2, diffs(best.cost), maxd, self.cfg.error_rate).min(chance_cap(
                r.seq.len(),
                diffs(best.cost),
                self.total,
            )),
            cigar: tr.cigar,
            seq,
            qual,
            nm: Some(tr.nm as i32),
            md: Some(tr.md),
            rg: None,
            tags: extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{
        mark_low_quality, neighbours_per_window, RescueGate, RESCUE_JUDGE_AFTER, RESCUE_PROBE_EVERY,
    };

    #[test]
    fn the_rescue_gate_probes_when_the_pass_places_nothing_and_reopens() {
        let y = super::RESCUE_MIN_YIELD;
        let mut g = RescueGate::default();
        // open until RESCUE_JUDGE_AFTER were tried
        let all = g.choose(RESCUE_JUDGE_AFTER as usize, y);
        assert!(all.iter().all(|&c| c));
        g.tried += RESCUE_JUDGE_AFTER;
        assert!(!g.open(y));
        // a yield of 0 keeps it open whatever it places
        assert!(g.open(0.0));
        // then one in RESCUE_PROBE_EVERY, by position in the input
        let probe = g.choose(100, y);
        let n = probe.iter().filter(|&&c| c).count() as u64;
        assert_eq!(n, 100u64.div_ceil(RESCUE_PROBE_EVERY));
        assert!(probe[0], "eligible read 64 is a multiple of 32");
        g.tried += n;
        // a pass that places enough reopens
        g.placed = 1;
        assert!(g.open(y));
        assert!(g.choose(10, y).iter().all(|&c| c));
        // a pass that places its share stays open
        let mut h = RescueGate {
            eligible: 1000,
            tried: 1000,
            placed: 50,
        };
        assert!(h.open(y) && h.choose(5, y).iter().all(|&c| c));
    }

    #[test]
    fn low_quality_bits_follow_phred() {
        let mut m = Vec::new();
        // Phred+33: '5' = 20 (kept), '4' = 19 (low), '#' = 2 (low)
        mark_low_quality(&mut m, 30, b"5#45", 20);
        assert_eq!(m, vec![1 << 31, 1 << 0]);
        // no qualities, or a threshold of 0: nothing
        mark_low_quality(&mut m, 40, b"", 20);
        mark_low_quality(&mut m, 40, b"###", 0);
        assert_eq!(m, vec![1 << 31, 1 << 0]);
    }

    #[test]
    fn short_reads_search_deeper() {
        // a read of one window (and its reverse complement) takes 32 each
        assert_eq!(neighbours_per_window(16, 64, 2), 32);
        assert_eq!(neighbours_per_window(16, 64, 1), 64);
        // three windows: 22 needed, rounded up to a power of two
        assert_eq!(neighbours_per_window(16, 64, 3), 32);
        // long reads keep 2^flip
        assert_eq!(neighbours_per_window(16, 64, 4), 16);
        assert_eq!(neighbours_per_window(16, 64, 12), 16);
        // no floor, or a deeper base: the base
        assert_eq!(neighbours_per_window(16, 0, 1), 16);
        assert_eq!(neighbours_per_window(64, 64, 1), 64);
        assert_eq!(neighbours_per_window(16, 64, 0), 64);
    }
}
