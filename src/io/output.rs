//! Output files, safely: the one place where crest opens something to write.
//!
//! * `-` (or no path) is standard output.
//! * A path that names a special file (`/dev/null`, a FIFO, a terminal, a
//!   character device) is written through, streaming; it is never replaced.
//! * A symlink is followed: its target is written, the link stays a link.
//! * A regular file (or a new name) is written under a hidden temporary name
//!   in the same folder (`.NAME.partial-PID`) and renamed into place only by
//!   [`Output::commit`], so an interrupted run never leaves a file that looks
//!   complete. The temporary file is removed when the `Output` is dropped
//!   without a commit (an error) and, once [`install_signal_cleanup`] has run,
//!   on SIGINT, SIGTERM and SIGHUP.
//! * An output that is one of the command's inputs is refused before anything
//!   is written.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{CrestError, Result};

/// Temporary files not yet committed, removed on a fatal signal.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remove `p` (a file or a folder) if a fatal signal ends crest before
/// [`forget_on_signal`] is called for it: for scratch files and folders.
pub fn remove_on_signal(p: &Path) {
    register(p);
}

/// Undo [`remove_on_signal`].
pub fn forget_on_signal(p: &Path) {
    unregister(p);
}

fn register(p: &Path) {
    if let Ok(mut v) = PENDING.lock() {
        v.push(p.to_path_buf());
    }
}

fn unregister(p: &Path) {
    if let Ok(mut v) = PENDING.lock() {
        v.retain(|q| q != p);
    }
}

/// Remove every pending temporary file (and folder) now.
fn remove_pending() {
    if let Ok(v) = PENDING.lock() {
        for p in v.iter() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Block SIGINT, SIGTERM and SIGHUP in this thread (and so in every thread
/// started after it) and start a thread that waits for them: on one, it
/// removes the pending temporary outputs and ends the process by the same
/// signal. Call it first thing in `main`, before any other thread starts.
/// Child processes get a clean signal mask (the standard library resets it).
#[cfg(unix)]
pub fn install_signal_cleanup() {
    // SAFETY: plain libc signal-mask calls on a zeroed, initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let waiter = std::thread::Builder::new()
            .name("crest-signals".into())
            .spawn(move || loop {
                let mut sig: libc::c_int = 0;
                if libc::sigwait(&set, &mut sig) != 0 {
                    continue;
                }
                remove_pending();
                // Die by the same signal, so the parent sees the usual status.
                libc::signal(sig, libc::SIG_DFL);
                let mut one: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut one);
                libc::sigaddset(&mut one, sig);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
                libc::raise(sig);
                libc::_exit(128 + sig);
            });
        if waiter.is_err() {
            // No thread: undo the mask so that the signals still stop crest.
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

/// On platforms without POSIX signals the temporary files are removed on
/// error only.
#[cfg(not(unix))]
pub fn install_signal_cleanup() {}

/// Restore the default SIGPIPE action, so that `crest … | head` ends quietly
/// like other command-line tools instead of failing on a broken pipe.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Follow symlinks (also dangling ones) to the path that will be written.
fn follow_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => match std::fs::read_link(&p) {
                Ok(t) => {
                    p = if t.is_absolute() {
                        t
                    } else {
                        p.parent().unwrap_or(Path::new("")).join(t)
                    };
                }
                Err(_) => break,
            },
            _ => break,
        }
    }
    p
}

/// True when `a` and `b` are the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok(),
        _ => false,
    }
}

/// What an output path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// An existing special file (device, FIFO, socket), written through.
    Special(PathBuf),
    /// A regular file, new or existing (the path after following symlinks).
    File(PathBuf),
}

impl Target {
    /// Classify `path` (None or `-` is stdout). Refuses a folder and an
    /// output that is one of `inputs`.
    pub fn resolve(path: Option<&Path>, inputs: &[&Path]) -> Result<Target> {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(Target::Stdout);
        };
        let real = follow_links(path);
        let bad = |m: &str| CrestError::Invalid(format!("output {}: {m}", path.display()));
        if real.as_os_str().is_empty() || real.file_name().is_none() {
            return Err(bad("not a file name"));
        }
        for input in inputs {
            if same_file(&real, input) {
                return Err(bad(&format!(
                    "is also an input ({}); crest never writes over its inputs",
                    input.display()
                )));
            }
        }
        match std::fs::metadata(&real) {
            Ok(md) if md.is_dir() => Err(bad("is a folder")),
            Ok(md) if !md.is_file() => Ok(Target::Special(real)),
            _ => Ok(Target::File(real)),
        }
    }

    /// The name to show in messages.
    pub fn display(&self) -> String {
        match self {
            Target::Stdout => "standard output".into(),
            Target::Special(p) | Target::File(p) => p.display().to_string(),
        }
    }

    /// True for stdout and special files (no name to tell a format by).
    pub fn is_stream(&self) -> bool {
        !matches!(self, Target::File(_))
    }
}

/// An output being written: see the module documentation.
pub struct Output {
    target: Target,
    tmp: Option<PathBuf>,
    w: Option<BufWriter<Box<dyn Write + Send>>>,
}

impl Output {
    /// Open `path` for writing (None or `-`: stdout), refusing `inputs`. For a
    /// regular file this creates the temporary file at once, so an output in
    /// a missing or read-only folder fails before any work is done.
    pub fn create(path: Option<&Path>, inputs: &[&Path]) -> Result<Output> {
        let target = Target::resolve(path, inputs)?;
        Self::open(target)
    }

    /// Open an already resolved target.
    pub fn open(target: Target) -> Result<Output> {
        let (raw, tmp): (Box<dyn Write + Send>, Option<PathBuf>) = match &target {
            Target::Stdout => (Box::new(std::io::stdout()), None),
            Target::Special(p) => {
                let f = OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| CrestError::io(p, e))?;
                (Box::new(f), None)
            }
            Target::File(p) => {
                let tmp = temp_name(p);
                let f = File::create(&tmp).map_err(|e| CrestError::io(p, e))?;
                register(&tmp);
                (Box::new(f), Some(tmp))
            }
        };
        Ok(Output {
            target,
            tmp,
            w: Some(BufWriter::with_capacity(1 << 20, raw)),
        })
    }

    /// Where this output goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// An I/O error on this output, named.
    pub fn error(&self, e: std::io::Error) -> CrestError {
        match &self.target {
            Target::Stdout => CrestError::io("-", e),
            Target::Special(p) | Target::File(p) => CrestError::io(p, e),
        }
    }

    /// Write all of `data`.
    pub fn write_bytes(&mut self, data: &[u8]) -> Result<()> {
        let r = self.w.as_mut().map(|w| w.write_all(data));
        match r {
            Some(Ok(())) | None => Ok(()),
            Some(Err(e)) => Err(self.error(e)),
        }
    }

    /// Flush and move the file into place (a no-op rename for streams).
    pub fn commit(mut self) -> Result<()> {
        if let Some(mut w) = self.w.take() {
            if let Err(e) = w.flush() {
                return Err(self.error(e));
            }
        }
        if let (Some(tmp), Target::File(dst)) = (&self.tmp, &self.target) {
            std::fs::rename(tmp, dst).map_err(|e| CrestError::io(dst, e))?;
            unregister(tmp);
            self.tmp = None;
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.w.as_mut() {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("output already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.w.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.w.take();
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(&tmp);
            unregister(&tmp);
        }
    }
}

fn temp_name(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Check now that `path` can be written (and is not one of `inputs`) for an
/// output produced at the end of a long run; nothing is left behind.
pub fn check(path: &Path, inputs: &[&Path]) -> Result<()> {
    Output::create(Some(path), inputs).map(drop)
}

/// Write a whole file at once through an [`Output`].
pub fn write_all(path: &Path, inputs: &[&Path], data: &[u8]) -> Result<()> {
    let mut o = Output::create(Some(path), inputs)?;
    o.write_bytes(data)?;
    o.commit()
}

/// A folder of outputs built under a hidden temporary name and renamed into
/// place by [`OutputDir::commit`]; removed on error or a fatal signal.
pub struct OutputDir {
    dst: PathBuf,
    tmp: Option<PathBuf>,
}

impl OutputDir {
    /// Start a folder `dst` that must not exist yet as anything but a folder
    /// crest may replace (an existing folder is refused unless `replace`).
    pub fn create(dst: &Path, replace: bool) -> Result<OutputDir> {
        let dst = follow_links(dst);
        if let Ok(md) = std::fs::metadata(&dst) {
            if !md.is_dir() {
                return Err(CrestError::Invalid(format!(
                    "output folder {} exists and is not a folder",
                    dst.display()
                )));
            }
            if !replace {
                return Err(CrestError::Invalid(format!(
                    "output folder {} exists; remove it or choose another name",
                    dst.display()
                )));
            }
        }
        let tmp = temp_name(&dst);
        std::fs::create_dir_all(&tmp).map_err(|e| CrestError::io(&dst, e))?;
        register(&tmp);
        Ok(OutputDir {
            dst,
            tmp: Some(tmp),
        })
    }

    /// The folder to write into now (the temporary one).
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.dst)
    }

    /// Move the folder into place (replacing an old one).
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some(tmp) = self.tmp.take() {
            if self.dst.is_dir() {
                std::fs::remove_dir_all(&self.dst).map_err(|e| CrestError::io(&self.dst, e))?;
            }
            let r = std::fs::rename(&tmp, &self.dst).map_err(|e| CrestError::io(&self.dst, e));
            if r.is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            unregister(&tmp);
            r?;
        }
        Ok(self.dst.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_dir_all(&tmp);
            unregister(&tmp);
        }
    }
}
