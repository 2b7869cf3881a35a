//! Index files: safetensors holding the grid (loci, embeddings), the tree
//! (centroids per level, leaf offsets, slot permutation), the repeat
//! mates and, when trained, the router's head (`route.head.*`), with one metadata entry `crest-index` (JSON [`IndexMeta`]). The
//! bytes depend only on the contents, so the same model, reference and
//! options give the same file.

use std::path::Path;

use safetensors::tensor::Dtype;

use super::{grid::grid_loci, route, Grid, Index, IndexMeta, Mates, Pq, Tree, FORMAT};
use crate::error::{CrestError, Result};
use crate::io::tensorfile::{f32_bytes, serialize, u32_bytes, NamedBytes, TensorFile};
use crate::io::{Output, SharedBytes, Target};

/// Open an index output: a regular file (new or existing), never an input
/// or a special file. Call it before the build, so that a bad name fails at
/// once; write with [`to_bytes`] and commit when the index is ready.
pub fn open_output(path: &Path, inputs: &[&Path]) -> Result<Output> {
    let target = Target::resolve(Some(path), inputs)?;
    if target.is_stream() {
        return Err(CrestError::Invalid(format!(
            "{} is not a regular file; an index must be a file crest can load again",
            path.display()
        )));
    }
    Output::open(target)
}

/// Write `index` to `path` (temporary file in the same folder, then renamed;
/// an existing `path` that is not a regular file is refused).
pub fn save(index: &Index, path: &Path) -> Result<()> {
    let mut out = open_output(path, &[])?;
    out.write_bytes(&to_bytes(index)?)?;
    out.commit()
}

/// The index file's bytes (with the arrays' checksum in its metadata).
pub fn to_bytes(index: &Index) -> Result<Vec<u8>> {
    let named = arrays(index)?;
    let mut meta = index.meta.clone();
    meta.content_md5 = Some(content_md5(
        named
            .iter()
            .map(|(n, _, s, b)| (n.as_str(), &s[..], &b[..])),
    ));
    let meta = serde_json::to_string(&meta).map_err(|e| CrestError::Invalid(e.to_string()))?;
    serialize(&named, "crest-index", &meta, "index")
}

/// MD5 of the arrays' names, shapes and bytes, in file order.
fn content_md5<'b>(named: impl IntoIterator<Item = (&'b str, &'b [usize], &'b [u8])>) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for (name, shape, bytes) in named {
        h.update(name.as_bytes());
        for d in shape {
            h.update((*d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    format!("{:x}", h.finalize())
}

/// The names of the arrays [`arrays`] writes (or, `legacy`, older files wrote) for an index with `meta`,
/// in the checksum's order (`loci_stored`: files before the implicit grid
/// also held `grid.loci`, summed second), so that a loaded file's checksum
/// is taken over its stored bytes without rebuilding them.
fn array_names(meta: &IndexMeta, legacy: bool, loci_stored: bool) -> Vec<String> {
    let mut names: Vec<String> = match meta.pq {
        None => vec!["grid.z".into()],
        Some(_) => vec!["grid.codes".into(), "pq.codebook".into()],
    };
    if loci_stored {
        names.insert(1, "grid.loci".into());
    }
    if legacy {
        names.extend(["tree.perm".into(), "tree.leaf_offsets".into()]);
    } else {
        names.push("tree.leaves".into());
    }
    names.extend(["mates.offsets".into(), "mates.coords".into()]);
    if legacy && meta.spill > 0 {
        names.push("tree.spilled".into());
    }
    for l in 1..=meta.tree.depth {
        names.push(if meta.pq.is_some() && l == meta.tree.depth {
            "tree.leaf_codes".into()
        } else {
            format!("tree.level{l}")
        });
    }
    if let Some(r) = &meta.route {
        for (name, _, _, _) in r.head.layout() {
            names.push(format!("{}{name}", route::TENSOR_PREFIX));
        }
    }
    names
}

/// The arrays an index file holds. The grid's loci are not among them:
/// they follow from the reference's lengths, k and the stride
/// ([`grid_loci`]); the tree's slots are stored as each grid k-mer's leaves
/// (`tree.leaves`, `[grid, 1 + spill]`, u16 when there are at most 65,536
/// leaves: the slot runs follow from them, in grid order). Older files
/// stored the slot permutation, leaf offsets and spilled counts instead
/// (`tree.perm`, …); they still load ([`array_names`] lists what their
/// checksum covers), and are written anew in this form.
pub(crate) fn arrays(index: &Index) -> Result<Vec<NamedBytes<'_>>> {
    let p = index.grid.dim;
    let n = index.grid.len();
    let mut named: Vec<NamedBytes> = match &index.pq {
        None => vec![(
            "grid.z".into(),
            Dtype::F32,
            vec![n, p],
            f32_bytes(&index.grid.z).into(),
        )],
        Some((pq, codes)) => vec![
            (
                "grid.codes".into(),
                Dtype::U8,
                vec![n, pq.m],
                (&codes[..]).into(),
            ),
            (
                "pq.codebook".into(),
                Dtype::F32,
                vec![pq.m, crate::ops::pq::K, p / pq.m.max(1)],
                f32_bytes(&pq.codebook).into(),
            ),
        ],
    };
    let keep = 1 + index.meta.spill;
    let leaves = index.tree.assignments(keep)?;
    let (dt, bytes) = if index.tree.shape.leaves() <= 1 << 16 {
        (
            Dtype::U16,
            leaves
                .iter()
                .flat_map(|&l| (l as u16).to_le_bytes())
                .collect::<Vec<u8>>(),
        )
    } else {
        (Dtype::U32, u32_bytes(&leaves))
    };
    named.push(("tree.leaves".into(), dt, vec![n, keep], bytes.into()));
    named.extend([
        (
            "mates.offsets".into(),
            Dtype::U32,
            vec![index.mates.offsets.len()],
            u32_bytes(&index.mates.offsets).into(),
        ),
        (
            "mates.coords".into(),
            Dtype::U32,
            vec![index.mates.coords.len()],
            u32_bytes(&index.mates.coords).into(),
        ),
    ]);
    let depth = index.tree.centroids.len();
    for (l, c) in index.tree.centroids.iter().enumerate() {
        match &index.pq {
            // a coded index stores its leaves' centroids as codes
            Some((pq, _)) if l + 1 == depth => named.push((
                "tree.leaf_codes".into(),
                Dtype::U8,
                vec![c.len() / p.max(1), pq.m],
                pq.encode_host(c)?.into(),
            )),
            _ => named.push((
                format!("tree.level{}", l + 1),
                Dtype::F32,
                vec![c.len() / p.max(1), p],
                f32_bytes(c).into(),
            )),
        }
    }
    if let Some(r) = &index.meta.route {
        for (name, shape, _, _) in r.head.layout() {
            let v = index
                .route
                .iter()
                .find(|(nm, _)| *nm == name)
                .map(|(_, v)| v)
                .ok_or_else(|| CrestError::Invalid(format!("router tensor {name} is missing")))?;
            named.push((
                format!("{}{name}", route::TENSOR_PREFIX),
                Dtype::F32,
                shape,
                f32_bytes(v).into(),
            ));
        }
    }
    Ok(named)
}

/// Read an index file. The file is opened by memory map and the grid's
/// codes (most of a coded index) stay in the mapping: they are not copied
/// into crest's heap, and processes mapping the same index share them.
pub fn load(path: &Path) -> Result<Index> {
    let data = SharedBytes::map(path)?;
    let file = TensorFile::parse(
        path,
        &data[..],
        "crest-index",
        "crest index",
        "safetensors file without crest-index metadata: not a crest index",
    )?;
    let bad = |m: String| file.bad(m);
    let meta: IndexMeta = serde_json::from_str(&file.meta)
        .map_err(|e| bad(format!("bad crest-index metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(bad(format!(
            "index format '{}' (this crest reads {FORMAT})",
            meta.format
        )));
    }
    let f = |name: &str| file.f32s(name).map(|(_, v)| v);
    let u = |name: &str| file.u32s(name).map(|(_, v)| v);
    let lens: Vec<u64> = meta.reference.iter().map(|c| c.len).collect();
    // files before the implicit grid stored the loci
    let loci: Vec<(u32, u32)> = if file.has("grid.loci") {
        u("grid.loci")?
            .chunks_exact(2)
            .map(|w| (w[0], w[1]))
            .collect()
    } else {
        grid_loci(&lens, meta.k, meta.grid_stride)
    };
    let dim = meta.dim;
    let (z, pq) = match meta.pq {
        None => (f("grid.z")?, None),
        Some(pm) => {
            let (shape, codes) = file.u8_slice("grid.codes")?;
            let codes = match data.offset_of(codes) {
                Some(r) => data.slice(r),
                None => SharedBytes::from(codes.to_vec()),
            };
            let pq = Pq {
                m: pm.m,
                dim,
                codebook: f("pq.codebook")?,
            };
            pq.validate().map_err(|e| bad(e.to_string()))?;
            if shape != [loci.len(), pm.m] || codes.len() != loci.len() * pm.m {
                return Err(bad(format!(
                    "grid codes of shape {shape:?} do not match {} grid k-mers of {} codes",
                    loci.len(),
                    pm.m
                )));
            }
            (Vec::new(), Some((pq, codes)))
        }
    };
    if dim == 0 || (pq.is_none() && z.len() != loci.len() * dim) || loci.len() != meta.grid {
        return Err(bad(format!(
            "grid of {} loci does not match {} embedding values of dimension {dim} ({} k-mers in the metadata)",
            loci.len(),
            z.len(),
            meta.grid
        )));
    }
    if z.iter().any(|x| !x.is_finite()) {
        return Err(bad("grid embeddings hold non-finite values".into()));
    }
    // every locus inside the reference the metadata names (an edited or
    // corrupted index must not send the mapper past a contig's end)
    if let Some((i, &(c, s))) = loci.iter().enumerate().find(|(_, &(c, s))| {
        lens.get(c as usize)
            .is_none_or(|&l| s as u64 + meta.k as u64 > l)
    }) {
        return Err(bad(format!(
            "grid locus {i} (contig {c}, start {s}) is outside the {} contigs of the indexed reference",
            lens.len()
        )));
    }
    let total: u64 = lens.iter().sum();
    let centroids = (1..=meta.tree.depth)
        .map(|l| match &pq {
            Some((q, _)) if l == meta.tree.depth && file.has("tree.leaf_codes") => {
                let (shape, codes) = file.u8s("tree.leaf_codes")?;
                let leaves = meta.tree.leaves();
                if shape != [leaves, q.m] || codes.len() != leaves * q.m {
                    return Err(bad(format!(
                        "leaf centroid codes of shape {shape:?} for {leaves} leaves of {} codes",
                        q.m
                    )));
                }
                Ok(q.decode(&codes))
            }
            _ => f(&format!("tree.level{l}")),
        })
        .collect::<Result<Vec<_>>>()?;
    let legacy = file.has("tree.perm");
    let tree = if legacy {
        Tree {
            shape: meta.tree,
            centroids,
            leaf_offsets: u("tree.leaf_offsets")?,
            perm: u("tree.perm")?,
            spilled: if meta.spill > 0 {
                u("tree.spilled")?
            } else {
                Vec::new()
            },
        }
    } else {
        let keep = 1 + meta.spill;
        let (shape, leaves) = if meta.tree.leaves() <= 1 << 16 {
            file.u16s("tree.leaves")?
        } else {
            u("tree.leaves").map(|v| (vec![v.len() / keep, keep], v))?
        };
        if shape != [loci.len(), keep] || leaves.len() != loci.len() * keep {
            return Err(bad(format!(
                "tree leaves of shape {shape:?} for {} grid k-mers with {} leaves each",
                loci.len(),
                keep
            )));
        }
        if let Some(&l) = leaves.iter().find(|&&l| l as usize >= meta.tree.leaves()) {
            return Err(bad(format!(
                "tree leaves name leaf {l} of {}",
                meta.tree.leaves()
            )));
        }
        Tree::from_assignments(meta.tree, centroids, &leaves, keep)
    };
    tree.validate(loci.len(), dim)
        .map_err(|e| bad(e.to_string()))?;
    let mates = Mates {
        offsets: u("mates.offsets")?,
        coords: u("mates.coords")?,
    };
    if mates.offsets.len() != loci.len() + 1
        || mates.offsets.windows(2).any(|w| w[0] > w[1])
        || *mates.offsets.last().unwrap_or(&0) as usize != mates.coords.len()
    {
        return Err(bad("repeat table does not match the grid".into()));
    }
    if mates.coords.iter().any(|&g| g as u64 >= total) {
        return Err(bad(
            "repeat table holds a coordinate past the end of the reference".into(),
        ));
    }
    if tree.centroids.iter().flatten().any(|x| !x.is_finite()) {
        return Err(bad("tree centroids hold non-finite values".into()));
    }
    let route = match &meta.route {
        None => Vec::new(),
        Some(r) => {
            let tensors = r
                .head
                .layout()
                .into_iter()
                .map(|(name, _, _, _)| {
                    f(&format!("{}{name}", route::TENSOR_PREFIX)).map(|v| (name, v))
                })
                .collect::<Result<Vec<_>>>()?;
            route::validate(r, &tensors, &tree.shape, dim).map_err(|e| bad(e.to_string()))?;
            tensors
        }
    };
    let mut index = Index {
        meta,
        grid: Grid { loci, z, dim },
        tree,
        mates,
        route,
        pq,
    };
    if let Some(want) = &index.meta.content_md5 {
        // over the stored bytes, in the order they were summed when written
        let stored = array_names(&index.meta, legacy, file.has("grid.loci"))
            .into_iter()
            .map(|name| {
                file.raw(&name)
                    .map(|(shape, _, bytes)| (name, shape, bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        let got = content_md5(stored.iter().map(|(n, s, b)| (n.as_str(), &s[..], *b)));
        if &got != want {
            return Err(bad(format!(
                "content checksum {got} does not match the recorded {want}: the file is damaged or was edited"
            )));
        }
    }
    // a property of the file, not of the index (it is written anew on save)
    index.meta.content_md5 = None;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum of a loaded file is taken over the arrays
    /// [`array_names`] lists: it must name what [`arrays`] writes, in order.
    #[test]
    fn array_names_follow_what_is_written() {
        for (pq, spill, depth) in [(false, 0, 1), (true, 1, 2), (true, 0, 3)] {
            let shape = super::super::TreeShape { branch: 2, depth };
            let leaves = shape.leaves();
            let dim = 8;
            let n = 3 * leaves;
            let keep = 1 + spill;
            let assign: Vec<u32> = (0..n * keep).map(|i| (i % leaves) as u32).collect();
            let centroids: Vec<Vec<f32>> = (1..=depth)
                .map(|l| vec![0.5; shape.branch.pow(l as u32) * dim])
                .collect();
            let tree = Tree::from_assignments(shape, centroids, &assign, keep);
            let meta = IndexMeta {
                format: FORMAT.into(),
                model_hash: String::new(),
                k: 4,
                dim,
                geometry: crate::model::Geometry::Euclidean,
                curvature: None,
                reference: Vec::new(),
                grid_stride: 1,
                grid: n,
                tree: shape,
                iters: 1,
                seed: 0,
                repeated: 0,
                spill,
                route: None,
                pq: pq.then_some(super::super::PqMeta { m: 2 }),
                content_md5: None,
            };
            let index = Index {
                meta,
                grid: Grid {
                    loci: vec![(0, 0); n],
                    z: if pq { Vec::new() } else { vec![0.25; n * dim] },
                    dim,
                },
                tree,
                mates: Mates {
                    offsets: vec![0; n + 1],
                    coords: Vec::new(),
                },
                route: Vec::new(),
                pq: pq.then(|| {
                    (
                        Pq {
                            m: 2,
                            dim,
                            codebook: vec![0.0; 2 * crate::ops::pq::K * 4],
                        },
                        SharedBytes::from(vec![0u8; n * 2]),
                    )
                }),
            };
            let written: Vec<String> = arrays(&index)
                .unwrap()
                .into_iter()
                .map(|(name, _, _, _)| name)
                .collect();
            assert_eq!(written, array_names(&index.meta, false, false));
        }
    }
}
