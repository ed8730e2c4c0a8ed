//! Bakes the source commit into `keyrite --version` (`KEYRITE_COMMIT`).
//!
//! Order: the `KEYRITE_COMMIT` environment variable (a rebuild from a source tree without
//! `.git`, docs/rebuild.md, sets it), else `git rev-parse HEAD` (the checkout's commit; local
//! edits are not detected), else `unknown`. The value is the only thing this script adds to the binary,
//! so two builds of one commit stay bit-identical.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=KEYRITE_COMMIT");
    let commit = match std::env::var("KEYRITE_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => from_git().unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env=KEYRITE_COMMIT={commit}");
}

fn from_git() -> Option<String> {
    let head = git(&["rev-parse", "HEAD"])?;
    // Rerun when HEAD moves or the branch it names gets a new commit (worktrees keep HEAD in
    // their own git dir and branches in the common one).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&dir).join("HEAD").display()
        );
    }
    if let (Some(common), Some(name)) = (
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) {
        let r = PathBuf::from(&common).join(&name);
        if r.exists() {
            println!("cargo:rerun-if-changed={}", r.display());
        }
        println!(
            "cargo:rerun-if-changed={}",
            PathBuf::from(&common).join("packed-refs").display()
        );
    }
    Some(head)
}
