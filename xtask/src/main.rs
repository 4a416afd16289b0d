//! `cargo xtask <command>`: see the library part (`xtask::localstack`) for the logic.

use std::ffi::OsString;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  localstack   set up / run LocalStack without Docker (`cargo xtask localstack help`)
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args.first().and_then(|a| a.to_str()) {
        Some("localstack") => xtask::localstack::cli::main(&args),
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
