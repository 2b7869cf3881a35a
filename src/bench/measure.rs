//! Running a mapper as a child process and measuring it: wall time, CPU time
//! (user + system, `wait4`) and peak resident memory of that child alone.
//!
//! Peak memory comes from GNU time (`/usr/bin/time -f %M`) where it exists:
//! `wait4`'s `ru_maxrss` of a child also counts the resident memory its
//! parent had when it forked (Linux carries the pre-`exec` high-water mark
//! over), so `bwa aln` on mammoth mtDNA read 71 MiB — crest bench's own
//! size — instead of its 6 MiB. GNU time forks the program from a small
//! process, so its figure is the program's own. Without it the `wait4`
//! figure is used, an upper bound.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{CrestError, Result};

/// Cost of one child process.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// User + system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident set size (MiB).
    pub peak_rss_mib: f64,
}

impl Cost {
    /// Sequential composition: times add, memory is the larger peak.
    pub fn then(self, o: Cost) -> Cost {
        Cost {
            wall_s: self.wall_s + o.wall_s,
            cpu_s: self.cpu_s + o.cpu_s,
            peak_rss_mib: self.peak_rss_mib.max(o.peak_rss_mib),
        }
    }
}

/// Run `cmd` (stdout to `stdout` when given, stderr captured), fail with its
/// stderr if it exits non-zero, and measure it.
pub fn run_measured(what: &str, mut cmd: Command, stdout: Option<&Path>) -> Result<Cost> {
    let fail = |m: String| CrestError::Invalid(format!("{what}: {m}"));
    let rss_file = tempfile_path("rss");
    crate::io::output::remove_on_signal(&rss_file);
    if let Some(w) = in_gnu_time(&cmd, &rss_file) {
        cmd = w;
    }
    match stdout {
        Some(p) => {
            let f = std::fs::File::create(p).map_err(|e| CrestError::io(p, e))?;
            cmd.stdout(Stdio::from(f));
        }
        None => {
            cmd.stdout(Stdio::null());
        }
    }
    let err_file = tempfile_path("stderr");
    let ef = std::fs::File::create(&err_file).map_err(|e| CrestError::io(&err_file, e))?;
    crate::io::output::remove_on_signal(&err_file);
    cmd.stderr(Stdio::from(ef));
    // a spinner with the elapsed time while the child runs (terminals only)
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .expect("template"),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(250));
    // its own process group, so that a fatal signal to crest reaches the
    // whole group (GNU time, when it wraps the child, ignores SIGINT)
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let t0 = Instant::now();
    let child = cmd.spawn().map_err(|e| {
        let _ = std::fs::remove_file(&err_file);
        crate::io::output::forget_on_signal(&err_file);
        crate::io::output::forget_on_signal(&rss_file);
        fail(format!("could not start {:?}: {e}", cmd.get_program()))
    })?;
    let pid = child.id() as libc::pid_t;
    crate::io::output::kill_child_on_signal(pid);
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data that wait4 fills in; pid is our own
    // child, reaped here exactly once (the std Child handle is not waited on).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    crate::io::output::forget_child(pid);
    let wall_s = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();
    drop(child);
    let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
    let _ = std::fs::remove_file(&err_file);
    // Linux reports ru_maxrss, and GNU time %M, in KiB
    let own_kib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<f64>().ok()));
    let _ = std::fs::remove_file(&rss_file);
    crate::io::output::forget_on_signal(&rss_file);
    crate::io::output::forget_on_signal(&err_file);
    if r < 0 {
        return Err(fail(format!(
            "wait failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        // a crest child names its own error; other programs: the last lines
        let tail: Vec<&str> = match stderr.lines().rfind(|l| l.starts_with("crest: error: ")) {
            Some(l) => vec![l.trim_start_matches("crest: error: ")],
            None => {
                let t: Vec<&str> = stderr.lines().rev().take(5).collect();
                t.into_iter().rev().collect()
            }
        };
        return Err(fail(format!(
            "exited with status {} — {}",
            if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            },
            tail.join(" | ")
        )));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ok(Cost {
        wall_s,
        cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
        peak_rss_mib: own_kib.unwrap_or(ru.ru_maxrss as f64) / 1024.0,
    })
}

/// GNU time, where it is installed.
const GNU_TIME: &str = "/usr/bin/time";

/// `cmd` run under GNU time, writing the program's peak RSS (KiB) to
/// `rss_file`; None without GNU time.
fn in_gnu_time(cmd: &Command, rss_file: &Path) -> Option<Command> {
    if !Path::new(GNU_TIME).is_file() {
        return None;
    }
    let mut w = Command::new(GNU_TIME);
    w.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        w.current_dir(d);
    }
    Some(w)
}

fn tempfile_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "crest-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Whether an executable is found (as given, or on PATH).
pub fn find_program(name: &Path) -> Option<std::path::PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
