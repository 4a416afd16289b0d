//! Security properties of the binary (issue 7): no credentials in the output at any
//! verbosity, on success and on failure.

mod common;

use std::fs;
use std::path::Path;

use common::{BUCKET, copilot_lite, run, stderr, stdout};
use s3_test_server::TestS3;

const ACCESS_KEY: &str = "AKIACANARYACCESSKEY1";
const SECRET: &str = "canary-secret-wJalrXUtnFEMI-K7MDENG";
const TOKEN: &str = "canary-session-token-FwoGZXIvYXdzEJr";

fn template(dir: &Path) -> std::path::PathBuf {
    fs::create_dir_all(dir.join("fn")).unwrap();
    fs::write(
        dir.join("fn/index.js"),
        b"exports.handler = async () => 1;\n",
    )
    .unwrap();
    let t = dir.join("template.yml");
    fs::write(
        &t,
        "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: fn/\n",
    )
    .unwrap();
    t
}

/// Runs `package` against `s3` with the canary credentials and a session token; returns
/// (exit ok, stdout + stderr).
fn package(s3: &TestS3, dir: &Path, verbosity: &[&str], rust_log: Option<&str>) -> (bool, String) {
    let t = template(dir);
    let mut cmd = copilot_lite(Some(s3));
    cmd.env("AWS_SESSION_TOKEN", TOKEN);
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    cmd.args(verbosity).args([
        "package",
        "--template-file",
        t.to_str().unwrap(),
        "--s3-bucket",
        BUCKET,
        "--force-upload",
    ]);
    let out = run(&mut cmd);
    (
        out.status.success(),
        format!("{}\n{}", stdout(&out), stderr(&out)),
    )
}

fn assert_no_credentials(what: &str, output: &str) {
    for (name, secret) in [("secret access key", SECRET), ("session token", TOKEN)] {
        assert!(
            !output.contains(secret),
            "{what}: the {name} appears in the output"
        );
    }
    // The SigV4 signature of a request authorizes replaying it for minutes: not in logs
    // either.
    assert!(
        !output.contains("Signature="),
        "{what}: a request signature appears in the output"
    );
}

#[test]
fn no_credentials_in_logs_at_any_verbosity() {
    let cases: &[(&str, &[&str], Option<&str>)] = &[
        ("default", &[], None),
        ("-v", &["-v"], None),
        ("-vv", &["-vv"], None),
        ("-vvv", &["-vvv"], None),
        ("RUST_LOG=trace", &[], Some("trace")),
        (
            "RUST_LOG=SDK internals at trace",
            &[],
            Some(
                "aws_smithy_runtime=trace,aws_sigv4=trace,aws_config=trace,hyper=trace,aws_smithy_http_client=trace",
            ),
        ),
    ];
    for (what, verbosity, rust_log) in cases {
        let s3 = TestS3::start_with_credentials_blocking(ACCESS_KEY, SECRET);
        s3.create_bucket_blocking(BUCKET);
        let dir = tempfile::tempdir().unwrap();
        let (ok, output) = package(&s3, dir.path(), verbosity, *rust_log);
        assert!(ok, "{what}: package failed:\n{output}");
        // The run really happened (and was logged where asked): the object is there.
        assert_eq!(s3.keys(BUCKET).len(), 1, "{what}");
        if verbosity.contains(&"-vvv") || rust_log.is_some() {
            assert!(
                output.lines().count() > 20,
                "{what}: expected a verbose log, got:\n{output}"
            );
        }
        assert_no_credentials(what, &output);
    }
}

#[test]
fn no_credentials_in_errors() {
    // The server knows other credentials: every request is refused (403).
    let s3 =
        TestS3::start_with_credentials_blocking(ACCESS_KEY, "the-server-expects-another-secret");
    s3.create_bucket_blocking(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let t = template(dir.path());
    let mut cmd = copilot_lite(Some(&s3));
    cmd.env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .args([
            "package",
            "--template-file",
            t.to_str().unwrap(),
            "--s3-bucket",
            BUCKET,
        ]);
    let out = run(&mut cmd);
    assert!(!out.status.success());
    let output = format!("{}\n{}", stdout(&out), stderr(&out));
    assert!(
        output.contains("SignatureDoesNotMatch") || output.contains("403"),
        "the error names the refusal:\n{output}"
    );
    assert_no_credentials("refused request", &output);
    assert!(s3.keys(BUCKET).is_empty());
}
