//! Records the commit and the date of the build for `--version`: `BUILD_COMMIT` (the short
//! hash of `git rev-parse HEAD`, or `unknown` outside a git checkout, as in the image build) and
//! `BUILD_DATE` (an HTTP date, from `SOURCE_DATE_EPOCH` when set, for reproducible builds). It
//! runs again when a commit is made, not when files are edited.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let when = match seconds {
        Some(s) => UNIX_EPOCH + Duration::from_secs(s),
        None => SystemTime::now(),
    };
    println!("cargo:rustc-env=BUILD_COMMIT={commit}");
    println!(
        "cargo:rustc-env=BUILD_DATE={}",
        httpdate::fmt_http_date(when)
    );
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
