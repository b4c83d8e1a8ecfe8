//! Records the commit the binary is built from, for `anonsweep --version` ("unknown" outside a
//! git checkout, e.g. from a source archive).

use std::path::Path;
use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ANONSWEEP_COMMIT={commit}");
    // Rebuild when HEAD moves: the HEAD file, and the branch it points at.
    // A path that does not exist would make cargo rebuild every time: a branch's ref file is
    // missing when refs are packed, and in a worktree it lives in the common git directory.
    let watch = |p: &Path| {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    };
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(&dir);
        watch(&dir.join("HEAD"));
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            let common = Path::new(&common);
            watch(&common.join("packed-refs"));
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch(&common.join(r));
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
