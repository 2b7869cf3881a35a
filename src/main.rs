//! The `crest` command line (thin: parsing, output formatting, exit codes).

use clap::Parser;

use crest::commands::cli::Cli;

fn main() {
    // Before any thread starts: the environment is set, temporary outputs are
    // removed on SIGINT, SIGTERM and SIGHUP, and a closed pipe ends crest
    // quietly.
    quiet_mesa_wayland_probe();
    crest::io::output::install_signal_cleanup();
    crest::io::output::default_sigpipe();
    let cli = parse_args();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CREST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let result: anyhow::Result<()> =
        crest::commands::cli::run(cli, &command_line).map_err(anyhow::Error::from);
    if let Err(e) = result {
        if let Some(crest::error::CrestError::Stopped(m)) = e.downcast_ref() {
            // resumable work stopped on request: not a failure of the inputs
            eprintln!("crest: {m}");
            std::process::exit(3);
        }
        eprintln!("crest: error: {e:#}");
        std::process::exit(1);
    }
}

/// The command line, or exit: usage errors with status 2 (clap's), help and
/// version text with 0, or with 1 when it cannot be written (a full disk: no
/// output must look like success).
fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            if let Err(w) = e.print() {
                eprintln!("crest: error: standard output: {w}");
                std::process::exit(1);
            }
            // print() buffers through stdout's LineWriter: flush it too
            if let Err(w) = std::io::Write::flush(&mut std::io::stdout()) {
                eprintln!("crest: error: standard output: {w}");
                std::process::exit(1);
            }
            std::process::exit(code);
        }
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` connects to a
/// Wayland compositor on every device enumeration to find the display GPU;
/// without a session libwayland prints "error: XDG_RUNTIME_DIR is invalid or
/// not set" each time. A compute-only tool has no display, so on such a
/// machine the layer is turned off (its documented `NODEVICE_SELECT`), unless
/// the user steers device choice through it.
fn quiet_mesa_wayland_probe() {
    let runtime_dir_ok = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| {
        std::path::Path::new(&d).is_absolute() && std::path::Path::new(&d).is_dir()
    });
    let steered = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !runtime_dir_ok && !steered {
        // Single-threaded here: main calls this before starting any thread.
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}
