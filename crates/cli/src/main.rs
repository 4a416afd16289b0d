//! `copilot-lite`: the command-line front end.
//!
//! Owns: argument parsing, logging set-up, progress display, error reports and the
//! `--output json` document (`json`). It composes the library crates. Must not know about:
//! YAML surgery, zipping or AWS requests (it does none of its own: the library crates do).

mod args;
mod aws;
mod deploy_view;
mod env;
mod json;
mod output;
mod package;
mod progress;
mod report;
mod svc;
mod swap;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, EnvCommand, SvcCommand};

fn main() -> ExitCode {
    // Before anything opens a file (a closed stdout's descriptor would be reused).
    output::guard_std_fds();
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "copilot-lite", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(profile) = &cli.profile {
        if let Err(message) = check_profile(profile) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        // SAFETY: no other thread exists yet (the runtime starts below), so nothing reads the
        // environment while it changes. The SDK's own reading of AWS_PROFILE then applies to
        // every client, as the flag promises.
        unsafe { std::env::set_var("AWS_PROFILE", profile) };
    }
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
    let diff_mode = match &cli.command {
        Command::Svc(SvcCommand::Deploy(args)) => args.how.diff,
        Command::Env(EnvCommand::Deploy(args)) => args.how.diff,
        _ => false,
    };
    let outcome = runtime.block_on(async {
        let work = async {
            match cli.command {
                Command::Package(args) => package::run(args).await,
                Command::Svc(SvcCommand::Ls(args)) => svc::ls(args).await,
                Command::Svc(SvcCommand::Package(args)) => svc::package(args).await,
                Command::Svc(SvcCommand::Deploy(args)) => svc::deploy(args).await,
                Command::Svc(SvcCommand::Watch(args)) => watch::watch(args).await,
                Command::Svc(SvcCommand::Delete(args)) => svc::delete(args).await,
                Command::Env(EnvCommand::Ls(args)) => env::ls(args).await,
                Command::Env(EnvCommand::Package(args)) => env::package(*args).await,
                Command::Env(EnvCommand::Deploy(args)) => env::deploy(*args).await,
                Command::Env(EnvCommand::Delete(args)) => env::delete(args).await,
                Command::Completions { .. } => Ok(()),
            }
        };
        let outcome = tokio::select! {
            result = work => Ok(result),
            signal = signals::interrupted() => Err(signal),
        };
        // The work is dropped by now: its temporary folder is deleted, and the multipart
        // uploads it left open are being aborted (each within a bound). Wait for those.
        upload::finish_aborts().await;
        outcome
    });
    // A zip being written on a blocking thread is not waited for (its folder is gone).
    runtime.shutdown_background();
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(failure)) => {
            report::print(&failure);
            ExitCode::from(failure.exit_code(diff_mode))
        }
        Err(signal) => {
            eprintln!(
                "Interrupted ({}): stopped; temporary files deleted, open multipart uploads aborted.",
                signal.name()
            );
            ExitCode::from(signal.exit_code())
        }
    }
}

/// `--profile NAME` names a profile of the shared config or credentials file (the SDK would
/// otherwise fail later with a message about a missing region or credentials).
fn check_profile(profile: &str) -> Result<(), String> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    // Section headers: `[profile NAME]` (or `[default]`) in the config file, `[NAME]` in the
    // credentials file.
    let has = |path: &Option<std::path::PathBuf>, headers: &[String]| {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .is_some_and(|text| {
                text.lines().any(|line| {
                    let line = line.trim();
                    line.strip_prefix('[')
                        .and_then(|l| l.strip_suffix(']'))
                        .is_some_and(|h| {
                            let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
                            headers.contains(&h)
                        })
                })
            })
    };
    let mut in_config = vec![format!("profile {profile}")];
    if profile == "default" {
        in_config.push("default".into());
    }
    if has(&config, &in_config) || has(&credentials, &[profile.to_owned()]) {
        return Ok(());
    }
    let shown = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or("(no HOME)".to_owned(), |p| p.display().to_string())
    };
    Err(format!(
        "--profile {profile}: no such profile in {} or {}",
        shown(&config),
        shown(&credentials)
    ))
}

/// `-v` = info, `-vv` = debug, `-vvv` = trace; `RUST_LOG` wins when set. Logs go to stderr,
/// never with what [`REDACTED_TARGETS`] holds back.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::prelude::*;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal (and not with NO_COLOR): a piped log stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(verbose >= 2)
        .with_filter(filter.and(redaction()));
    tracing_subscriber::registry().with(layer).init();
}

/// Trace targets of the SDK that print request signatures or payload bytes, and the most
/// they may log, whatever `RUST_LOG` says:
/// - `aws_runtime::content_encoding`: the aws-chunked body, chunk by chunk, with each
///   `chunk-signature=` and the artifact's bytes;
/// - `aws_sigv4`, `aws_runtime::auth`: the request being signed (its body included);
/// - `aws_smithy_runtime::client::orchestrator`: whole requests and responses, bodies included.
pub const REDACTED_TARGETS: [(&str, tracing::Level); 4] = [
    ("aws_runtime::content_encoding", tracing::Level::WARN),
    ("aws_sigv4", tracing::Level::DEBUG),
    ("aws_runtime::auth", tracing::Level::DEBUG),
    (
        "aws_smithy_runtime::client::orchestrator",
        tracing::Level::DEBUG,
    ),
];

fn redaction() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_default(tracing::level_filters::LevelFilter::TRACE)
        .with_targets(REDACTED_TARGETS)
}

mod signals {
    //! SIGINT and SIGTERM: the run stops, cleans up, and exits 130 / 143.

    /// A signal that stopped the run.
    #[derive(Debug, Clone, Copy)]
    pub enum Signal {
        Interrupt,
        Terminate,
    }

    impl Signal {
        pub fn name(self) -> &'static str {
            match self {
                Signal::Interrupt => "SIGINT",
                Signal::Terminate => "SIGTERM",
            }
        }

        /// 128 + the signal's number, as a shell reports a process killed by it.
        pub fn exit_code(self) -> u8 {
            match self {
                Signal::Interrupt => 130,
                Signal::Terminate => 143,
            }
        }
    }

    /// Resolves at the first SIGTERM, or SIGINT while no deployment handles Ctrl-C itself
    /// (`svc deploy` cancels its stack operation first, `svc watch` ends its watch); never when the handlers cannot be
    /// installed (then the signals keep their default action).
    pub async fn interrupted() -> Signal {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!(
                "cannot handle SIGINT/SIGTERM: an interrupted run may leave temporary files"
            );
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                Some(()) = interrupt.recv() => {
                    if !crate::svc::handles_ctrl_c() && !crate::watch::handles_ctrl_c() {
                        return Signal::Interrupt;
                    }
                }
                Some(()) = terminate.recv() => return Signal::Terminate,
                else => return std::future::pending().await,
            }
        }
    }
}
