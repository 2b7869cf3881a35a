//! A streamed, resumable index build with bounded memory, for genomes whose
//! grid embeddings do not fit in memory (a 100 Mbp genome has 12.5 M grid
//! k-mers: 6.4 GB of float embeddings).
//!
//! 1. **Head**: a sample of the grid (an even stride through it) is embedded;
//!    the tree's centroids are trained on it (the balanced k-means build of
//!    [`tree::build`]) and so is the product quantizer ([`Pq::train`]).
//! 2. **Chunks** of [`StreamOptions::chunk`] grid k-mers, one after another:
//!    embed, find each k-mer's `1 + spill` nearest leaves by a beam search of
//!    its own embedding ([`tree::nearest_leaves`]; the first is its own
//!    leaf, the others take spilled copies), and encode it. Only the leaves
//!    and the codes are kept (`4 · (1 + spill) + m` bytes per k-mer).
//! 3. **Assemble**: the leaves' slot runs (own members, then copies, each in
//!    grid order), the repeat table, the index.
//!
//! This is FAISS's IVF-PQ build: coarse centroids and codebooks from a
//! sample, every vector assigned to its nearest list. The leaves are not
//! balanced as the in-memory build's are.
//!
//! Shards (`shard = (i, n)`) build the chunks `c % n == i` into the same
//! work folder (machines that share it, or jobs one after another), and a
//! run with `merge` writes the index from them: the same bytes as a single
//! build, since every chunk file is.
//!
//! Every finished stage is a file in a work folder beside the output
//! (`OUT.parts/`: `plan.json`, `head.st`, `chunk-NNNNN.st`, each written
//! to a temporary name and renamed). A build that was stopped (killed, out
//! of time under a scheduler, or `stop_after` chunks) continues from its
//! last finished chunk with `resume`, and gives the same index as one
//! uninterrupted run: every chunk depends only on the plan and the head.

use std::path::{Path, PathBuf};

use safetensors::tensor::Dtype;

use super::grid::grid_windows;
use super::pq::Pq;
use super::tree::{self, BuildConfig, Tree, TreeShape, SPILL_WIDTH};
use super::{metric_of, repeats, Grid, Index, IndexMeta, IndexOptions, PqMeta, Progress, FORMAT};
use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::tensorfile::{f32_bytes, serialize, u32_bytes, NamedBytes, TensorFile};
use crate::io::Reference;
use crate::model::{Checkpoint, ContigInfo, Encoder, ModelMeta};
use crate::ops::index::Metric;

/// Default grid k-mers per chunk (64 MiB of 128-d embeddings at a time).
pub const DEFAULT_CHUNK: usize = 131_072;
/// Most sample points the head is trained on.
pub const MAX_SAMPLE: usize = 262_144;
/// Fewest sample points the head is trained on (all of a smaller grid).
pub const MIN_SAMPLE: usize = 65_536;
/// Sample points per leaf the head aims for, between the bounds above.
pub const SAMPLE_PER_LEAF: usize = 64;

/// Options of a streamed build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Grid k-mers per chunk.
    pub chunk: usize,
    /// The work folder (created; removed by the caller once the index is
    /// written).
    pub work: PathBuf,
    /// Continue the build recorded in `work`.
    pub resume: bool,
    /// Stop (with [`CrestError::Stopped`]) after this many chunks were
    /// built in this run: a build split over several jobs.
    pub stop_after: Option<usize>,
    /// Build only chunks `c` with `c % n == i` (shard `i` of `n`) and return
    /// no index; shards may run at once on machines that share the work
    /// folder, and a run with `merge` then writes the index.
    pub shard: Option<(usize, usize)>,
    /// Build no chunk: every chunk must be in the work folder (the shards'
    /// merge); a missing one is an error naming it.
    pub merge: bool,
}

impl StreamOptions {
    /// The work folder for an index written to `out`: `OUT.parts`.
    pub fn work_for(out: &Path) -> PathBuf {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".parts");
        out.with_file_name(name)
    }
}

/// Everything a streamed build's files depend on: a resumed build must
/// match it exactly.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Plan {
    format: String,
    model_hash: String,
    reference: Vec<ContigInfo>,
    grid: usize,
    grid_stride: usize,
    branch: usize,
    depth: usize,
    iters: usize,
    seed: u64,
    spill: usize,
    pq: usize,
    chunk: usize,
    sample: usize,
}

const PLAN_FORMAT: &str = "crest-index-build/1";

/// The message of a build stopped on purpose (`stop_after`).
pub const STOPPED: &str = "stopped after the requested number of chunks";

/// Build an index chunk by chunk (see the module documentation). Needs
/// `opts.pq > 0` (float embeddings of a large genome are what this avoids).
/// A shard (`so.shard`) builds its chunks and returns None.
pub fn build(
    be: &Backend,
    ck: &Checkpoint,
    enc: &Encoder,
    reference: &Reference,
    opts: &IndexOptions,
    so: &StreamOptions,
    progress: Progress<'_>,
) -> Result<Option<Index>> {
    tree::check_spill(opts.spill)?;
    if let Some((i, n)) = so.shard {
        if n == 0 || i >= n {
            return Err(CrestError::Invalid(format!(
                "shard {i}/{n}: shards are numbered 0 to n − 1"
            )));
        }
    }
    if opts.pq == 0 {
        return Err(CrestError::Invalid(
            "a streamed index build stores codes: give --pq M (M > 0)".into(),
        ));
    }
    if so.chunk == 0 {
        return Err(CrestError::Invalid("chunks of 0 grid k-mers".into()));
    }
    let metric = metric_of(be, enc)?;
    let k = enc.cfg.k;
    let dim = enc.cfg.proj_dim;
    let (all, windows, loci) = grid_windows(reference, k, opts.grid_stride)?;
    let n = windows.len();
    let shape = match opts.depth {
        Some(depth) => TreeShape {
            branch: opts.branch,
            depth,
        },
        None => TreeShape::for_points(n, opts.branch, opts.leaf),
    };
    shape.validate()?;
    let sample = (shape.leaves() * SAMPLE_PER_LEAF)
        .clamp(MIN_SAMPLE, MAX_SAMPLE)
        .min(n);
    let plan = Plan {
        format: PLAN_FORMAT.into(),
        model_hash: ck.encoder_hash(),
        reference: ModelMeta::contigs_of(reference),
        grid: n,
        grid_stride: opts.grid_stride.max(1),
        branch: shape.branch,
        depth: shape.depth,
        iters: opts.iters,
        seed: opts.seed,
        spill: opts.spill,
        pq: opts.pq,
        chunk: so.chunk,
        sample,
    };
    let work = Work::open(&so.work, &plan, so.resume || so.merge, so.shard.is_some())?;

    // 1. the head: tree centroids and codebook from a sample
    let (centroids, pq) = match work.load_head(&plan, dim)? {
        Some(h) => {
            progress("sample", 1, 1);
            h
        }
        None => {
            let step = n.div_ceil(sample).max(1);
            let picked: Vec<_> = windows.iter().step_by(step).copied().collect();
            let z = enc.embed_windows(be, &all, &picked, &mut |d, t| progress("sample", d, t))?;
            let cfg = BuildConfig {
                shape,
                iters: opts.iters,
                seed: opts.seed,
            };
            let t = tree::build(be, &z, dim, metric, &cfg, &mut |d, t| {
                progress("tree", d, t)
            })?;
            progress("codebook", 0, 1);
            let pq = Pq::train(be, &z, dim, opts.pq, opts.seed)?;
            let mut centroids = t.centroids;
            // leaves' centroids as the file will store them (codes)
            if let Some(last) = centroids.last_mut() {
                *last = pq.round(be, last)?;
            }
            progress("codebook", 1, 1);
            work.save_head(&centroids, &pq)?;
            (centroids, pq)
        }
    };
    let coarse = Tree {
        shape,
        centroids,
        leaf_offsets: vec![0; shape.leaves() + 1],
        perm: Vec::new(),
        spilled: Vec::new(),
    };

    // 2. chunks
    let keep = 1 + opts.spill;
    let chunks = n.div_ceil(so.chunk);
    let mut built = 0;
    let mut leaves = Vec::with_capacity(n * keep);
    let mut codes = Vec::with_capacity(n * opts.pq);
    for c in 0..chunks {
        let (lo, hi) = (c * so.chunk, ((c + 1) * so.chunk).min(n));
        if so.shard.is_some_and(|(i, n)| c % n != i) {
            continue;
        }
        let (l, q) = match work.load_chunk(c, hi - lo, keep, opts.pq)? {
            Some(part) => part,
            None if so.merge => {
                return Err(CrestError::Invalid(format!(
                    "{} has no chunk {c} of {chunks}: a shard has not finished (run the shards, then merge)",
                    so.work.display()
                )))
            }
            None => {
                if so.stop_after.is_some_and(|s| built >= s) {
                    return Err(CrestError::Stopped(format!(
                        "{STOPPED}: {c} of {chunks} chunks are in {}; run the same command with --resume to go on",
                        so.work.display()
                    )));
                }
                let z = enc.embed_windows(be, &all, &windows[lo..hi], &mut |_, _| {})?;
                let cfg = tree::NearestConfig {
                    keep,
                    width: SPILL_WIDTH.max(keep),
                    skip_empty: false,
                };
                let l = tree::nearest_leaves(be, &coarse, &z, dim, metric, &cfg, &mut |_, _| {})?;
                let q = pq.encode(be, &z)?;
                work.save_chunk(c, &l, &q)?;
                built += 1;
                (l, q)
            }
        };
        progress("chunks", hi, n);
        if so.shard.is_some() {
            continue;
        }
        leaves.extend(l);
        codes.extend(q);
    }
    if so.shard.is_some() {
        return Ok(None);
    }

    // 3. assemble
    progress("repeats", 0, 1);
    let tree = Tree::from_assignments(shape, coarse.centroids, &leaves, keep);
    let mates = repeats::find(reference, &loci, k);
    progress("repeats", 1, 1);
    Ok(Some(Index {
        meta: IndexMeta {
            format: FORMAT.into(),
            model_hash: plan.model_hash,
            k,
            dim,
            geometry: enc.cfg.geometry,
            curvature: match metric {
                Metric::Cosine => None,
                Metric::Poincare(c) => Some(c),
            },
            reference: plan.reference,
            grid_stride: plan.grid_stride,
            grid: n,
            tree: shape,
            iters: opts.iters,
            seed: opts.seed,
            repeated: mates.repeated(),
            spill: opts.spill,
            route: None,
            pq: Some(PqMeta { m: opts.pq }),
            content_md5: None,
        },
        grid: Grid {
            loci,
            z: Vec::new(),
            dim,
        },
        tree,
        mates,
        route: Vec::new(),
        pq: Some((pq, codes.into())),
    }))
}

/// The work folder of a streamed build.
struct Work {
    dir: PathBuf,
}

impl Work {
    /// Open (or create) the work folder of `plan`. `shared`: other shards
    /// may be creating it at the same moment.
    fn open(dir: &Path, plan: &Plan, resume: bool, shared: bool) -> Result<Work> {
        let plan_path = dir.join("plan.json");
        let text =
            serde_json::to_string_pretty(plan).map_err(|e| CrestError::Invalid(e.to_string()))?;
        let created = match std::fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(CrestError::io(dir, e)),
        };
        if created || (shared && !plan_path.exists()) {
            // a shard racing another writes the same plan
            write_atomic(&plan_path, text.as_bytes())?;
        } else {
            if !resume && !shared {
                return Err(CrestError::Invalid(format!(
                    "{} holds an interrupted index build: add --resume to continue it, or remove the folder to start again",
                    dir.display()
                )));
            }
            let have =
                std::fs::read_to_string(&plan_path).map_err(|e| CrestError::io(&plan_path, e))?;
            let old: Plan = serde_json::from_str(&have).map_err(|e| {
                CrestError::Invalid(format!("{}: not a build plan: {e}", plan_path.display()))
            })?;
            if &old != plan {
                return Err(CrestError::Invalid(format!(
                    "{} was started with other inputs or options ({}); remove the folder to build anew",
                    dir.display(),
                    plan_diff(&old, plan)
                )));
            }
            if !shared {
                eprintln!("crest index: resuming the build in {}", dir.display());
            }
        }
        Ok(Work {
            dir: dir.to_path_buf(),
        })
    }

    fn load_head(&self, plan: &Plan, dim: usize) -> Result<Option<(Vec<Vec<f32>>, Pq)>> {
        let path = self.dir.join("head.st");
        let Some(data) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let file = TensorFile::parse(
            &path,
            &data,
            "crest-index-head",
            "index build head",
            "not an index build head",
        )?;
        let centroids = (1..=plan.depth)
            .map(|l| file.f32s(&format!("tree.level{l}")).map(|(_, v)| v))
            .collect::<Result<Vec<_>>>()?;
        for (l, c) in centroids.iter().enumerate() {
            if c.len() != plan.branch.pow(l as u32 + 1) * dim {
                return Err(file.bad(format!("level {} has {} values", l + 1, c.len())));
            }
        }
        let pq = Pq {
            m: plan.pq,
            dim,
            codebook: file.f32s("pq.codebook")?.1,
        };
        pq.validate().map_err(|e| file.bad(e.to_string()))?;
        Ok(Some((centroids, pq)))
    }

    fn save_head(&self, centroids: &[Vec<f32>], pq: &Pq) -> Result<()> {
        let mut named: Vec<NamedBytes> = centroids
            .iter()
            .enumerate()
            .map(|(l, c)| {
                (
                    format!("tree.level{}", l + 1),
                    Dtype::F32,
                    vec![c.len()],
                    f32_bytes(c).into(),
                )
            })
            .collect();
        named.push((
            "pq.codebook".into(),
            Dtype::F32,
            vec![pq.codebook.len()],
            f32_bytes(&pq.codebook).into(),
        ));
        let bytes = serialize(&named, "crest-index-head", "{}", "index build head")?;
        write_atomic(&self.dir.join("head.st"), &bytes)
    }

    fn chunk_path(&self, c: usize) -> PathBuf {
        self.dir.join(format!("chunk-{c:05}.st"))
    }

    fn load_chunk(
        &self,
        c: usize,
        n: usize,
        keep: usize,
        m: usize,
    ) -> Result<Option<(Vec<u32>, Vec<u8>)>> {
        let path = self.chunk_path(c);
        let Some(data) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let file = TensorFile::parse(
            &path,
            &data,
            "crest-index-chunk",
            "index build chunk",
            "not an index build chunk",
        )?;
        let leaves = file.u32s("leaves")?.1;
        let codes = file.u8s("codes")?.1;
        if leaves.len() != n * keep || codes.len() != n * m {
            return Err(file.bad(format!(
                "{} leaves and {} codes for {n} grid k-mers",
                leaves.len(),
                codes.len()
            )));
        }
        Ok(Some((leaves, codes)))
    }

    fn save_chunk(&self, c: usize, leaves: &[u32], codes: &[u8]) -> Result<()> {
        let named: Vec<NamedBytes> = vec![
            (
                "leaves".into(),
                Dtype::U32,
                vec![leaves.len()],
                u32_bytes(leaves).into(),
            ),
            ("codes".into(), Dtype::U8, vec![codes.len()], codes.into()),
        ];
        let bytes = serialize(&named, "crest-index-chunk", "{}", "index build chunk")?;
        write_atomic(&self.chunk_path(c), &bytes)
    }
}

/// What differs between two plans, for the refusal message.
fn plan_diff(old: &Plan, new: &Plan) -> String {
    let a = serde_json::to_value(old).unwrap_or_default();
    let b = serde_json::to_value(new).unwrap_or_default();
    let mut diffs = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, va) in a {
            if b.get(k) != Some(va) {
                let show = |v: Option<&serde_json::Value>| {
                    let s = v.map(|v| v.to_string()).unwrap_or_default();
                    if s.len() > 60 {
                        format!("{}…", &s[..s.floor_char_boundary(60)])
                    } else {
                        s
                    }
                };
                diffs.push(format!(
                    "{k}: {} then, {} now",
                    show(Some(va)),
                    show(b.get(k))
                ));
            }
        }
    }
    diffs.join("; ")
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CrestError::io(path, e)),
    }
}

/// Write `bytes` to a temporary name beside `path`, flush it to disk, and
/// rename it: a killed build leaves whole files or none.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    // unique per process: shards may write the same file at once
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| CrestError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| CrestError::io(&tmp, e))?;
    f.sync_all().map_err(|e| CrestError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CrestError::io(path, e))
}
