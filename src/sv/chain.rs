//! Anchors → collinear segments → breakpoints → calls (see [`crate::sv`]).

use super::{SvCall, SvKind};
use crate::io::Reference;
use crate::seq::complement;

/// A query stretch placed on the reference: query bases
/// `q_start..q_end` map to reference position `k + q` (forward) or `k − q`
/// (reverse strand), with `k_start` valid at the first base and `k_end` at
/// the last (they differ when the placement spans indels, as a long
/// alignment does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// First query base (0-based).
    pub q_start: u32,
    /// One past the last query base.
    pub q_end: u32,
    /// Contig index in the reference.
    pub contig: usize,
    /// The query stretch is the reverse complement of the reference.
    pub reverse: bool,
    /// Diagonal at `q_start`.
    pub k_start: i64,
    /// Diagonal at `q_end − 1`.
    pub k_end: i64,
}

impl Anchor {
    /// An anchor from an alignment of query bases `q_start..q_start+len`
    /// whose reference span (0-based, forward strand) starts at `ref_pos`
    /// and covers `ref_span` bases.
    pub fn from_alignment(
        q_start: u32,
        len: u32,
        contig: usize,
        reverse: bool,
        ref_pos: u64,
        ref_span: u64,
    ) -> Anchor {
        let (qs, qe) = (q_start as i64, (q_start + len) as i64);
        let (rs, re) = (ref_pos as i64, (ref_pos + ref_span) as i64);
        let (k_start, k_end) = if reverse {
            // query qs ↔ reference re − 1; query qe − 1 ↔ reference rs
            (re - 1 + qs, rs + qe - 1)
        } else {
            (rs - qs, re - qe)
        };
        Anchor {
            q_start,
            q_end: q_start + len,
            contig,
            reverse,
            k_start,
            k_end,
        }
    }

    /// The same anchor seen from the reverse complement of a query of
    /// length `qlen`.
    pub fn flipped(&self, qlen: u32) -> Anchor {
        let l = qlen as i64 - 1;
        // forward k + q = k + (l − q') → reverse with k' = k + l, and back
        let f = |k: i64| if self.reverse { k - l } else { k + l };
        Anchor {
            q_start: qlen - self.q_end,
            q_end: qlen - self.q_start,
            contig: self.contig,
            reverse: !self.reverse,
            k_start: f(self.k_end),
            k_end: f(self.k_start),
        }
    }
}

/// A collinear run of anchors: one placement of a query stretch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Contig index.
    pub contig: usize,
    /// Reverse strand.
    pub reverse: bool,
    /// First query base.
    pub q_start: u32,
    /// One past the last query base.
    pub q_end: u32,
    /// Diagonal at the first base.
    pub k_start: i64,
    /// Diagonal at the last base.
    pub k_end: i64,
    /// Anchors merged into it.
    pub anchors: u32,
}

impl Segment {
    fn from_anchor(a: &Anchor) -> Segment {
        Segment {
            contig: a.contig,
            reverse: a.reverse,
            q_start: a.q_start,
            q_end: a.q_end,
            k_start: a.k_start,
            k_end: a.k_end,
            anchors: 1,
        }
    }

    /// Reference position of query base `q` on the diagonal `k`.
    fn at(&self, k: i64, q: i64) -> i64 {
        if self.reverse {
            k - q
        } else {
            k + q
        }
    }

    /// Reference bases covered, `[lo, hi)`.
    pub fn ref_span(&self) -> (i64, i64) {
        let a = self.at(self.k_start, self.q_start as i64);
        let b = self.at(self.k_end, self.q_end as i64 - 1);
        (a.min(b), a.max(b) + 1)
    }

    /// `other` continues this segment: same contig and strand, diagonals
    /// within `tol`, and it does not start before this one.
    fn continued_by(&self, contig: usize, reverse: bool, k: i64, q_start: u32, tol: i64) -> bool {
        self.contig == contig
            && self.reverse == reverse
            && (k - self.k_end).abs() <= tol
            && q_start >= self.q_start
    }
}

/// Chaining and calling options.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Diagonal drift (bp) still read as one segment; events shorter than
    /// this are not seen.
    pub tolerance: i64,
    /// Segments with fewer anchors are dropped as misplacements.
    pub min_anchors: u32,
    /// Smallest event reported (bp).
    pub min_size: u64,
    /// How far (bp) the two estimates of one breakpoint may differ for a
    /// three-segment pattern (inversion, translocation) to be recognised.
    pub slack: i64,
    /// X-drop of the breakpoint extension (match +1, mismatch −3).
    pub xdrop: i32,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            tolerance: 30,
            min_anchors: 1,
            min_size: 50,
            slack: 100,
            xdrop: 20,
        }
    }
}

/// Chain anchors (any order) into segments, in query order.
pub fn chain(anchors: &[Anchor], cfg: &ChainConfig) -> Vec<Segment> {
    let mut sorted = anchors.to_vec();
    sorted.sort_by_key(|a| (a.q_start, a.q_end, a.contig, a.reverse, a.k_start));
    let mut segs: Vec<Segment> = Vec::new();
    for a in &sorted {
        match segs.last_mut() {
            Some(s) if s.continued_by(a.contig, a.reverse, a.k_start, a.q_start, cfg.tolerance) => {
                s.q_end = s.q_end.max(a.q_end);
                s.k_end = a.k_end;
                s.anchors += 1;
            }
            _ => segs.push(Segment::from_anchor(a)),
        }
    }
    // lone misplacements out, then neighbours that were split by them rejoin
    segs.retain(|s| s.anchors >= cfg.min_anchors);
    let mut merged: Vec<Segment> = Vec::with_capacity(segs.len());
    for s in segs {
        match merged.last_mut() {
            Some(m) if m.continued_by(s.contig, s.reverse, s.k_start, s.q_start, cfg.tolerance) => {
                m.q_end = m.q_end.max(s.q_end);
                m.k_end = s.k_end;
                m.anchors += s.anchors;
            }
            _ => merged.push(s),
        }
    }
    merged
}

/// Where the placement of one segment ends and the next begins, refined to
/// the base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Junction {
    /// One past the last query base of the first segment.
    pub xa: i64,
    /// First query base of the second segment.
    pub xb: i64,
    /// Reference position of query base `xa − 1` on the first segment.
    pub a_last: i64,
    /// Reference position of query base `xb` on the second segment.
    pub b_first: i64,
    /// Bases at the break that both placements explain (microhomology).
    pub homology: u32,
}

fn matches(query: &[u8], q: i64, contig: &[u8], r: i64, reverse: bool) -> Option<bool> {
    if q < 0 || r < 0 || q as usize >= query.len() || r as usize >= contig.len() {
        return None;
    }
    let rb = contig[r as usize];
    let rb = if reverse { complement(rb) } else { rb };
    let qb = query[q as usize];
    Some(qb == rb && qb != b'N')
}

/// Refine the break between consecutive segments `a` and `b`: extend `a`
/// rightwards and `b` leftwards along their end diagonals (ungapped, x-drop)
/// and keep where each scored best.
pub fn junction(
    a: &Segment,
    b: &Segment,
    query: &[u8],
    reference: &Reference,
    cfg: &ChainConfig,
) -> Junction {
    const INSIDE: i64 = 32;
    let ca = &reference.contigs[a.contig].seq;
    let cb = &reference.contigs[b.contig].seq;
    // a: from inside its last placed bases to at most b's end
    let start = (a.q_end as i64 - INSIDE).max(a.q_start as i64);
    let limit = (b.q_end as i64).max(a.q_end as i64);
    let (mut score, mut best, mut xa) = (0i32, 0i32, start);
    for q in start..limit {
        let Some(m) = matches(query, q, ca, a.at(a.k_end, q), a.reverse) else {
            break;
        };
        score += if m { 1 } else { -3 };
        if score > best {
            best = score;
            xa = q + 1;
        }
        if score < best - cfg.xdrop {
            break;
        }
    }
    // b: from inside its first placed bases down to at most a's start
    let start = (b.q_start as i64 + INSIDE).min(b.q_end as i64);
    let floor = (a.q_start as i64).min(b.q_start as i64);
    let (mut score, mut best, mut xb) = (0i32, 0i32, start);
    let mut q = start - 1;
    while q >= floor {
        let Some(m) = matches(query, q, cb, b.at(b.k_start, q), b.reverse) else {
            break;
        };
        score += if m { 1 } else { -3 };
        if score > best {
            best = score;
            xb = q;
        }
        if score < best - cfg.xdrop {
            break;
        }
        q -= 1;
    }
    let mut xa = xa.max(a.q_start as i64 + 1);
    let xb = xb.min(b.q_end as i64 - 1);
    // bases both sides explain (microhomology): the break could be anywhere
    // in them; left-normalised as VCF wants, the first segment gives them up
    let homology = (xa - xb).max(0);
    if homology > 0 {
        xa = xb.max(a.q_start as i64 + 1);
    }
    Junction {
        xa,
        xb,
        a_last: a.at(a.k_end, xa - 1),
        b_first: b.at(b.k_start, xb),
        homology: homology as u32,
    }
}

fn interval_call(kind: SvKind, contig: usize, lo: i64, hi: i64, len: u64) -> SvCall {
    SvCall {
        kind,
        contig,
        pos: lo.max(0) as u64,
        end: hi.max(lo).max(0) as u64,
        len,
        cipos: (0, 0),
        ciend: (0, 0),
        mate: None,
        support: 1,
        switch: false,
    }
}

fn bnd(contig: usize, pos1: i64, mate_contig: usize, mate_pos1: i64, switch: bool) -> SvCall {
    SvCall {
        kind: SvKind::Bnd,
        contig,
        pos: pos1.max(1) as u64,
        end: pos1.max(1) as u64,
        len: 0,
        cipos: (0, 0),
        ciend: (0, 0),
        mate: Some((mate_contig, mate_pos1.max(1) as u64)),
        support: 1,
        switch,
    }
}

/// The call of a single break between `a` and `b` (no pattern around it):
/// deletion, insertion or tandem duplication on one contig and strand,
/// otherwise a novel adjacency. `None` when the break is below `min_size`.
/// Microhomology at the break widens the confidence intervals.
fn single_call(a: &Segment, b: &Segment, j: &Junction, cfg: &ChainConfig) -> Option<SvCall> {
    let mut c = single_call_at(a, b, j, cfg)?;
    c.cipos = (0, j.homology);
    if matches!(c.kind, SvKind::Del | SvKind::Dup) {
        c.ciend = (0, j.homology);
    }
    Some(c)
}

fn single_call_at(a: &Segment, b: &Segment, j: &Junction, cfg: &ChainConfig) -> Option<SvCall> {
    let min = cfg.min_size as i64;
    if a.contig != b.contig || a.reverse != b.reverse {
        // the base after a's last joins b's first (1-based positions)
        return Some(bnd(
            a.contig,
            j.a_last + 1,
            b.contig,
            j.b_first + 1,
            a.reverse != b.reverse,
        ));
    }
    // reference bases skipped along the strand, and query bases unplaced
    let gap = if a.reverse {
        j.a_last - j.b_first - 1
    } else {
        j.b_first - j.a_last - 1
    };
    let qgap = j.xb - j.xa;
    let (lo_after_a, hi_before_b) = if a.reverse {
        (j.b_first + 1, j.a_last)
    } else {
        (j.a_last + 1, j.b_first)
    };
    if gap >= min && gap - qgap.max(0) >= min {
        return Some(interval_call(
            SvKind::Del,
            a.contig,
            lo_after_a,
            hi_before_b,
            gap as u64,
        ));
    }
    if gap <= -min {
        // the reference steps back: the stretch between is read twice
        let (lo, hi) = if a.reverse {
            (j.a_last, j.b_first + 1)
        } else {
            (j.b_first, j.a_last + 1)
        };
        return Some(interval_call(
            SvKind::Dup,
            a.contig,
            lo,
            hi,
            (hi - lo) as u64,
        ));
    }
    let ins = qgap - gap.max(0);
    if ins >= min {
        let t = if a.reverse { j.a_last } else { j.a_last + 1 };
        let mut c = interval_call(SvKind::Ins, a.contig, t, t, ins as u64);
        c.end = c.pos;
        return Some(c);
    }
    None
}

fn spread(a: i64, b: i64) -> (i64, (u32, u32)) {
    let mid = (a + b).div_euclid(2);
    let (lo, hi) = (a.min(b), a.max(b));
    (mid, ((mid - lo) as u32, (hi - mid) as u32))
}

/// `A+ → B− → C+` with B filling A…C: the inversion `[s, e)`.
fn inversion(
    a: &Segment,
    b: &Segment,
    c: &Segment,
    j1: &Junction,
    j2: &Junction,
    cfg: &ChainConfig,
) -> Option<SvCall> {
    if a.contig != b.contig
        || b.contig != c.contig
        || a.reverse != c.reverse
        || a.reverse == b.reverse
    {
        return None;
    }
    // estimates of s and e from both breaks (forward backbone; mirrored on reverse)
    let (s1, e1, s2, e2) = if !a.reverse {
        (j1.a_last + 1, j1.b_first + 1, j2.a_last, j2.b_first)
    } else {
        (j2.b_first + 1, j2.a_last + 1, j1.b_first, j1.a_last)
    };
    if (s1 - s2).abs() > cfg.slack || (e1 - e2).abs() > cfg.slack {
        return None;
    }
    let (s, cis) = spread(s1, s2);
    let (e, cie) = spread(e1, e2);
    if e - s < cfg.min_size as i64 {
        return None;
    }
    let mut call = interval_call(SvKind::Inv, a.contig, s, e, (e - s) as u64);
    call.cipos = cis;
    call.ciend = cie;
    Some(call)
}

/// `A → B → C` with A…C continuous and B placed elsewhere: B's stretch was
/// pasted in. Returns the two adjacencies and B's source stretch.
fn pasted(
    a: &Segment,
    b: &Segment,
    c: &Segment,
    j1: &Junction,
    j2: &Junction,
    cfg: &ChainConfig,
) -> Option<([SvCall; 2], (usize, i64, i64))> {
    if a.contig != c.contig || a.reverse != c.reverse {
        return None;
    }
    // A's end and C's start must meet as if B were not there
    let gap = if a.reverse {
        j1.a_last - j2.b_first - 1
    } else {
        j2.b_first - j1.a_last - 1
    };
    if gap.abs() > cfg.slack {
        return None;
    }
    let (blo, bhi) = (j1.b_first.min(j2.a_last), j1.b_first.max(j2.a_last) + 1);
    if bhi - blo < cfg.min_size as i64 {
        return None;
    }
    let first = bnd(
        a.contig,
        j1.a_last + 1,
        b.contig,
        j1.b_first + 1,
        a.reverse != b.reverse,
    );
    let second = bnd(
        b.contig,
        j2.a_last + 1,
        c.contig,
        j2.b_first + 1,
        b.reverse != c.reverse,
    );
    Some(([first, second], (b.contig, blo, bhi)))
}

/// Segments of one query and the calls their breaks make. `query` must be
/// oriented so that its backbone is forward (see [`call_query`]).
pub fn calls_from_segments(
    segs: &[Segment],
    query: &[u8],
    reference: &Reference,
    cfg: &ChainConfig,
) -> Vec<SvCall> {
    let joins: Vec<Junction> = segs
        .windows(2)
        .map(|w| junction(&w[0], &w[1], query, reference, cfg))
        .collect();
    let mut out = Vec::new();
    let mut sources: Vec<(usize, i64, i64)> = Vec::new();
    let mut i = 0;
    while i < joins.len() {
        if i + 1 < joins.len() {
            let (a, b, c) = (&segs[i], &segs[i + 1], &segs[i + 2]);
            if let Some(inv) = inversion(a, b, c, &joins[i], &joins[i + 1], cfg) {
                out.push(inv);
                i += 2;
                continue;
            }
            if let Some((pair, src)) = pasted(a, b, c, &joins[i], &joins[i + 1], cfg) {
                // a cut-and-paste reads two ways (X moved past Y, or Y
                // before X): keep the one that moved the shorter stretch
                let next = (i + 2 < joins.len())
                    .then(|| pasted(b, c, &segs[i + 3], &joins[i + 1], &joins[i + 2], cfg))
                    .flatten();
                let shorter_next = next.is_some_and(|(_, s2)| s2.2 - s2.1 < src.2 - src.1);
                if !shorter_next {
                    out.extend(pair);
                    sources.push(src);
                    i += 2;
                    continue;
                }
            }
        }
        if let Some(call) = single_call(&segs[i], &segs[i + 1], &joins[i], cfg) {
            out.push(call);
        }
        i += 1;
    }
    // a deletion where a pasted stretch came from is the other end of a
    // translocation, not a loss: its adjacencies are the BND pair
    out.retain(|c| {
        c.kind != SvKind::Del
            || !sources.iter().any(|&(ctg, lo, hi)| {
                ctg == c.contig
                    && (lo - c.pos as i64).abs() <= cfg.slack
                    && (hi - c.end as i64).abs() <= cfg.slack
            })
    });
    out
}

/// Everything one query gives: its segments (in the query's own
/// orientation) and its calls.
#[derive(Clone, Debug, Default)]
pub struct QueryCalls {
    /// Collinear segments, in query order.
    pub segments: Vec<Segment>,
    /// The query was read as its reverse complement (mostly reverse strand).
    pub flipped: bool,
    /// Calls.
    pub calls: Vec<SvCall>,
}

/// Chain one query's anchors and call its breaks. A query placed mostly on
/// the reverse strand is flipped first so that its backbone is forward.
pub fn call_query(
    query: &[u8],
    anchors: &[Anchor],
    reference: &Reference,
    cfg: &ChainConfig,
) -> QueryCalls {
    let rev: u64 = anchors
        .iter()
        .filter(|a| a.reverse)
        .map(|a| (a.q_end - a.q_start) as u64)
        .sum();
    let fwd: u64 = anchors
        .iter()
        .filter(|a| !a.reverse)
        .map(|a| (a.q_end - a.q_start) as u64)
        .sum();
    let flipped = rev > fwd;
    let segments = chain(anchors, cfg);
    let calls = if flipped {
        let qlen = query.len() as u32;
        let fl: Vec<Anchor> = anchors.iter().map(|a| a.flipped(qlen)).collect();
        let rc = crate::seq::reverse_complement(query);
        calls_from_segments(&chain(&fl, cfg), &rc, reference, cfg)
    } else {
        calls_from_segments(&segments, query, reference, cfg)
    };
    QueryCalls {
        segments,
        flipped,
        calls,
    }
}

/// The confidence interval around `at` that covers every member's
/// interval (position, (bp below, bp above)).
fn union_ci(at: u64, members: impl Iterator<Item = (u64, (u32, u32))>) -> (u32, u32) {
    let (lo, hi) = members.fold((at, at), |(lo, hi), (p, (below, above))| {
        (
            lo.min(p.saturating_sub(below as u64)),
            hi.max(p + above as u64),
        )
    });
    ((at - lo) as u32, (hi - at) as u32)
}

/// Merge calls of many queries (reads) that describe the same event: same
/// kind and contig, both ends (and the mate) within `dist` bp. The merged
/// call takes the median coordinates, the union of the intervals as its
/// confidence intervals, and the summed support. Sorted by contig and
/// position.
pub fn cluster_calls(mut calls: Vec<SvCall>, dist: u64) -> Vec<SvCall> {
    calls.sort_by_key(|c| (c.contig, c.kind, c.pos, c.end));
    let near = |a: &SvCall, b: &SvCall| {
        a.kind == b.kind
            && a.switch == b.switch
            && a.contig == b.contig
            && b.pos.abs_diff(a.pos) <= dist
            && b.end.abs_diff(a.end) <= dist
            && match (a.mate, b.mate) {
                (Some((c1, p1)), Some((c2, p2))) => c1 == c2 && p1.abs_diff(p2) <= dist,
                (None, None) => true,
                _ => false,
            }
    };
    let mut groups: Vec<Vec<SvCall>> = Vec::new();
    for c in calls {
        match groups.last_mut() {
            Some(g) if near(&g[0], &c) => g.push(c),
            _ => groups.push(vec![c]),
        }
    }
    let mut out: Vec<SvCall> = groups
        .into_iter()
        .map(|g| {
            let med = |f: &dyn Fn(&SvCall) -> u64| {
                let mut v: Vec<u64> = g.iter().map(f).collect();
                v.sort_unstable();
                v[v.len() / 2]
            };
            let pos = med(&|c| c.pos);
            let end = med(&|c| c.end).max(pos);
            SvCall {
                kind: g[0].kind,
                contig: g[0].contig,
                pos,
                end,
                len: med(&|c| c.len),
                cipos: union_ci(pos, g.iter().map(|c| (c.pos, c.cipos))),
                ciend: union_ci(end, g.iter().map(|c| (c.end, c.ciend))),
                mate: g[0]
                    .mate
                    .map(|(mc, _)| (mc, med(&|c| c.mate.map_or(0, |m| m.1)))),
                support: g.iter().map(|c| c.support).sum(),
                switch: g[0].switch,
            }
        })
        .collect();
    out.sort_by_key(|c| (c.contig, c.pos, c.kind, c.end));
    out
}

/// Reads that span only part of a complex event see a simpler one: a read
/// over one end of an inversion sees a strand switch (BND), a read over one
/// junction of a translocation sees a deletion or duplication. After
/// clustering, such partial views fold into the event they belong to (their
/// support is added to it): a BND whose two ends lie within `dist` bp of an
/// inversion's two ends, and a deletion or duplication whose two ends lie
/// within `dist` bp of other breakends' positions or mates. Two reciprocal
/// breakends (a→b and b→a, more than `dist` apart) become the inversion
/// `[a, b)` they are the ends of.
pub fn absorb_partial_views(calls: Vec<SvCall>, dist: u64) -> Vec<SvCall> {
    let near = |a: u64, b: u64| a.abs_diff(b) <= dist;
    let mut calls = calls;
    let mut gone = vec![false; calls.len()];
    let mut gained = vec![0u32; calls.len()];
    for i in 0..calls.len() {
        let c = &calls[i];
        let target = match (c.kind, c.mate) {
            (SvKind::Bnd, Some((mc, mp))) => calls.iter().position(|v| {
                v.kind == SvKind::Inv
                    && v.contig == c.contig
                    && mc == v.contig
                    && ((near(c.pos, v.pos) && near(mp, v.end))
                        || (near(c.pos, v.end) && near(mp, v.pos)))
            }),
            (SvKind::Del | SvKind::Dup, _) => {
                let site = |p: u64| {
                    calls.iter().position(|v| {
                        v.kind == SvKind::Bnd
                            && ((v.contig == c.contig && near(v.pos, p))
                                || v.mate.is_some_and(|(mc, mp)| mc == c.contig && near(mp, p)))
                    })
                };
                match (site(c.pos), site(c.end)) {
                    (Some(a), Some(_)) => Some(a),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(t) = target {
            gone[i] = true;
            gained[t] += c.support;
        }
    }
    for (c, g) in calls.iter_mut().zip(&gained) {
        c.support += g;
    }
    let mut out: Vec<SvCall> = calls
        .into_iter()
        .zip(gone)
        .filter_map(|(c, g)| (!g).then_some(c))
        .collect();
    // short (aDNA) reads see an inversion only as its two strand switches,
    // each from reads over one end: reciprocal breakends a→b and b→a
    // (within `dist`) on one contig are that inversion
    let mut i = 0;
    while i < out.len() {
        let partner = (out[i].kind == SvKind::Bnd)
            .then(|| {
                let (c, m) = (&out[i], out[i].mate);
                out.iter().enumerate().position(|(j, d)| {
                    j != i
                        && c.switch
                        && d.switch
                        && d.kind == SvKind::Bnd
                        && d.contig == c.contig
                        && m.is_some_and(|(mc, mp)| mc == c.contig && near(mp, d.pos))
                        && d.mate
                            .is_some_and(|(mc, mp)| mc == c.contig && near(mp, c.pos))
                        && c.pos.abs_diff(d.pos) > dist
                })
            })
            .flatten();
        if let Some(j) = partner {
            let (a, b) = (out[i].clone(), out[j].clone());
            let (lo, hi) = (a.pos.min(b.pos), a.pos.max(b.pos));
            out[i] = SvCall {
                kind: SvKind::Inv,
                contig: a.contig,
                pos: lo,
                end: hi,
                len: hi - lo,
                cipos: (a.cipos.0.max(b.cipos.0), a.cipos.1.max(b.cipos.1)),
                ciend: (a.cipos.0.max(b.cipos.0), a.cipos.1.max(b.cipos.1)),
                mate: None,
                support: a.support + b.support,
                switch: false,
            };
            out.remove(j);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::reference::Contig;
    use crate::rng::Rng;

    fn genome(n: usize, seed: u64) -> Vec<u8> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| b"ACGT"[r.below(4) as usize]).collect()
    }

    fn reference(seq: &[u8]) -> Reference {
        Reference {
            contigs: vec![Contig {
                name: "chr".into(),
                seq: seq.to_vec(),
                md5: String::new(),
            }],
        }
    }

    /// Perfect anchors of `window` bp every `step` bp for a query built from
    /// pieces (reference start, length, reverse).
    fn build(
        r: &[u8],
        pieces: &[(usize, usize, bool)],
        window: u32,
        step: u32,
    ) -> (Vec<u8>, Vec<Anchor>) {
        let mut q = Vec::new();
        let mut placed: Vec<(u32, usize, bool)> = Vec::new(); // query start of piece
        for &(s, l, rev) in pieces {
            placed.push((q.len() as u32, s, rev));
            let part = &r[s..s + l];
            if rev {
                q.extend(crate::seq::reverse_complement(part));
            } else {
                q.extend_from_slice(part);
            }
        }
        let mut anchors = Vec::new();
        let mut w = 0u32;
        while w + window <= q.len() as u32 {
            // the piece that holds the whole window, if any
            for (pi, &(qs, s, rev)) in placed.iter().enumerate() {
                let l = pieces[pi].1 as u32;
                if w >= qs && w + window <= qs + l {
                    let off = (w - qs) as u64;
                    let ref_pos = if rev {
                        (s as u64 + l as u64) - off - window as u64
                    } else {
                        s as u64 + off
                    };
                    anchors.push(Anchor::from_alignment(
                        w,
                        window,
                        0,
                        rev,
                        ref_pos,
                        window as u64,
                    ));
                }
            }
            w += step;
        }
        (q, anchors)
    }

    #[test]
    fn anchor_diagonals_and_flip() {
        let a = Anchor::from_alignment(10, 50, 0, false, 1000, 50);
        assert_eq!((a.k_start, a.k_end), (990, 990));
        let b = Anchor::from_alignment(10, 50, 0, true, 1000, 50);
        // query 10 ↔ ref 1049; query 59 ↔ ref 1000
        assert_eq!(b.k_start - 10, 1049);
        assert_eq!(b.k_end - 59, 1000);
        let f = a.flipped(100);
        assert!(f.reverse);
        assert_eq!((f.q_start, f.q_end), (40, 90));
        // rc query base 40 is the complement of original base 59 ↔ ref 1049
        assert_eq!(f.k_start - 40, 1049);
        assert_eq!(f.flipped(100), a);
    }

    #[test]
    fn collinear_query_has_no_calls() {
        let r = genome(20_000, 1);
        let rf = reference(&r);
        let (q, an) = build(&r, &[(1000, 8000, false)], 64, 32);
        let out = call_query(&q, &an, &rf, &ChainConfig::default());
        assert_eq!(out.segments.len(), 1);
        assert!(out.calls.is_empty(), "{:?}", out.calls);
        // the same query reverse-complemented: flipped, still nothing
        let rc = crate::seq::reverse_complement(&q);
        let fl: Vec<Anchor> = an.iter().map(|a| a.flipped(q.len() as u32)).collect();
        let out = call_query(&rc, &fl, &rf, &ChainConfig::default());
        assert!(out.flipped);
        assert!(out.calls.is_empty());
    }

    #[test]
    fn deletion_insertion_duplication() {
        let r = genome(30_000, 2);
        let rf = reference(&r);
        let cfg = ChainConfig::default();
        // deletion of [5000, 6500)
        let (q, an) = build(&r, &[(2000, 3000, false), (6500, 4000, false)], 64, 40);
        let c = call_query(&q, &an, &rf, &cfg).calls;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SvKind::Del);
        assert!(
            c[0].pos.abs_diff(5000) <= 3 && c[0].end.abs_diff(6500) <= 3,
            "{c:?}"
        );
        assert!(c[0].len.abs_diff(1500) <= 3, "{c:?}");
        // tandem duplication of [4000, 5000)
        let (q, an) = build(&r, &[(2000, 3000, false), (4000, 4000, false)], 64, 40);
        let c = call_query(&q, &an, &rf, &cfg).calls;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SvKind::Dup);
        assert!(
            c[0].pos.abs_diff(4000) <= 3 && c[0].end.abs_diff(5000) <= 3,
            "{c:?}"
        );
        // insertion of 700 foreign bases at 5000
        let ins = genome(700, 99);
        let mut q = r[2000..5000].to_vec();
        q.extend_from_slice(&ins);
        q.extend_from_slice(&r[5000..9000]);
        let (_, mut an) = build(&r, &[(2000, 3000, false)], 64, 40);
        let (_, an2) = build(&r, &[(5000, 4000, false)], 64, 40);
        an.extend(an2.iter().map(|a| Anchor {
            q_start: a.q_start + 3700,
            q_end: a.q_end + 3700,
            k_start: a.k_start - 3700,
            k_end: a.k_end - 3700,
            ..*a
        }));
        let c = call_query(&q, &an, &rf, &cfg).calls;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SvKind::Ins);
        assert!(c[0].pos.abs_diff(5000) <= 2, "{c:?}");
        assert!(c[0].len.abs_diff(700) <= 4, "{c:?}");
    }

    #[test]
    fn inversion_found_with_exact_breakpoints() {
        let r = genome(30_000, 3);
        let rf = reference(&r);
        let (q, an) = build(
            &r,
            &[(1000, 4000, false), (5000, 2345, true), (7345, 5000, false)],
            64,
            50,
        );
        let c = call_query(&q, &an, &rf, &ChainConfig::default()).calls;
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SvKind::Inv);
        assert!(
            c[0].pos.abs_diff(5000) <= 3 && c[0].end.abs_diff(7345) <= 3,
            "{c:?}"
        );
    }

    #[test]
    fn translocation_is_a_bnd_pair_without_a_deletion() {
        let r = genome(40_000, 4);
        let rf = reference(&r);
        // [5000, 7000) cut and pasted at 20000
        let (q, an) = build(
            &r,
            &[
                (1000, 4000, false),
                (7000, 13_000, false),
                (5000, 2000, false),
                (20_000, 5000, false),
            ],
            64,
            50,
        );
        let c = call_query(&q, &an, &rf, &ChainConfig::default()).calls;
        assert!(c.iter().all(|c| c.kind == SvKind::Bnd), "{c:?}");
        assert_eq!(c.len(), 2, "{c:?}");
        let first = c
            .iter()
            .find(|c| c.pos.abs_diff(20_000) <= 3)
            .expect("insertion site");
        assert!(first.mate.unwrap().1.abs_diff(5001) <= 3, "{c:?}");
        let second = c
            .iter()
            .find(|c| c.pos.abs_diff(7000) <= 3)
            .expect("end of the pasted stretch");
        assert!(second.mate.unwrap().1.abs_diff(20_001) <= 3, "{c:?}");
    }

    #[test]
    fn a_lone_misplaced_anchor_is_dropped_when_asked() {
        let r = genome(20_000, 5);
        let rf = reference(&r);
        let (q, mut an) = build(&r, &[(1000, 6000, false)], 64, 32);
        an.push(Anchor::from_alignment(3200, 64, 0, false, 15_000, 64));
        let cfg = ChainConfig {
            min_anchors: 2,
            ..ChainConfig::default()
        };
        let out = call_query(&q, &an, &rf, &cfg);
        assert_eq!(out.segments.len(), 1);
        assert!(out.calls.is_empty());
    }

    #[test]
    fn clustering_merges_reads_of_one_event() {
        let mk = |pos: u64, end: u64| SvCall {
            kind: SvKind::Del,
            contig: 0,
            pos,
            end,
            len: end - pos,
            cipos: (0, 0),
            ciend: (0, 0),
            mate: None,
            support: 1,
            switch: false,
        };
        let v = vec![
            mk(1000, 2000),
            mk(1004, 2003),
            mk(998, 1999),
            mk(5000, 6000),
        ];
        let c = cluster_calls(v, 50);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].pos, c[0].end, c[0].support), (1000, 2000, 3));
        assert_eq!(c[0].cipos, (2, 4));
        assert_eq!(c[1].support, 1);
    }

    #[test]
    fn partial_views_fold_into_their_event() {
        let mk = |kind, pos: u64, end: u64, mate: Option<u64>| SvCall {
            kind,
            contig: 0,
            pos,
            end,
            len: end.saturating_sub(pos),
            cipos: (0, 0),
            ciend: (0, 0),
            mate: mate.map(|m| (0, m)),
            support: 2,
            switch: false,
        };
        let calls = vec![
            mk(SvKind::Inv, 8859, 12732, None),
            mk(SvKind::Bnd, 8845, 8845, Some(12729)),
            mk(SvKind::Bnd, 16074, 16074, Some(29586)),
            mk(SvKind::Del, 16073, 29576, None),
            mk(SvKind::Bnd, 34239, 34239, Some(16111)),
            mk(SvKind::Dup, 16119, 34271, None),
            mk(SvKind::Del, 40000, 45000, None),
        ];
        let out = absorb_partial_views(calls, 100);
        let kinds: Vec<SvKind> = out.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![SvKind::Inv, SvKind::Bnd, SvKind::Bnd, SvKind::Del]
        );
        assert_eq!(out[0].support, 4);
        assert_eq!(out[1].support + out[2].support, 8);
        assert_eq!(out[3].pos, 40000);
        // the two ends of an inversion seen by different short reads
        let sw = |mut c: SvCall| {
            c.switch = true;
            c
        };
        let pair = vec![
            sw(mk(SvKind::Bnd, 27554, 27554, Some(27881))),
            sw(mk(SvKind::Bnd, 27884, 27884, Some(27553))),
            sw(mk(SvKind::Bnd, 50000, 50000, Some(90000))),
        ];
        // a short translocation's reciprocal pair does not switch strand: kept
        let kept = absorb_partial_views(
            vec![
                mk(SvKind::Bnd, 20000, 20000, Some(5001)),
                mk(SvKind::Bnd, 5080, 5080, Some(20001)),
            ],
            100,
        );
        assert!(kept.iter().all(|c| c.kind == SvKind::Bnd) && kept.len() == 2);
        let out = absorb_partial_views(pair, 100);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].kind, out[0].pos, out[0].end, out[0].support),
            (SvKind::Inv, 27554, 27884, 4)
        );
        assert_eq!(out[1].kind, SvKind::Bnd);
    }
}
