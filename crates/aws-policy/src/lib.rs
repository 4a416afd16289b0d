//! The request policy every AWS client of copilot-lite shares (S3 in `upload`,
//! CloudFormation and STS in `deploy`): the SDK's standard retry mode with [`MAX_ATTEMPTS`]
//! unless `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` choose, and time limits on connecting and on
//! each response, the latter overridden by [`TIMEOUT_ENV`]. One place, so that both clients
//! read the environment the same way.
//!
//! Must not know about any AWS service, templates or the terminal.

use std::time::Duration;

use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Attempts per request (SDK standard retry mode: throttling and transient errors), unless
/// `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` say otherwise.
pub const MAX_ATTEMPTS: u32 = 5;
/// Bound of establishing a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable overriding a client's read timeout (whole seconds, at least 1).
pub const TIMEOUT_ENV: &str = "COPILOT_LITE_HTTP_TIMEOUT";

/// Standard retry mode with [`MAX_ATTEMPTS`], unless the environment chooses
/// (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`: then the SDK's own reading of it stands).
pub fn retry_config() -> Option<RetryConfig> {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    (!set("AWS_MAX_ATTEMPTS") && !set("AWS_RETRY_MODE"))
        .then(|| RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// [`CONNECT_TIMEOUT`], and `read` (or [`TIMEOUT_ENV`] seconds) from sending a request to its
/// response's headers, so that a dead or silent endpoint fails the attempt (and is retried)
/// instead of hanging forever.
pub fn timeout_config(read: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout(
            std::env::var(TIMEOUT_ENV).ok().as_deref(),
            read,
        ))
        .build()
}

/// `env` as whole seconds when it is a positive number, else `default`.
fn read_timeout(env: Option<&str>, default: Duration) -> Duration {
    env.and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(default, Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_timeout_override() {
        let default = Duration::from_secs(60);
        assert_eq!(read_timeout(None, default), default);
        assert_eq!(read_timeout(Some("7"), default), Duration::from_secs(7));
        assert_eq!(read_timeout(Some(" 3 "), default), Duration::from_secs(3));
        assert_eq!(read_timeout(Some("0"), default), default);
        assert_eq!(read_timeout(Some("-1"), default), default);
        assert_eq!(read_timeout(Some("soon"), default), default);
    }
}
