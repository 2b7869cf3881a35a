//! `crest embed`: embeddings of sequences or of their k-mers.

use std::path::PathBuf;

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::{Output, ReadReader, Target};
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

/// Run `crest embed`.
pub fn embed(be: &Backend, a: &EmbedArgs) -> Result<()> {
    let mut out = Output::create(a.out.as_deref(), &[&a.model, &a.input])?;
    let safetensors = matches!(out.target(), Target::File(p) if p.extension().is_some_and(|e| e == "safetensors"));
    let (_, enc) = super::load_model(be, &a.model)?;
    let (k, p) = (enc.cfg.k, enc.cfg.proj_dim);
    let stride = a.stride.max(1);
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<f32> = Vec::new();
    let mut reader = ReadReader::open(&a.input)?;
    let mut batch = Vec::new();
    let mut empty = 0u64;
    while reader.next_batch(4096, &mut batch)? > 0 {
        let mut seq = PackedSeq::default();
        let mut windows = Vec::new();
        let mut owner = Vec::new();
        for (ri, r) in batch.iter().enumerate() {
            let base = seq.len as u32;
            seq.extend_ascii(&r.seq);
            let len = r.seq.len();
            if len == 0 {
                // nothing to embed: no row (counted and reported below)
                empty += 1;
                continue;
            }
            if len <= k {
                windows.push(Window::new(base, len as u32, false));
                owner.push((ri, 0usize));
            } else {
                for s in (0..=len - k).step_by(stride) {
                    windows.push(Window::new(base + s as u32, k as u32, false));
                    owner.push((ri, s));
                }
            }
        }
        let z = enc.embed_windows(be, &seq, &windows, &mut |_, _| {})?;
        if a.kmers {
            for (w, &(ri, s)) in owner.iter().enumerate() {
                names.push(format!("{}:{}", batch[ri].name, s + 1));
                rows.extend_from_slice(&z[w * p..(w + 1) * p]);
            }
        } else {
            let mut acc = vec![0.0f32; batch.len() * p];
            for (w, &(ri, _)) in owner.iter().enumerate() {
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
        }
        batch.clear();
    }
    if empty > 0 {
        eprintln!(
            "crest embed: {empty} empty reads in {} have no embedding (left out)",
            a.input.display()
        );
    }
    match safetensors {
        true => {
            let meta = serde_json::json!({"names": names, "model": a.model.display().to_string(), "kmers": a.kmers}).to_string();
            let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![names.len(), p],
                &bytes,
            )
            .map_err(|e| CrestError::Invalid(e.to_string()))?;
            let data = safetensors::serialize(
                [("embeddings", view)],
                Some(std::collections::HashMap::from([(
                    "crest".to_string(),
                    meta,
                )])),
            )
            .map_err(|e| CrestError::Invalid(e.to_string()))?;
            out.write_bytes(&data)?;
        }
        false => {
            // a header names the columns: the projection the index searches
            let cols: Vec<String> = (1..=p).map(|j| format!("z{j}")).collect();
            out.write_bytes(format!("name\t{}\n", cols.join("\t")).as_bytes())?;
            for (i, n) in names.iter().enumerate() {
                let vals: Vec<String> = rows[i * p..(i + 1) * p]
                    .iter()
                    .map(|v| format!("{v:.6}"))
                    .collect();
                out.write_bytes(format!("{n}\t{}\n", vals.join("\t")).as_bytes())?;
            }
        }
    }
    out.commit()?;
    eprintln!(
        "embedded {} {}",
        names.len(),
        if a.kmers { "k-mers" } else { "sequences" }
    );
    Ok(())
}
