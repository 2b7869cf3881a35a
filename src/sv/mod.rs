//! Structural variants from embedding trajectories (CReadNet's downstream
//! task): a query (assembly contigs or long reads) is cut into windows every
//! `step` bp, each window is placed on the reference by the mapper (network
//! proposal, alignment confirmation), and the placed windows — anchors — are
//! chained into collinear segments. Where the chain breaks, the pattern of
//! the segments around the break names the event:
//!
//! | pattern (query order)                    | call            |
//! |------------------------------------------|-----------------|
//! | A+ → B+, reference skips bases            | `<DEL>`         |
//! | A+ → B+, query has unplaced bases         | `<INS>`         |
//! | A+ → B+, reference steps back             | `<DUP>` (tandem)|
//! | A+ → B− → C+, B fills the gap A…C         | `<INV>`         |
//! | A+ → B → C+, A…C continuous, B elsewhere  | BND pair (translocation or dispersed copy) |
//! | anything else (other contig, lone strand flip) | BND        |
//!
//! Breakpoints are refined to the base by extending both sides of a break
//! along their diagonals (x-drop, ungapped) on the host: the work is a few
//! hundred bases per break, next to the device's embedding and alignment of
//! every window. Queries mostly reverse-complementary to the reference are
//! flipped first, so that the backbone is the forward strand.
//!
//! [`plant`] writes the simulator's altered genomes and truth VCF, [`vcf`]
//! reads and writes calls, [`eval`] scores calls against a truth, [`paf`]
//! turns minimap2 alignments into the same anchors (the alignment-based
//! baseline runs through the same chaining and calling), [`plot`] draws the
//! trajectory.

pub mod chain;
pub mod eval;
pub mod paf;
pub mod plant;
pub mod plot;
pub mod vcf;

pub use chain::{absorb_partial_views, call_query, cluster_calls, Anchor, ChainConfig, Segment};

/// Kind of structural variant.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum,
)]
pub enum SvKind {
    /// Reference bases missing from the query.
    Del,
    /// Query bases not in the reference.
    Ins,
    /// A stretch reverse-complemented in place.
    Inv,
    /// A stretch repeated in tandem.
    Dup,
    /// A novel adjacency (translocation, dispersed copy, other contig).
    #[value(alias = "tra")]
    Bnd,
}

impl SvKind {
    /// Every kind, in table order.
    pub const ALL: [SvKind; 5] = [
        SvKind::Del,
        SvKind::Ins,
        SvKind::Inv,
        SvKind::Dup,
        SvKind::Bnd,
    ];

    /// The VCF SVTYPE.
    pub fn svtype(self) -> &'static str {
        match self {
            SvKind::Del => "DEL",
            SvKind::Ins => "INS",
            SvKind::Inv => "INV",
            SvKind::Dup => "DUP",
            SvKind::Bnd => "BND",
        }
    }

    /// Parse a VCF SVTYPE (case-insensitive; TRA is read as BND).
    pub fn from_svtype(s: &str) -> Option<SvKind> {
        match s.to_ascii_uppercase().as_str() {
            "DEL" => Some(SvKind::Del),
            "INS" => Some(SvKind::Ins),
            "INV" => Some(SvKind::Inv),
            "DUP" | "DUP:TANDEM" => Some(SvKind::Dup),
            "BND" | "TRA" => Some(SvKind::Bnd),
            _ => None,
        }
    }
}

/// One structural variant, in reference coordinates.
///
/// Coordinates follow VCF for symbolic alleles: `pos` is the 1-based
/// position of the base before the event (numerically, the 0-based start of
/// the affected stretch) and `end` the 1-based last affected base (the
/// 0-based exclusive end); an insertion has `end == pos`. A BND record joins
/// the base at `pos` to the base at `mate.1` (1-based) on contig `mate.0`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SvCall {
    /// Kind.
    pub kind: SvKind,
    /// Contig index in the reference.
    pub contig: usize,
    /// VCF POS (see the type's doc).
    pub pos: u64,
    /// VCF END.
    pub end: u64,
    /// Length of the event in bp (positive; deletions are written negative in SVLEN).
    pub len: u64,
    /// Confidence interval around `pos` (bp below, bp above).
    pub cipos: (u32, u32),
    /// Confidence interval around `end`.
    pub ciend: (u32, u32),
    /// BND only: the joined base (contig index, 1-based position).
    pub mate: Option<(usize, u64)>,
    /// Queries (contigs or reads) supporting the call.
    pub support: u32,
    /// BND only: the join switches strand (the piece after the break is
    /// the reverse complement of the mate's forward strand, `N]chr:pos]`).
    pub switch: bool,
}

impl SvCall {
    /// Signed SVLEN as written to VCF (negative for deletions).
    pub fn svlen(&self) -> i64 {
        match self.kind {
            SvKind::Del => -(self.len as i64),
            _ => self.len as i64,
        }
    }
}
