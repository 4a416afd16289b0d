//! `cargo xtask test`: every test of the project, the README's test command and CI's.
//!
//! `cargo test --workspace [ARGS...]`, then (when it passed) `cargo xtask e2e`, which ends
//! with the line `N passed, N failed`.

use std::ffi::OsString;
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::{e2e, localstack};

/// Entry point; `args` start with `test`. Extra arguments go to `cargo test`.
pub fn main(args: &[OsString]) -> Result<ExitCode> {
    if !localstack::in_private_network() {
        let extra = args.get(1..).unwrap_or_default();
        if extra
            .iter()
            .any(|a| a.to_str().is_some_and(|a| a == "-h" || a == "--help"))
        {
            println!(
                "usage: cargo xtask test [CARGO TEST ARGS...]\n\n\
                 Runs `cargo test --workspace [ARGS...]`, then `cargo xtask e2e` (LocalStack)."
            );
            return Ok(ExitCode::SUCCESS);
        }
        let t0 = Instant::now();
        eprintln!("==> cargo test --workspace");
        let status = crate::cargo()
            .args(["test", "--workspace"])
            .args(extra)
            .current_dir(localstack::workspace_root())
            .stdin(Stdio::null())
            .status()
            .context("cannot run cargo")?;
        eprintln!(
            "==> cargo test --workspace: {} in {:.0} s",
            if status.success() { "passed" } else { "FAILED" },
            t0.elapsed().as_secs_f64()
        );
        if !status.success() {
            eprintln!("==> not running the end-to-end tests (fix the tests above first)");
            return Ok(ExitCode::FAILURE);
        }
        eprintln!("==> cargo xtask e2e");
    }
    // Re-executes itself as `e2e` in the private network namespace.
    e2e::main(&[OsString::from("e2e")])
}
