//! Project automation behind `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! * [`localstack`]: an offline LocalStack (no Docker) for end-to-end tests:
//!   `cargo xtask localstack setup|run|smoke|start|stop|status`, and
//!   [`localstack::with_localstack`] for the e2e runner.

pub mod localstack;
