//! Owns: the request policy every AWS client of copilot-lite shares (S3 in `upload`,
//! CloudFormation and STS in `deploy`, Lambda in `hotswap`): the SDK's standard retry mode with [`MAX_ATTEMPTS`]
//! unless `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` choose, a time limit on connecting, and a
//! deadline on each request, all its attempts included ([`request_timeout`], overridden by
//! [`TIMEOUT_ENV`]). One place, so that both clients read the environment the same way and
//! the bound users are told ([`timeout_message`]) is the bound in force; and how a failed
//! request is said in one line ([`describe`]). The SDK config is loaded here too
//! ([`load_sdk_config`]: the standard chain, the retry policy, the region), once per command,
//! and the endpoint a service's client would use is read from it here
//! ([`service_endpoint`]).
//!
//! Must not know about any AWS service's API, templates or the terminal.

use std::time::Duration;

pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Attempts per request (SDK standard retry mode: throttling and transient errors), unless
/// `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` say otherwise.
pub const MAX_ATTEMPTS: u32 = 5;
/// Bound of establishing a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable overriding a client's request deadline (whole seconds, at least 1).
pub const TIMEOUT_ENV: &str = "COPILOT_LITE_HTTP_TIMEOUT";

/// Loads the SDK config from the standard chain (environment, shared config and credentials
/// files with `AWS_PROFILE`, SSO, instance roles) with the [`retry_config`] policy; `region`
/// overrides the chain's region. `None` when no region is set anywhere.
pub async fn load_sdk_config(region: Option<String>) -> Option<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(retry) = retry_config() {
        loader = loader.retry_config(retry);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    let sdk = loader.load().await;
    tracing::debug!(region = ?sdk.region(), "AWS SDK config loaded");
    sdk.region().is_some().then_some(sdk)
}

/// The endpoint the SDK would use for `service_id` (`"S3"`, `"CloudFormation"`, ...) from
/// `sdk`: `AWS_ENDPOINT_URL_<SERVICE>` / the profile's `services` section, else the global
/// endpoint (`AWS_ENDPOINT_URL`, profile `endpoint_url`); `None` on AWS's own endpoints.
pub fn service_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    let from_service = sdk.service_config().and_then(|conf| {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        conf.load_config(key)
    });
    from_service.or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Standard retry mode with [`MAX_ATTEMPTS`], unless the environment chooses
/// (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`: then the SDK's own reading of it stands).
pub fn retry_config() -> Option<RetryConfig> {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    (!set("AWS_MAX_ATTEMPTS") && !set("AWS_RETRY_MODE"))
        .then(|| RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// The deadline of one request of a client whose default is `default`: [`TIMEOUT_ENV`]
/// seconds when set to a positive number, else `default`. It bounds the whole operation: every
/// attempt, the backoff between them, connecting, sending the body and reading the response.
pub fn request_timeout(default: Duration) -> Duration {
    read_timeout(std::env::var(TIMEOUT_ENV).ok().as_deref(), default)
}

/// [`CONNECT_TIMEOUT`] per connection, and [`request_timeout`] both per attempt (from sending
/// a request to its response's headers) and for the whole operation, retries included: a
/// dead or silent endpoint fails the request within that bound instead of hanging for
/// attempts × bound. Transient errors that come back quickly are still retried within it.
pub fn timeout_config(default: Duration) -> TimeoutConfig {
    let bound = request_timeout(default);
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(bound)
        .operation_timeout(bound)
        .build()
}

/// What a request that ran into its deadline says (the same words in every client's errors).
pub fn timeout_message(bound: Duration) -> String {
    format!(
        "no complete response within {} s, retries included ({TIMEOUT_ENV}=<seconds> sets this bound)",
        bound.as_secs()
    )
}

/// One line saying why a request failed: the service's code and message; else the HTTP status
/// (a HEAD response has no body to carry a code); else what went wrong on the way (timeout,
/// connection, unreadable response), without the SDK's debug dump. `timeout`: the request
/// deadline, named when it ran out.
pub fn describe<E>(err: &SdkError<E, HttpResponse>, timeout: Duration) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (err.code(), err.message()) {
        (Some(c), Some(m)) => return format!("{c}: {m}"),
        (Some(c), None) => return c.to_owned(),
        (None, Some(m)) => return m.to_owned(),
        _ => {}
    }
    let chain = |e: &dyn std::error::Error| {
        let mut parts = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            source = s.source();
        }
        parts.join(": ")
    };
    match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status();
            let reason = http_reason(status.as_u16());
            format!(
                "HTTP {}{} without error details",
                status.as_u16(),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" {reason}")
                }
            )
        }
        SdkError::TimeoutError(_) => timeout_message(timeout),
        SdkError::DispatchFailure(e) if e.is_timeout() => timeout_message(timeout),
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(c) => format!("request not completed: {}", chain(c)),
            None => "request not completed".to_owned(),
        },
        SdkError::ResponseError(_) => {
            format!("unreadable response: {}", DisplayErrorContext(err))
        }
        _ => DisplayErrorContext(err).to_string(),
    }
}

fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
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

    fn service_error(
        code: Option<&str>,
        message: Option<&str>,
        status: u16,
    ) -> SdkError<aws_smithy_types::error::ErrorMetadata, HttpResponse> {
        let mut meta = aws_smithy_types::error::ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        if let Some(m) = message {
            meta = meta.message(m);
        }
        let raw = HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("status"),
            aws_smithy_types::body::SdkBody::empty(),
        );
        SdkError::service_error(meta.build(), raw)
    }

    #[test]
    fn describe_says_why_in_one_line() {
        let t = Duration::from_secs(9);
        let both = service_error(Some("Throttling"), Some("Rate exceeded"), 400);
        assert_eq!(describe(&both, t), "Throttling: Rate exceeded");
        let code = service_error(Some("AccessDenied"), None, 403);
        assert_eq!(describe(&code, t), "AccessDenied");
        // A message without a code (CloudFormation's and S3's bare messages) is said as is.
        let message = service_error(None, Some("Stack is busy"), 400);
        assert_eq!(describe(&message, t), "Stack is busy");
        let bare = service_error(None, None, 503);
        assert_eq!(
            describe(&bare, t),
            "HTTP 503 Service Unavailable without error details"
        );
        let timeout: SdkError<aws_smithy_types::error::ErrorMetadata, HttpResponse> =
            SdkError::timeout_error("deadline");
        assert_eq!(describe(&timeout, t), timeout_message(t));
    }

    #[test]
    fn one_bound_for_attempts_and_operation() {
        let config = timeout_config(Duration::from_secs(42));
        let bound = request_timeout(Duration::from_secs(42));
        assert_eq!(config.read_timeout(), Some(bound));
        assert_eq!(config.operation_timeout(), Some(bound));
        assert_eq!(config.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert!(timeout_message(Duration::from_secs(7)).contains("within 7 s"));
    }
}
