//! Names the revision the binary was built from, for `waitroom --version`: `BUILD_REVISION` when
//! the build sets it (a container build, which has no `.git`), else the checkout's commit, else
//! `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BUILD_REVISION");
    // A commit moves HEAD or the branch it points to; either changes one of these.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let revision = std::env::var("BUILD_REVISION")
        .ok()
        .filter(|given| !given.trim().is_empty())
        .or_else(|| {
            let described = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            let text = String::from_utf8(described.stdout).ok()?;
            (described.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BUILD_REVISION={revision}");
}
