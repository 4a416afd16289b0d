//! `cargo xtask <command>`: see the library part (`xtask::localstack`) for the logic.

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo         deploy the seed example with copilot-lite on a local LocalStack, show the result
  test         every test: `cargo test --workspace`, then `cargo xtask e2e`
  e2e          end-to-end scenarios of copilot-lite on LocalStack (`cargo xtask e2e --help`)
  localstack   set up / run LocalStack without Docker (`cargo xtask localstack help`)
  fuzz         run the cargo-fuzz targets for a bounded time (`cargo xtask fuzz --help`)
  bench        copilot-lite package vs aws cloudformation package (`cargo xtask bench --help`)
  cfn-lint     cfn-lint over the packaged corpus and seed: no new error (`cargo xtask cfn-lint --help`)
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args.first().and_then(|a| a.to_str()) {
        Some("localstack") => xtask::localstack::cli::main(&args),
        Some("e2e") => xtask::e2e::main(&args),
        Some("demo") => xtask::demo::main(&args),
        Some("test") => xtask::test::main(&args),
        Some("fuzz") => xtask::fuzz::main(&args),
        Some("bench") => xtask::bench::main(&args),
        Some("cfn-lint") => xtask::cfn_lint::main(&args),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
