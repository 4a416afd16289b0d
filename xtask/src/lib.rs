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

pub mod bench;
pub mod cfn_lint;
pub mod demo;
pub mod e2e;
pub mod fuzz;
pub mod localstack;
pub mod test;
