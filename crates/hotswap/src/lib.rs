//! Hotswap: a deployed Lambda function's code updated directly, without CloudFormation.
//!
//! Owns: the decision whether two templates differ only in the code locations of Lambda
//! functions ([`compare`]: `AWS::Lambda::Function` `Code`, `AWS::Serverless::Function`
//! `CodeUri`, everything else read as CloudFormation reads it), the Lambda calls
//! (`GetFunctionConfiguration`, `UpdateFunctionCode`, waiting for `LastUpdateStatus`), the
//! skip of a function that already runs the code (its `CodeSha256`), and the record of what
//! was hotswapped ([`Record`], JSON) from which a later deploy puts back what CloudFormation
//! believes is deployed.
//!
//! Must not know about: where the record is stored or what a stack is called (copilot-model's
//! conventions; the cli stores it), CloudFormation calls (deploy), packaging, S3, command-line
//! flags or the terminal. Logs go to `tracing` only.

mod lambda;
mod plan;
mod record;

pub use lambda::{Condition, Lambda, Swap, SwapOutcome};
pub use plan::{CodeChange, ReadError, S3Location, Verdict, code_locations, compare};
pub use record::{Record, Swapped};

/// Lambda's `CodeSha256` of an archive whose SHA-256 is `digest`: the digest in base64.
pub fn code_sha256(digest: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Why a hotswap failed.
#[derive(Debug, thiserror::Error)]
pub enum HotswapError {
    #[error("{op} {function}: {message}")]
    Lambda {
        op: &'static str,
        function: String,
        code: Option<String>,
        message: String,
    },
    /// `LastUpdateStatus` ended `Failed`.
    #[error("updating the code of function {function} failed: {reason}")]
    UpdateFailed { function: String, reason: String },
    #[error("function {function} is still updating after {seconds} s")]
    Timeout { function: String, seconds: u64 },
    /// An image function has no zip code to swap.
    #[error(
        "function {function} is packaged as {package_type}, not a zip: it cannot be hotswapped"
    )]
    NotZip {
        function: String,
        package_type: String,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_sha256_is_base64_of_the_digest() {
        // SHA-256 of the empty string, as Lambda would report it for an empty archive.
        let digest: [u8; 32] = [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ];
        assert_eq!(
            super::code_sha256(&digest),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
