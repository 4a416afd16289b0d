//! Project automation behind `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! * [`localstack`]: an offline LocalStack (no Docker) for end-to-end tests:
//!   `cargo xtask localstack setup|run|smoke|start|stop|status`, and
//!   [`localstack::with_localstack`] for the e2e runner.
//! * [`e2e`]: `cargo xtask e2e`, the end-to-end scenarios of the binary on LocalStack.
//! * [`demo`]: `cargo xtask demo`, the main job on LocalStack, for a newcomer.
//! * [`fuzz`]: `cargo xtask fuzz`, the cargo-fuzz targets of `fuzz/` for a bounded time.
//! * [`test`]: `cargo xtask test`, every test: `cargo test --workspace`, then the e2e run.
//! * [`bench`]: `cargo xtask bench`, `copilot-lite package` vs `aws cloudformation package`.
//! * [`cfn_lint`]: `cargo xtask cfn-lint`, cfn-lint over the packaged corpus and seed: no
//!   error that the input does not have.
//! * `tidy` (tests only): the architecture rules the compiler does not check, run by
//!   `cargo test --workspace`.

pub mod bench;
pub mod cfn_lint;
pub mod demo;
pub mod e2e;
pub mod fuzz;
pub mod localstack;
pub mod test;
#[cfg(test)]
mod tidy;

use std::process::Command;

/// A `cargo` command for a nested build of the workspace: the cargo that runs xtask, without
/// the variables `cargo run` set for xtask itself (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, ...).
/// Build scripts such as ring's re-run when those change (`rerun-if-env-changed`), so with
/// them a nested `cargo test` rebuilt ring and all of the AWS SDK above it (8 minutes) after
/// every plain `cargo test`, and the other way round.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}
