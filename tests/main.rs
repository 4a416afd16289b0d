//! The end-to-end tests of the `copilot-lite` binary, in one test executable.
//!
//! One executable rather than one per file: each links the AWS SDK, so eight of them cost
//! eight links of a large binary (CI time and disk) for no isolation the tests rely on; every
//! test runs the binary as a child process, in its own temporary folder, against its own
//! in-process servers. Run one file's tests with `cargo test --test cli bad_input::`.

mod common;

mod aws_env;
mod bad_input;
mod env;
mod existence;
mod faults;
mod hostile;
mod ignore;
mod json;
mod output;
mod package;
mod security;
mod svc;
