//! The streaming stage of `crest map`: batches of reads parsed on one thread,
//! mapped on the device, written (and traced, and counted into a damage
//! profile) on another, in order. The command opens every input and output
//! first; this stage only moves records.

use std::sync::mpsc::{sync_channel, SyncSender};

use super::{MapStats, Mapper, ReadTrace};
use crate::damage::DamageProfile;
use crate::error::{CrestError, Result};
use crate::io::sam::qname_problem;
use crate::io::{Output, ReadReader, ReadRecord, Reference, SamRecord, SamWriter};

/// The `--trace` output: one line per read and candidate.
pub struct TraceOut {
    /// The open trace file.
    pub out: Output,
    /// Contig names, by index.
    pub contigs: Vec<String>,
}

impl TraceOut {
    fn push(&mut self, reads: &[ReadRecord], traces: &[ReadTrace]) -> Result<()> {
        for (r, t) in reads.iter().zip(traces) {
            super::trace::write_read(&mut self.out, &r.name, t, &self.contigs)
                .map_err(|e| self.out.error(e))?;
        }
        Ok(())
    }
}

/// Where mapped batches go.
pub struct Sinks<'a> {
    /// The alignments.
    pub writer: &'a mut SamWriter,
    /// `--trace`, when asked for.
    pub trace: Option<&'a mut TraceOut>,
    /// `--damage-profile`, when asked for.
    pub damage: Option<&'a mut DamageProfile>,
}

/// How the stream runs.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// Reads per batch (at least 1).
    pub batch: usize,
    /// With 2 or more, parsing and writing run beside the device work.
    pub threads: usize,
    /// Fit damage and error rate on the first batch (`--damage-len auto`).
    pub fit_first: bool,
}

type Batch = Result<Vec<ReadRecord>>;
type Mapped = (Vec<ReadRecord>, Vec<SamRecord>, Vec<ReadTrace>);

/// Map every read of `readers` (in order) into `sinks`; returns the counts.
pub fn stream(
    mapper: &mut Mapper,
    readers: Vec<ReadReader>,
    sinks: Sinks,
    reference: &Reference,
    opts: StreamOptions,
) -> Result<MapStats> {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "map {spinner} {pos} reads [{elapsed_precise}] {msg}",
        )
        .expect("template"),
    );
    let mut job = Job {
        mapper,
        pb: &pb,
        fit_pending: opts.fit_first,
        traced: sinks.trace.is_some(),
        stats: MapStats::default(),
    };
    let batch = opts.batch.max(1);
    if opts.threads >= 2 {
        job.threaded(readers, batch, sinks, reference)?;
    } else {
        job.serial(readers, batch, sinks, reference)?;
    }
    pb.finish_and_clear();
    Ok(job.stats)
}

struct Job<'j, 'a> {
    mapper: &'j mut Mapper<'a>,
    pb: &'j indicatif::ProgressBar,
    fit_pending: bool,
    traced: bool,
    stats: MapStats,
}

impl Job<'_, '_> {
    /// One batch: the library fit first when pending, then the mapping.
    fn map(&mut self, b: &[ReadRecord]) -> Result<(Vec<SamRecord>, Vec<ReadTrace>)> {
        if std::mem::take(&mut self.fit_pending) {
            let m = &mut *self.mapper;
            self.pb.suspend(|| fit_damage(m, b))?;
        }
        let r = if self.traced {
            self.mapper.map_batch_traced(b, &mut self.stats)?
        } else {
            (self.mapper.map_batch(b, &mut self.stats)?, Vec::new())
        };
        self.pb.set_position(self.stats.reads);
        Ok(r)
    }

    /// Parsing, mapping and writing on three threads.
    fn threaded(
        &mut self,
        readers: Vec<ReadReader>,
        batch: usize,
        sinks: Sinks,
        reference: &Reference,
    ) -> Result<()> {
        let Sinks {
            writer,
            trace,
            mut damage,
        } = sinks;
        std::thread::scope(|s| -> Result<()> {
            let (rtx, rrx) = sync_channel::<Batch>(2);
            let (wtx, wrx) = sync_channel::<Mapped>(2);
            s.spawn(move || read_batches(readers, batch, &rtx));
            let writer_thread = s.spawn(move || write_batches(wrx, writer, trace));
            let mut result = Ok(());
            for b in rrx {
                match b.and_then(|b| self.map(&b).map(|(r, t)| (b, r, t))) {
                    Ok((reads, recs, traces)) => {
                        if let Some(d) = damage.as_deref_mut() {
                            recs.iter().for_each(|r| d.add(r, reference));
                        }
                        self.pb.set_message(format!("{} mapped", self.stats.mapped));
                        if wtx.send((reads, recs, traces)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            drop(wtx);
            let wres = writer_thread
                .join()
                .map_err(|_| CrestError::Invalid("writer thread panicked".into()))?;
            result.and(wres)
        })
    }

    /// Mapping and writing on this thread, parsing on another.
    fn serial(
        &mut self,
        readers: Vec<ReadReader>,
        batch: usize,
        sinks: Sinks,
        reference: &Reference,
    ) -> Result<()> {
        let Sinks {
            writer,
            mut trace,
            mut damage,
        } = sinks;
        let (tx, rx) = sync_channel::<Batch>(1);
        std::thread::scope(|s| -> Result<()> {
            s.spawn(move || read_batches(readers, batch, &tx));
            for b in rx {
                let b = b?;
                let (recs, traces) = self.map(&b)?;
                if let Some(t) = trace.as_deref_mut() {
                    t.push(&b, &traces)?;
                }
                for r in recs {
                    if let Some(d) = damage.as_deref_mut() {
                        d.add(&r, reference);
                    }
                    writer.push(r)?;
                }
            }
            Ok(())
        })
    }
}

/// The writer thread: records (and traces) in batch order.
fn write_batches(
    rx: std::sync::mpsc::Receiver<Mapped>,
    writer: &mut SamWriter,
    mut trace: Option<&mut TraceOut>,
) -> Result<()> {
    for (reads, recs, traces) in rx {
        if let Some(t) = trace.as_deref_mut() {
            t.push(&reads, &traces)?;
        }
        for r in recs {
            writer.push(r)?;
        }
    }
    Ok(())
}

/// The parsing thread: batches of `batch` reads, every input in turn; a
/// read name SAM cannot hold is an error naming its file and record.
fn read_batches(readers: Vec<ReadReader>, batch: usize, tx: &SyncSender<Batch>) {
    for mut r in readers {
        let f = r.path().to_path_buf();
        let mut seen = 0u64;
        loop {
            let mut v = Vec::with_capacity(batch);
            match r.next_batch(batch, &mut v) {
                Ok(0) => break,
                Ok(_) => {
                    // a name SAM cannot hold is an error of this input record
                    let bad = v.iter().enumerate().find_map(|(i, rec)| {
                        qname_problem(&rec.name).map(|m| (seen + i as u64 + 1, m))
                    });
                    if let Some((record, message)) = bad {
                        let _ = tx.send(Err(CrestError::Format {
                            path: f.clone(),
                            record,
                            message,
                        }));
                        return;
                    }
                    seen += v.len() as u64;
                    if tx.send(Ok(v)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    }
}

/// Fit damage and error rate on the first batch and say what was chosen.
fn fit_damage(mapper: &mut Mapper, reads: &[ReadRecord]) -> Result<()> {
    let fit = mapper.fit_library(reads)?;
    match (&fit.damage, fit.error_rate) {
        (Some(d), Some(e)) => eprintln!(
            "crest map: {}; {:.4} differences per base",
            d.summary(),
            e
        ),
        _ => eprintln!(
            "crest map: {} confident alignments in the first batch, too few to fit the library (needs {}); damage length {}",
            fit.confident,
            super::DAMAGE_FIT_MIN_READS,
            mapper.cfg.damage_len
        ),
    }
    Ok(())
}
