//! `crest embed`: embeddings of sequences or of their k-mers.

use std::path::PathBuf;

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::{Output, ReadReader, ReadRecord, Target};
use crate::ops::encode::Window;
use crate::seq::PackedSeq;

/// Options of `crest embed`.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// FASTA/FASTQ/SAM/BAM input (.gz allowed).
    pub input: PathBuf,
    /// One embedding per k-mer (every `--stride` bp) instead of one per sequence
    /// (the normalised mean of its k-mer embeddings).
    #[arg(long)]
    pub kmers: bool,
    /// Step between k-mers (1 to 65536).
    #[arg(long, default_value_t = 1, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub stride: usize,
    /// Output: .tsv (default stdout; a `name z1 … zP` header line, then one
    /// row per sequence or k-mer) or .safetensors.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// A batch's windows: each read's k-mers every `stride` bases (a read of at
/// most k bases is one window), packed, with (read, offset) of each.
struct BatchWindows {
    seq: PackedSeq,
    windows: Vec<Window>,
    owner: Vec<(usize, usize)>,
    /// Empty reads (no window, no row).
    empty: u64,
}

fn windows_of(batch: &[ReadRecord], k: usize, stride: usize) -> BatchWindows {
    let mut b = BatchWindows {
        seq: PackedSeq::default(),
        windows: Vec::new(),
        owner: Vec::new(),
        empty: 0,
    };
    for (ri, r) in batch.iter().enumerate() {
        let base = b.seq.len as u32;
        b.seq.extend_ascii(&r.seq);
        let len = r.seq.len();
        if len == 0 {
            b.empty += 1;
        } else if len <= k {
            b.windows.push(Window::new(base, len as u32, false));
            b.owner.push((ri, 0usize));
        } else {
            for s in (0..=len - k).step_by(stride) {
                b.windows
                    .push(Window::new(base + s as u32, k as u32, false));
                b.owner.push((ri, s));
            }
        }
    }
    b
}

/// Rows of one batch: per k-mer (`--kmers`), or per read the normalised
/// mean of its k-mers'.
fn rows_of(
    batch: &[ReadRecord],
    bw: &BatchWindows,
    z: &[f32],
    p: usize,
    kmers: bool,
) -> (Vec<String>, Vec<f32>) {
    let (mut names, mut rows) = (Vec::new(), Vec::new());
    if kmers {
        for (w, &(ri, s)) in bw.owner.iter().enumerate() {
            names.push(format!("{}:{}", batch[ri].name, s + 1));
            rows.extend_from_slice(&z[w * p..(w + 1) * p]);
        }
        return (names, rows);
    }
    let mut acc = vec![0.0f32; batch.len() * p];
    for (w, &(ri, _)) in bw.owner.iter().enumerate() {
        for j in 0..p {
            acc[ri * p + j] += z[w * p + j];
        }
    }
    for (ri, r) in batch.iter().enumerate() {
        if r.seq.is_empty() {
            continue;
        }
        let v = &mut acc[ri * p..(ri + 1) * p];
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= n);
        names.push(r.name.clone());
        rows.extend_from_slice(v);
    }
    (names, rows)
}

/// The rows as safetensors (`embeddings`, names in the metadata).
fn write_safetensors(
    out: &mut Output,
    a: &EmbedArgs,
    names: &[String],
    rows: &[f32],
    p: usize,
) -> Result<()> {
    let meta = serde_json::json!({"names": names, "model": a.model.display().to_string(), "kmers": a.kmers}).to_string();
    let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![names.len(), p], &bytes)
            .map_err(|e| CrestError::Invalid(e.to_string()))?;
    let meta = std::collections::HashMap::from([("crest".to_string(), meta)]);
    let data = safetensors::serialize([("embeddings", view)], Some(meta))
        .map_err(|e| CrestError::Invalid(e.to_string()))?;
    out.write_bytes(&data)
}

/// The rows as TSV, with a header naming the columns (the projection the
/// index searches).
fn write_tsv(out: &mut Output, names: &[String], rows: &[f32], p: usize) -> Result<()> {
    let cols: Vec<String> = (1..=p).map(|j| format!("z{j}")).collect();
    out.write_bytes(format!("name\t{}\n", cols.join("\t")).as_bytes())?;
    for (i, n) in names.iter().enumerate() {
        let vals: Vec<String> = rows[i * p..(i + 1) * p]
            .iter()
            .map(|v| format!("{v:.6}"))
            .collect();
        out.write_bytes(format!("{n}\t{}\n", vals.join("\t")).as_bytes())?;
    }
    Ok(())
}

/// Run `crest embed`.
pub fn embed(be: &Backend, a: &EmbedArgs) -> Result<()> {
    let mut out = Output::create(a.out.as_deref(), &[&a.model, &a.input])?;
    let safetensors = matches!(out.target(), Target::File(p) if p.extension().is_some_and(|e| e == "safetensors"));
    let (_, enc) = super::load_model(be, &a.model)?;
    let (k, p) = (enc.cfg.k, enc.cfg.proj_dim);
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<f32> = Vec::new();
    let mut reader = ReadReader::open(&a.input)?;
    let mut batch = Vec::new();
    let mut empty = 0u64;
    while reader.next_batch(4096, &mut batch)? > 0 {
        let bw = windows_of(&batch, k, a.stride.max(1));
        empty += bw.empty;
        let z = enc.embed_windows(be, &bw.seq, &bw.windows, &mut |_, _| {})?;
        let (n, r) = rows_of(&batch, &bw, &z, p, a.kmers);
        names.extend(n);
        rows.extend(r);
        batch.clear();
    }
    if empty > 0 {
        eprintln!(
            "crest embed: {empty} empty reads in {} have no embedding (left out)",
            a.input.display()
        );
    }
    match safetensors {
        true => write_safetensors(&mut out, a, &names, &rows, p)?,
        false => write_tsv(&mut out, &names, &rows, p)?,
    }
    out.commit()?;
    let what = if a.kmers { "k-mers" } else { "sequences" };
    eprintln!("embedded {} {what}", names.len());
    Ok(())
}
