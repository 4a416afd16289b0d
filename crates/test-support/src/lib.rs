//! Test support only: what the tests (and xtask's benches and end-to-end scenarios) run in
//! place of AWS. Never a dependency of the product, nor a default member.
//!
//! Owns: the in-process S3 server ([`s3`], behind the `s3` feature: s3s + s3s-fs with a request
//! log and injected S3 errors), the fault-injecting HTTP/1.1 reverse proxy ([`proxy`]), and the
//! one classifier both use to name the AWS operation of a request ([`operation`]: S3 from method,
//! path, query and headers; the query APIs from the form body's `Action`; Lambda's REST
//! operations).
//!
//! Must not know about the project's own crates: it is a plain S3 endpoint and a plain HTTP
//! proxy. Only the S3 server knows the AWS SDK (to hand tests a configured client); the proxy
//! and the classifier speak plain HTTP.

pub mod operation;
pub mod proxy;
#[cfg(feature = "s3")]
pub mod s3;
