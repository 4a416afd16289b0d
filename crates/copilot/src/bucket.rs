//! The artifact bucket of an application: Copilot's (where the application was created by
//! Copilot: the regional stack of its stack set), else copilot-lite's own bucket stack
//! (`<app>-infrastructure`, SPEC A10): bucket name derivation and template (pure).

use serde_json::json;

use crate::names::{MANAGED_TAG, MANAGED_VALUE, TAG_APPLICATION};

/// Name of the output of copilot-lite's bucket stack that carries the bucket name.
pub const BUCKET_OUTPUT: &str = "ArtifactBucket";

/// Copilot's stack set of an application's regional resources: one stack instance per region
/// of the application, whose output [`COPILOT_BUCKET_OUTPUT`] names the artifact bucket
/// Copilot uploads addon assets to (Copilot's `GetAppResourcesByRegion`).
pub fn copilot_stack_set_name(app: &str) -> String {
    format!("{app}-infrastructure")
}

/// The output of Copilot's regional application stack that names its artifact bucket.
pub const COPILOT_BUCKET_OUTPUT: &str = "PipelineBucket";

/// Stack that owns copilot-lite's artifact bucket of `app` (a stack, where Copilot's
/// `<app>-infrastructure` is a stack set: the two names do not collide).
pub fn infrastructure_stack_name(app: &str) -> String {
    format!("{app}-infrastructure")
}

/// Tags of copilot-lite's bucket stack: the application and copilot-lite's mark.
pub fn bucket_stack_tags(app: &str) -> Vec<(String, String)> {
    vec![
        (TAG_APPLICATION.to_owned(), app.to_owned()),
        (MANAGED_TAG.to_owned(), MANAGED_VALUE.to_owned()),
    ]
}

const PREFIX: &str = "copilot-lite";
const MAX_BUCKET_LEN: usize = 63;

/// The artifact bucket name of `app` in `account` and `region`:
/// `copilot-lite-<app>-<account>-<region>`, lower-cased, every character outside `[a-z0-9]`
/// replaced by `-` (runs collapsed), at most 63 characters: a too long app part is shortened
/// and suffixed with a hash of the full app name, so distinct apps keep distinct names.
pub fn bucket_name(app: &str, account: &str, region: &str) -> String {
    let app = sanitize(app);
    let app = if app.is_empty() {
        "app".to_owned()
    } else {
        app
    };
    let account = sanitize(account);
    let region = sanitize(region);
    let tail: String = [account.as_str(), region.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| format!("-{s}"))
        .collect();
    let name = format!("{PREFIX}-{app}{tail}");
    if name.len() <= MAX_BUCKET_LEN {
        return name;
    }
    let hash = format!("{:08x}", fnv1a(app.as_bytes()));
    // PREFIX + '-' + app' + '-' + hash + tail
    let budget = MAX_BUCKET_LEN.saturating_sub(PREFIX.len() + 2 + hash.len() + tail.len());
    if budget >= 1 {
        let short = app[..budget.min(app.len())].trim_end_matches('-');
        let short = if short.is_empty() { "a" } else { short };
        return format!("{PREFIX}-{short}-{hash}{tail}");
    }
    // An absurdly long region or account: hash everything.
    let all = format!("{app}{tail}");
    format!(
        "{PREFIX}-{:08x}-{:08x}",
        fnv1a(all.as_bytes()),
        fnv1a(tail.as_bytes())
    )
}

/// Lower-case; `[a-z0-9]` kept, runs of anything else become one `-`; no leading/trailing `-`.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// 32-bit FNV-1a: a stable, dependency-free short hash for name suffixes.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The bootstrap template (JSON, which is also YAML): a versioned, SSE-S3 (AES256) encrypted
/// bucket named `bucket`, all public access blocked, `BucketOwnerEnforced` ownership, a bucket
/// policy denying requests without TLS, and the output [`BUCKET_OUTPUT`].
pub fn bucket_template(app: &str, bucket: &str) -> String {
    let doc = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("copilot-lite artifact bucket of application {app}"),
        "Resources": {
            "ArtifactBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": bucket,
                    "VersioningConfiguration": { "Status": "Enabled" },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    },
                    "OwnershipControls": { "Rules": [ { "ObjectOwnership": "BucketOwnerEnforced" } ] },
                    // A multipart upload whose CreateMultipartUpload response was lost cannot
                    // be aborted by the tool (it never learnt the upload ID): S3 cleans it up.
                    "LifecycleConfiguration": {
                        "Rules": [ {
                            "Id": "AbortIncompleteMultipartUploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 }
                        } ]
                    },
                    "Tags": [ { "Key": TAG_APPLICATION, "Value": app } ]
                }
            },
            "ArtifactBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": { "Ref": "ArtifactBucket" },
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ForceHTTPS",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [
                                    { "Fn::GetAtt": ["ArtifactBucket", "Arn"] },
                                    { "Fn::Sub": "${ArtifactBucket.Arn}/*" }
                                ],
                                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                            }
                        ]
                    }
                }
            }
        },
        "Outputs": {
            BUCKET_OUTPUT: { "Description": "Bucket of the packaged artifacts", "Value": { "Ref": "ArtifactBucket" } }
        }
    });
    // `Value`'s Display is compact JSON; pretty-print for people reading the stack's template.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_bucket(name: &str) -> bool {
        (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
            && !name.contains("--")
            && !name.starts_with("xn--")
            && !name.starts_with("sthree-")
    }

    #[test]
    fn simple_name() {
        assert_eq!(
            bucket_name("MyApp", "123456789012", "us-east-1"),
            "copilot-lite-myapp-123456789012-us-east-1"
        );
        assert_eq!(
            bucket_name("my_app.v2", "000000000000", "eu-west-3"),
            "copilot-lite-my-app-v2-000000000000-eu-west-3"
        );
    }

    #[test]
    fn long_names_are_shortened_and_stay_distinct() {
        let a = bucket_name(&"a".repeat(80), "123456789012", "ap-southeast-4");
        let b = bucket_name(
            &format!("{}b", "a".repeat(79)),
            "123456789012",
            "ap-southeast-4",
        );
        assert!(valid_bucket(&a), "{a}");
        assert!(valid_bucket(&b), "{b}");
        assert_ne!(a, b);
        assert!(a.ends_with("-123456789012-ap-southeast-4"), "{a}");
        // Deterministic.
        assert_eq!(
            a,
            bucket_name(&"a".repeat(80), "123456789012", "ap-southeast-4")
        );
    }

    #[test]
    fn odd_inputs_give_valid_names() {
        for (app, account, region) in [
            ("", "", ""),
            ("---", "1", "x"),
            ("ÄÖÜ-app", "123456789012", "us-gov-west-1"),
            ("app", "123456789012", &"very-long-region-".repeat(10)),
            (&"x-".repeat(40), "123456789012", "cn-northwest-1"),
        ] {
            let name = bucket_name(app, account, region);
            assert!(
                valid_bucket(&name),
                "{app:?} {account:?} {region:?} -> {name}"
            );
        }
    }

    #[test]
    fn template_is_json_with_the_required_settings() {
        let text = bucket_template("demo", "copilot-lite-demo-1-us-east-1");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let bucket = &doc["Resources"]["ArtifactBucket"];
        assert_eq!(bucket["Type"], "AWS::S3::Bucket");
        let props = &bucket["Properties"];
        assert_eq!(props["BucketName"], "copilot-lite-demo-1-us-east-1");
        assert_eq!(props["VersioningConfiguration"]["Status"], "Enabled");
        let rule = &props["LifecycleConfiguration"]["Rules"][0];
        assert_eq!(rule["Status"], "Enabled");
        assert_eq!(
            rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
            1
        );
        assert_eq!(
            props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
                ["SSEAlgorithm"],
            "AES256"
        );
        for k in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(props["PublicAccessBlockConfiguration"][k], true, "{k}");
        }
        assert_eq!(
            props["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
            "BucketOwnerEnforced"
        );
        let stmt = &doc["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            [0];
        assert_eq!(stmt["Effect"], "Deny");
        assert_eq!(stmt["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(
            doc["Outputs"][BUCKET_OUTPUT]["Value"]["Ref"],
            "ArtifactBucket"
        );
    }

    #[test]
    fn stack_name() {
        assert_eq!(infrastructure_stack_name("demo"), "demo-infrastructure");
    }
}
