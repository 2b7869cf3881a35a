//! What an installed crest needs: a version that names its commit (also in
//! the SAM `@PG VN`), shell completions and a man page from the clap
//! definitions.

use std::process::Command;

fn crest(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
    )
}

#[test]
fn version_names_the_commit() {
    let (ok, out) = crest(&["--version"]);
    assert!(ok);
    let v = out.trim().strip_prefix("crest ").expect("crest VERSION");
    assert_eq!(v, crest::VERSION);
    let (pkg, commit) = v.split_once('+').expect("VERSION+COMMIT");
    assert_eq!(pkg, env!("CARGO_PKG_VERSION"));
    let head = Command::new("git")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rev-parse", "--short=12", "HEAD"])
        .output();
    match head {
        Ok(h) if h.status.success() => {
            assert_eq!(commit, String::from_utf8_lossy(&h.stdout).trim());
        }
        _ => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn completions_and_man_page_cover_every_subcommand() {
    let (ok, bash) = crest(&["completions", "bash"]);
    assert!(ok);
    let (ok, man) = crest(&["man"]);
    assert!(ok);
    assert!(
        man.starts_with(".ie") || man.contains(".TH crest 1"),
        "{}",
        &man[..200]
    );
    for sub in [
        "map",
        "index",
        "train",
        "dedup",
        "damage",
        "classify",
        "completions",
    ] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
        assert!(man.contains(sub), "man page lacks {sub}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (ok, text) = crest(&["completions", shell]);
        assert!(ok && text.contains("crest"), "{shell}");
    }
}
