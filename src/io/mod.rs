//! File input and output through noodles: reference FASTA, streamed reads
//! (FASTQ, FASTA, SAM, BAM; plain, gzip or BGZF), and outputs (SAM/BAM; every file crest writes goes through [`output`]).

pub mod bytes;
pub mod detect;
pub mod gz;
pub mod output;
pub mod reads;
pub mod reference;
pub mod sam;
pub mod sam_writer;
pub mod sort;
pub mod tensorfile;

pub use bytes::SharedBytes;
pub use detect::{detect_format, is_stdin, open_input, open_text, rereadable, Format};
pub use output::{Output, OutputDir, Target};
pub use reads::{ReadReader, ReadRecord};
pub use reference::{md5_hex, Contig, Reference};
pub use sam::{IndexFormat, SamFormat, SamRecord, SortOrder, TagValue};
pub use sam_writer::SamWriter;
pub use sort::{SortOptions, Sorter};
