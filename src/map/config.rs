//! Mapping options: what `crest map` and the commands built on it (profile,
//! sv) set, their defaults, and where candidate loci come from.

use super::mapq;
use super::views::RescueViews;
use crate::index::SearchKind;

/// Mapping options.
#[derive(Clone, Debug)]
pub struct MapConfig {
    /// Bases between a read's windows.
    pub stride: usize,
    /// Least-confident bits flipped per window (2^flip candidates per window).
    pub flip: u32,
    /// Candidate loci verified per read (per strand hypothesis cluster).
    pub max_candidates: usize,
    /// Alignment band half-width (bp of slack around a candidate).
    pub pad: u32,
    /// Bases from either end where deamination-like mismatches cost half.
    pub damage_len: u32,
    /// bwa aln `-n`: a fraction (< 1: missing-alignment rate at 2% errors) or a count.
    pub max_diff: f64,
    /// Reads shorter than this stay unmapped.
    pub min_len: usize,
    /// Where proposals come from (any combination).
    pub propose: Vec<Propose>,
    /// Beam width of the tree search.
    pub beam: usize,
    /// Leaves the router proposes per window (a power of two).
    pub route_width: usize,
    /// Reads no longer than k are also queried as their reverse complement.
    pub short_both_strands: bool,
    /// Nearest grid k-mers searched per read at least, spread over its
    /// windows: a read with few windows (a short read) takes more
    /// neighbours per window than 2^flip, up to what the search keeps.
    pub read_neighbours: usize,
    /// Beam of a second, deeper search for the reads the first pass left
    /// unmapped (4× the neighbours and candidates too); 0 turns it off.
    pub rescue_beam: usize,
    /// Only reads up to this long get the rescue pass (short reads have few
    /// windows, so few proposals; in real libraries most unmapped reads are
    /// long ones from other genomes, where a second pass finds nothing).
    pub rescue_max_len: usize,
    /// The rescue pass keeps trying every eligible read only while it places
    /// at least this share of those it tried (after
    /// [`super::RESCUE_JUDGE_AFTER`]); below it, it probes one read in
    /// [`super::RESCUE_PROBE_EVERY`]. 0 tries every eligible read.
    pub rescue_min_yield: f64,
    /// The rescue pass's shorter views of each read (window lengths, trim,
    /// step; `lengths` 0: the first pass's windows only, searched deeper).
    pub rescue_views: RescueViews,
    /// Read bases with a Phred quality below this count a mismatch as half a
    /// difference (0: qualities ignored, as bwa aln does).
    pub min_base_quality: u8,
    /// Per-base difference rate of reads at their true locus (damage and
    /// errors together): how far a hit one difference worse undercuts the
    /// best one's MAPQ. bwa's scale at [`mapq::BWA_ERROR_RATE`]; fitted
    /// with the damage.
    pub error_rate: f64,
}

/// Where candidate loci come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Propose {
    /// Beam search down the index's k-means tree, then an exact scan of the
    /// leaves reached: the 2^flip nearest grid k-mers found there.
    #[value(alias = "tree")]
    Index,
    /// The 2^flip nearest grid k-mers by brute force over the whole grid
    /// (cost grows with the genome; the baseline).
    #[value(alias = "knn")]
    Flat,
    /// The raw-coordinate bit head's top-2^flip coordinates per window.
    Head,
    /// The index's router (a head trained on read windows to name their
    /// leaf, `crest index --route-steps`): its `--route-width` most probable
    /// leaves, scanned exactly. With `index` too, the beam's leaves and the
    /// router's are scanned together.
    Route,
}

impl Propose {
    /// The index searches a combination of sources runs: flat search, and
    /// one tree scan over the leaves that the beam and/or the router name.
    pub fn search_kinds(sources: &[Propose]) -> Vec<SearchKind> {
        let has = |p| sources.contains(&p);
        let mut kinds = Vec::new();
        if has(Propose::Flat) {
            kinds.push(SearchKind::Flat);
        }
        match (has(Propose::Index), has(Propose::Route)) {
            (true, true) => kinds.push(SearchKind::TreeRoute),
            (true, false) => kinds.push(SearchKind::Tree),
            (false, true) => kinds.push(SearchKind::Route),
            (false, false) => {}
        }
        kinds
    }
}

impl Default for MapConfig {
    fn default() -> Self {
        MapConfig {
            stride: 8,
            flip: 4,
            max_candidates: DEFAULT_CANDIDATES,
            pad: 16,
            damage_len: DEFAULT_DAMAGE_LEN,
            max_diff: 0.01,
            min_len: 20,
            propose: vec![Propose::Index],
            beam: crate::index::DEFAULT_BEAM,
            route_width: crate::index::route::DEFAULT_WIDTH,
            short_both_strands: true,
            read_neighbours: 64,
            rescue_beam: 64,
            rescue_max_len: DEFAULT_RESCUE_MAX_LEN,
            rescue_min_yield: super::RESCUE_MIN_YIELD,
            rescue_views: RescueViews::default(),
            min_base_quality: DEFAULT_MIN_BASE_QUALITY,
            error_rate: mapq::BWA_ERROR_RATE,
        }
    }
}

/// Neighbours searched per window of a read with `windows` windows: `base`
/// (2^flip), raised to the power of two that gives the read `floor`
/// neighbours in all.
pub fn neighbours_per_window(base: usize, floor: usize, windows: usize) -> usize {
    let need = floor.div_ceil(windows.max(1));
    base.max(need.next_power_of_two())
}

/// Candidate loci verified per read in the first pass: 128 rather than 64
/// found the other copies of near-repeats (REP elements) that made two of
/// four wrong E. coli placements look unique, and sent fewer reads to the
/// rescue pass, for 15% more verification time (BENCHMARKS.md, 2026-11-22).
pub const DEFAULT_CANDIDATES: usize = 128;

/// Bases from either end where damage-like mismatches cost half, unless fitted.
pub const DEFAULT_DAMAGE_LEN: u32 = 5;

/// Longest read the rescue pass searches again (bp).
pub const DEFAULT_RESCUE_MAX_LEN: usize = 50;

/// Phred quality below which a read base's mismatch costs half.
pub const DEFAULT_MIN_BASE_QUALITY: u8 = 20;
