//! `copilot-lite`: the command-line front end.
//!
//! Owns: argument parsing, logging set-up, progress display and error reports. It composes the
//! library crates and does no YAML surgery, zipping or S3 work of its own.

mod args;
mod deploy_view;
mod output;
mod package;
mod progress;
mod report;
mod svc;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, SvcCommand};

fn main() -> ExitCode {
    // Before anything opens a file (a closed stdout's descriptor would be reused).
    output::guard_std_fds();
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    report::install_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let diff_mode = matches!(&cli.command, Command::Svc(SvcCommand::Deploy(args)) if args.diff);
    let result = runtime.block_on(async {
        match cli.command {
            Command::Package(args) => package::run(args).await,
            Command::Svc(SvcCommand::Ls(args)) => svc::ls(args).await,
            Command::Svc(SvcCommand::Package(args)) => svc::package(args).await,
            Command::Svc(SvcCommand::Deploy(args)) => svc::deploy(args).await,
            Command::Svc(SvcCommand::Delete(args)) => svc::delete(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report::print(&failure);
            ExitCode::from(failure.exit_code(diff_mode))
        }
    }
}

/// `-v` = info, `-vv` = debug, `-vvv` = trace; `RUST_LOG` wins when set. Logs go to stderr.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .init();
}
