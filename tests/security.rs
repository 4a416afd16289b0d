//! Security properties of the binary (issue 7): no credentials in the output at any
//! verbosity, on success and on failure.

use std::fs;
use std::path::Path;

use crate::common::{BUCKET, copilot_lite, run, stderr, stdout};
use test_support::s3::TestS3;

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

/// A template that points a nested stack at a file outside its folder (a credentials file,
/// `/proc/self/environ`) makes the run fail, and the report names that file and the position
/// only: none of its content reaches the output, at any verbosity (issue 14: a pull request
/// from a fork could otherwise print the CI's secrets).
#[test]
fn files_outside_the_template_folder_are_never_quoted() {
    const FILE_SECRET: &str = "canary-file-secret-Zq8vN3";
    const ENV_SECRET: &str = "canary-environ-secret-Lp4xR7";
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("home/.aws");
    fs::create_dir_all(&secrets).unwrap();
    let credentials = secrets.join("credentials");
    fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {FILE_SECRET}\n"
        ),
    )
    .unwrap();
    let project = dir.path().join("project");
    fs::create_dir_all(&project).unwrap();
    let t = project.join("template.yml");
    fs::write(
        &t,
        format!(
            "Resources:\n  A:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
             TemplateURL: {}\n  B:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
             TemplateURL: /proc/self/environ\n",
            credentials.display()
        ),
    )
    .unwrap();
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    for verbosity in [&[][..], &["-vvv"][..]] {
        let mut cmd = copilot_lite(Some(&s3));
        cmd.env("CANARY_SECRET", ENV_SECRET)
            .env(
                "RUST_LOG",
                if verbosity.is_empty() {
                    "warn"
                } else {
                    "trace"
                },
            )
            .args(verbosity)
            .args([
                "package",
                "--template-file",
                t.to_str().unwrap(),
                "--s3-bucket",
                BUCKET,
            ]);
        let out = run(&mut cmd);
        let output = format!("{}\n{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{output}");
        for secret in [
            FILE_SECRET,
            ENV_SECRET,
            "aws_secret_access_key",
            "CANARY_SECRET",
        ] {
            assert!(!output.contains(secret), "{secret} printed:\n{output}");
        }
        for file in [
            credentials.display().to_string(),
            "/proc/self/environ".to_owned(),
        ] {
            assert!(
                output.contains(&format!("{file}:")),
                "the report names {file} and a position:\n{output}"
            );
        }
        assert!(output.contains("only its position is shown"), "{output}");
        assert!(s3.requests().is_empty(), "nothing uploaded");
    }
}

/// File names and values reach the terminal escaped: a file named with escape sequences (which
/// would set the terminal's title and clear the screen) is reported, not obeyed.
#[test]
fn names_and_values_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "\u{1b}]0;PWNED\u{7}\u{1b}[2J";
    fs::create_dir_all(dir.path().join("fn")).unwrap();
    fs::write(dir.path().join("fn/index.js"), b"ok").unwrap();
    let fifo = dir.path().join("fn").join(hostile);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let t = dir.path().join("template.yml");
    fs::write(
        &t,
        format!(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: fn/\n  \
             G:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: \"gone{}/\"\n",
            "\\e]0;PWNED\\a"
        ),
    )
    .unwrap();
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let out = run(copilot_lite(Some(&s3)).args([
        "package",
        "--template-file",
        t.to_str().unwrap(),
        "--s3-bucket",
        BUCKET,
    ]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}'),
        "raw control characters printed: {err:?}"
    );
    assert!(
        err.contains("\\e]0;PWNED\\u{7}\\e[2J"),
        "the FIFO's name, escaped: {err}"
    );
    assert!(
        err.contains("gone\\e]0;PWNED\\u{7}\n"),
        "the value, escaped: {err}"
    );
    assert!(s3.requests().is_empty());
}

/// A problem far along a very long line (a minified JSON template) is shown in a window
/// around its column: no panic (miette cannot lay out columns past 65,535), no whole-line dump.
#[test]
fn a_problem_far_along_a_long_line_is_shown_around_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = String::from("{\"Resources\":{");
    for i in 0..1500 {
        json.push_str(&format!(
            "\"T{i}\":{{\"Type\":\"AWS::SNS::Topic\",\"Properties\":{{\"DisplayName\":\"{}\"}}}},",
            "x".repeat(40)
        ));
    }
    json.push_str(
        "\"F\":{\"Type\":\"AWS::Lambda::Function\",\"Properties\":{\"Code\":\"nope/\"}}}}",
    );
    let col = json.find("\"nope/\"").unwrap() + 1;
    assert!(col > 70_000, "the problem is past column 65,535");
    let t = dir.path().join("template.json");
    fs::write(&t, &json).unwrap();
    let out = run(copilot_lite(None).args([
        "package",
        "--template-file",
        t.to_str().unwrap(),
        "--s3-bucket",
        BUCKET,
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let place = format!("{}:1:{col}", t.display());
    assert!(
        err.contains(&format!(
            "{place}: resource F, property Code: file or folder does not exist"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("[{place}]")),
        "the snippet names the real column: {err}"
    );
    assert!(err.contains("\"Code\":\"nope/\""), "{err}");
    let longest = err.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest < 400, "a line of {longest} characters was printed");
}

/// Logs written to a pipe (CI logs, `2> file`) carry no terminal colour codes.
#[test]
fn piped_logs_are_plain_text() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let t = template(dir.path());
    let out = run(copilot_lite(Some(&s3)).args([
        "-vv",
        "package",
        "--template-file",
        t.to_str().unwrap(),
        "--s3-bucket",
        BUCKET,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("INFO") || err.contains("DEBUG"),
        "a log was written: {err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "ANSI codes in a piped log: {err:?}"
    );
}
