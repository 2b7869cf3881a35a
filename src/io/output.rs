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

/// Child processes to pass a fatal signal on to (`crest bench` runs `crest
/// map` and bwa as children: an interrupted bench must not leave them
/// running).
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Send the fatal signal that ends crest to child `pid`'s process group
/// too (start the child with `process_group(0)`), until [`forget_child`] is
/// called for it.
pub fn kill_child_on_signal(pid: i32) {
    if let Ok(mut v) = CHILDREN.lock() {
        v.push(pid);
    }
}

/// Undo [`kill_child_on_signal`] (the child was reaped).
pub fn forget_child(pid: i32) {
    if let Ok(mut v) = CHILDREN.lock() {
        v.retain(|&p| p != pid);
    }
}

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
                let groups: Vec<i32> = match CHILDREN.lock() {
                    Ok(children) => children.clone(),
                    Err(_) => Vec::new(),
                };
                for &pid in &groups {
                    libc::kill(-pid, sig);
                }
                remove_pending();
                if !groups.is_empty() {
                    // a wrapper that outlives its child by a moment (GNU
                    // time ignores SIGINT and writes its report when the
                    // child dies) may write a scratch file again: wait (up
                    // to 2 s) until every group is gone, then clean again
                    let t0 = std::time::Instant::now();
                    while groups.iter().any(|&pid| libc::kill(-pid, 0) == 0)
                        && t0.elapsed() < std::time::Duration::from_secs(2)
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    remove_pending();
                }
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

/// The descriptor of crest's own that `p` names, if it is one of the
/// aliases `/dev/stdout`, `/dev/stderr`, `/dev/stdin`, `/dev/fd/N`,
/// `/proc/self/fd/N`, `/proc/thread-self/fd/N` or `/proc/PID/fd/N` with
/// crest's own PID. Writing to such a path must go to the inherited
/// descriptor: opening it anew would truncate a file the shell opened for
/// appending (`>> f`), and the link text of a pipe (`pipe:[N]`) is no path.
pub fn fd_alias(p: &Path) -> Option<i32> {
    if !cfg!(unix) {
        return None;
    }
    let s = p.to_str()?;
    match s {
        "/dev/stdin" => return Some(0),
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => {}
    }
    let pid = std::process::id().to_string();
    let rest = s
        .strip_prefix("/dev/fd/")
        .or_else(|| s.strip_prefix("/proc/self/fd/"))
        .or_else(|| s.strip_prefix("/proc/thread-self/fd/"))
        .or_else(|| {
            s.strip_prefix("/proc/")
                .and_then(|r| r.strip_prefix(pid.as_str()))
                .and_then(|r| r.strip_prefix("/fd/"))
        })?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 9 {
        return None;
    }
    rest.parse().ok()
}

/// Where a path leads once symlinks are followed.
enum Followed {
    /// One of crest's inherited descriptors (see [`fd_alias`]).
    Fd(i32),
    /// A path (existing or not).
    Path(PathBuf),
}

/// Follow symlinks like [`follow_links`], stopping at a descriptor alias.
fn follow(path: &Path) -> Followed {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        if let Some(fd) = fd_alias(&p) {
            return Followed::Fd(fd);
        }
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
    match fd_alias(&p) {
        Some(fd) => Followed::Fd(fd),
        None => Followed::Path(p),
    }
}

/// Follow symlinks (also dangling ones) to the path that will be written
/// (a descriptor alias is named `/dev/fd/N`).
fn follow_links(path: &Path) -> PathBuf {
    match follow(path) {
        Followed::Path(p) => p,
        Followed::Fd(fd) => PathBuf::from(format!("/dev/fd/{fd}")),
    }
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
    /// Another descriptor crest inherited (`/dev/stderr`, `/dev/fd/N`),
    /// written through a duplicate of it: appends where the shell appends.
    Fd(i32),
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
        let bad = |m: &str| CrestError::Invalid(format!("output {}: {m}", path.display()));
        let real = match follow(path) {
            Followed::Fd(1) => return Ok(Target::Stdout),
            Followed::Fd(0) => return Err(bad("is standard input; crest never writes there")),
            Followed::Fd(fd) => return Ok(Target::Fd(fd)),
            Followed::Path(p) => p,
        };
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
            Target::Fd(2) => "standard error".into(),
            Target::Fd(fd) => format!("/dev/fd/{fd}"),
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
            Target::Fd(fd) => (Box::new(dup_fd(*fd)?), None),
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
            Target::Fd(fd) => CrestError::io(format!("/dev/fd/{fd}"), e),
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

    /// Flush buffered data (and, for a file, to the disk) without moving
    /// the file into place: the step of [`commit_all`] that can fail.
    pub fn flush_pending(&mut self) -> Result<()> {
        let r = match self.w.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        };
        if let Err(e) = r {
            return Err(self.error(e));
        }
        if let (Some(w), Target::File(_)) = (self.w.as_mut(), &self.target) {
            // A full disk may only show at fsync on some filesystems.
            let _ = w.get_mut().flush();
        }
        Ok(())
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

/// A duplicate of inherited descriptor `fd`, as a file to write through.
#[cfg(unix)]
fn dup_fd(fd: i32) -> Result<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup returns a new descriptor (or -1) that we then own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(CrestError::io(
            format!("/dev/fd/{fd}"),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `new` is a fresh descriptor owned by nothing else.
    Ok(unsafe { File::from_raw_fd(new) })
}

#[cfg(not(unix))]
fn dup_fd(fd: i32) -> Result<File> {
    Err(CrestError::Invalid(format!(
        "/dev/fd/{fd}: descriptors are not supported here"
    )))
}

/// Temporary names are unique within the process (PID and a counter), so two
/// outputs can never share one even if they name the same file.
fn temp_name(p: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let suffix = if seq == 0 {
        format!("{}", std::process::id())
    } else {
        format!("{}-{seq}", std::process::id())
    };
    p.with_file_name(format!(".{name}.partial-{suffix}"))
}

/// Where an output really goes, for comparing outputs with each other.
#[derive(PartialEq, Eq)]
enum Place {
    Stdout,
    Fd(i32),
    Null,
    Path(PathBuf),
}

fn place(path: Option<&Path>) -> Place {
    let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
        return Place::Stdout;
    };
    let real = match follow(path) {
        Followed::Fd(1) => return Place::Stdout,
        Followed::Fd(fd) => return Place::Fd(fd),
        Followed::Path(p) => p,
    };
    if real == Path::new("/dev/null") {
        return Place::Null;
    }
    // Compare by the real folder and the file name, so `x` and `./x` and a
    // link to a folder all meet.
    let parent = match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&parent).unwrap_or(parent);
    match real.file_name() {
        Some(n) => Place::Path(dir.join(n)),
        None => Place::Path(real),
    }
}

/// Refuse, before any work, two outputs of one command that go to the same
/// place (the same file, standard output twice, the same descriptor): they
/// would mix into one corrupt file or one would be lost. `outputs` pairs
/// each output's option name with its path (`None` or `-`: standard output;
/// leave out outputs that are not requested). `/dev/null` may repeat.
pub fn refuse_collisions(outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let places: Vec<Place> = outputs.iter().map(|(_, p)| place(*p)).collect();
    for i in 0..outputs.len() {
        for j in 0..i {
            let same = places[i] == places[j]
                || matches!((outputs[i].1, outputs[j].1), (Some(a), Some(b)) if same_file(a, b));
            if same && places[i] != Place::Null {
                let shown = |p: Option<&Path>| match p {
                    Some(p) if p.as_os_str() != "-" => p.display().to_string(),
                    _ => "standard output".into(),
                };
                return Err(CrestError::Invalid(format!(
                    "{} {} and {} {} are the same output; give each output its own file",
                    outputs[j].0,
                    shown(outputs[j].1),
                    outputs[i].0,
                    shown(outputs[i].1)
                )));
            }
        }
    }
    Ok(())
}

/// An output waiting to be committed with the others of its command.
pub enum Staged {
    /// A file.
    File(Output),
    /// A folder.
    Dir(OutputDir),
}

impl From<Output> for Staged {
    fn from(o: Output) -> Self {
        Staged::File(o)
    }
}

impl From<OutputDir> for Staged {
    fn from(o: OutputDir) -> Self {
        Staged::Dir(o)
    }
}

/// Commit a command's outputs together: every file is flushed first, and
/// only when all flushed are they renamed into place. If any flush fails,
/// none is committed (all temporary files are removed).
pub fn commit_all(outputs: Vec<Staged>) -> Result<()> {
    let mut outputs = outputs;
    for o in outputs.iter_mut() {
        if let Staged::File(f) = o {
            f.flush_pending()?;
        }
    }
    for o in outputs {
        match o {
            Staged::File(f) => f.commit()?,
            Staged::Dir(d) => {
                d.commit()?;
            }
        }
    }
    Ok(())
}

/// Check now that `path` can be written (and is not one of `inputs`) for an
/// output produced at the end of a long run; nothing is left behind.
pub fn check(path: &Path, inputs: &[&Path]) -> Result<()> {
    Output::create(Some(path), inputs).map(drop)
}

/// Check now that files can be created in folder `dir` (for outputs and
/// scratch files made late in a run): a hidden probe folder is created and
/// removed. `what` names the option in the error.
pub fn check_writable_dir(dir: &Path, what: &str) -> Result<()> {
    let probe = temp_name(&dir.join("crest-probe"));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            Ok(())
        }
        Err(e) => Err(CrestError::Invalid(format!(
            "{what} {}: cannot create files there ({e})",
            dir.display()
        ))),
    }
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
