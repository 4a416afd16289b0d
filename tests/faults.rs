//! The built binary against a faulty network: `copilot-lite package` and `svc package
//! --upload-assets` through the fault proxy (`test_support::proxy`) in front of the in-process
//! S3 server.
//!
//! - 10% of the requests failing (500, 503 SlowDown, connection closed, truncated bodies, slow
//!   responses; before or after the server executed them), several fixed seeds: the run
//!   succeeds and every stored object equals the one of a fault-free run.
//! - Every request failing: a non-zero exit naming the operation and the object, within a
//!   bound (a watchdog kills a hung run), and no object, no open multipart upload left.
//! - A multipart upload whose parts keep failing is aborted; a lost `CompleteMultipartUpload`
//!   response is recovered.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use test_support::proxy::{FaultKind, FaultProxy, Plan, Rule, When};
use test_support::s3::TestS3;

/// The artifact above the 8 MiB multipart threshold (two parts).
const BIG_LEN: usize = 9 * 1024 * 1024 + 4321;
const BIG: &str = "big/blob.json";
/// A hang detector, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(180);

/// `examples/package` plus a state machine whose definition is a 9 MiB file (uploaded as it
/// is, through multipart).
fn fixture() -> tempfile::TempDir {
    let dir = example();
    std::fs::create_dir_all(dir.path().join("big")).unwrap();
    std::fs::write(dir.path().join(BIG), pseudo_random(BIG_LEN, 42)).unwrap();
    let template = dir.path().join("template.yml");
    let text = std::fs::read_to_string(&template).unwrap();
    let text = text.replacen(
        "\nOutputs:",
        &format!(
            "\n  BigWorkflow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n      \
             DefinitionS3Location: {BIG}\n      RoleArn: arn:aws:iam::123456789012:role/x\n\nOutputs:"
        ),
        1,
    );
    assert!(text.contains("BigWorkflow"), "example changed");
    std::fs::write(&template, text).unwrap();
    dir
}

/// Incompressible, reproducible bytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `copilot-lite` against `s3` through `proxy` (when given), with no retry or timeout
/// settings leaking in from the machine.
fn command(s3: &TestS3, proxy: Option<&FaultProxy>) -> Command {
    let mut cmd = copilot_lite(Some(s3));
    for var in [
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "COPILOT_LITE_HTTP_TIMEOUT",
    ] {
        cmd.env_remove(var);
    }
    if let Some(p) = proxy {
        cmd.env("AWS_ENDPOINT_URL", &p.endpoint);
    }
    cmd
}

fn package_cmd(s3: &TestS3, proxy: Option<&FaultProxy>, dir: &Path) -> Command {
    let mut cmd = command(s3, proxy);
    cmd.arg("package")
        .arg("--template-file")
        .arg(dir.join("template.yml"))
        .args(["--s3-bucket", BUCKET]);
    cmd
}

/// Runs `cmd`; kills it and fails the test if it is still running after [`WATCHDOG`].
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run copilot-lite");
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!(
                "copilot-lite still running after {} s: killed (a hang)\n{stderr}",
                WATCHDOG.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    eprintln!(
        "--- copilot-lite exited with {:?}\n--- stderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every object of the bucket with its bytes.
fn objects(s3: &TestS3) -> BTreeMap<String, Vec<u8>> {
    s3.keys(BUCKET)
        .into_iter()
        .map(|k| {
            let bytes = s3.object(BUCKET, &k).unwrap();
            (k, bytes)
        })
        .collect()
}

/// A fault-free run: the packaged template (endpoint written as `<endpoint>`) and the objects.
fn baseline(
    args: impl Fn(&TestS3, Option<&FaultProxy>) -> Command,
) -> (String, BTreeMap<String, Vec<u8>>) {
    let s3 = server();
    let out = run_bounded(&mut args(&s3, None));
    assert!(out.status.success(), "the fault-free run failed");
    let text = stdout(&out).replace(&s3.endpoint, "<endpoint>");
    (text, objects(&s3))
}

/// Runs `args` through a proxy with 10% faults for each seed; each run must succeed with the
/// baseline's output and objects. Returns the faults injected over all seeds.
fn ten_percent(
    seeds: &[u64],
    args: impl Fn(&TestS3, Option<&FaultProxy>) -> Command,
) -> test_support::proxy::Stats {
    let (want_text, want_objects) = baseline(&args);
    let mut total = test_support::proxy::Stats::default();
    for &seed in seeds {
        let s3 = server();
        let plan = Plan::mixed(seed, 0.10).slow_delay(Duration::from_millis(300));
        let proxy = FaultProxy::start(&s3.endpoint, plan).unwrap();
        let out = run_bounded(&mut args(&s3, Some(&proxy)));
        let stats = proxy.stats();
        eprintln!("seed {seed}: {stats:?}");
        assert!(
            out.status.success(),
            "seed {seed}: failed with 10% faults ({stats:?})"
        );
        assert_eq!(
            stdout(&out).replace(&proxy.endpoint, "<endpoint>"),
            want_text,
            "seed {seed}: the packaged template"
        );
        let got = objects(&s3);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want_objects.keys().collect::<Vec<_>>(),
            "seed {seed}: the stored keys"
        );
        for (key, bytes) in &want_objects {
            assert!(
                got[key] == *bytes,
                "seed {seed}: {key} differs from the fault-free upload ({} bytes, want {})",
                got[key].len(),
                bytes.len()
            );
        }
        // The only upload that can stay open is one whose CreateMultipartUpload executed and
        // whose response was lost (its id never reached the tool; it holds no part).
        let lost_creates = proxy
            .log()
            .iter()
            .filter(|r| {
                r.operation == "CreateMultipartUpload"
                    && r.upstream_status == 200
                    && r.fault
                        .is_some_and(|(k, w)| w == When::After && k != FaultKind::Slow)
            })
            .count();
        assert!(
            s3.open_multipart_uploads() <= lost_creates,
            "seed {seed}: {} open multipart uploads, {lost_creates} lost CreateMultipartUpload responses",
            s3.open_multipart_uploads()
        );
        total.requests += stats.requests;
        total.forwarded += stats.forwarded;
        for (k, n) in stats.faults {
            *total.faults.entry(k).or_insert(0) += n;
        }
    }
    total
}

#[test]
fn package_succeeds_with_ten_percent_faults_and_stores_the_same_bytes() {
    let dir = fixture();
    let total = ten_percent(&[1, 2, 3, 4, 5, 6], |s3, proxy| {
        package_cmd(s3, proxy, dir.path())
    });
    eprintln!("all seeds: {total:?}");
    // The seeds do inject failures, of several kinds, before and after the server.
    assert!(total.failures() >= 3, "{total:?}");
    assert!(
        total.faults.keys().any(|(_, w)| *w == When::After)
            && total.faults.keys().any(|(_, w)| *w == When::Before),
        "{total:?}"
    );
    // The big artifact is the file itself.
    let s3 = server();
    let out = run_bounded(&mut package_cmd(&s3, None, dir.path()));
    assert!(out.status.success());
    let big = std::fs::read(dir.path().join(BIG)).unwrap();
    assert!(objects(&s3).values().any(|b| *b == big));
    assert!(s3.count_operation("UploadPart") >= 2, "multipart used");
}

#[test]
fn svc_package_upload_assets_succeeds_with_ten_percent_faults() {
    let dir = seed();
    // Faults are a hash of the seed and the request (its object key among it): eight seeds, so
    // that some request is faulted whatever the keys (four gave none once keys changed).
    let total = ten_percent(&[11, 12, 13, 14, 15, 16, 17, 18], |s3, proxy| {
        let mut cmd = command(s3, proxy);
        cmd.current_dir(dir.path())
            .arg("svc")
            .args(SVC_PACKAGE_UPLOAD);
        cmd
    });
    eprintln!("all seeds: {total:?}");
    assert!(total.failures() >= 1, "{total:?}");
}

/// Every request fails with `kind` before reaching the server.
fn all_failing(kind: FaultKind, extra_env: &[(&str, &str)]) -> (Output, TestS3, FaultProxy) {
    let dir = fixture();
    let s3 = server();
    let plan = Plan::none()
        .stall(Duration::from_secs(3600))
        .rule(Rule::always(kind, When::Before));
    let proxy = FaultProxy::start(&s3.endpoint, plan).unwrap();
    let mut cmd = package_cmd(&s3, Some(&proxy), dir.path());
    // Fewer attempts keep the test short; the default (5) is exercised above.
    cmd.env("AWS_MAX_ATTEMPTS", "2")
        .envs(extra_env.iter().copied());
    let out = run_bounded(&mut cmd);
    (out, s3, proxy)
}

#[test]
fn every_request_failing_exits_non_zero_naming_what_failed_and_leaves_nothing() {
    for (kind, needle) in [
        // The first request is a HeadObject: its error responses have no body, hence no code.
        (FaultKind::InternalError, "HTTP 500"),
        (FaultKind::SlowDown, "HTTP 503"),
        (FaultKind::Reset, "request not completed"),
        (FaultKind::Truncated, "request not completed"),
    ] {
        let (out, s3, proxy) = all_failing(kind, &[]);
        assert!(!out.status.success(), "{kind:?}: exit 0");
        let err = stderr(&out);
        assert!(
            err.contains(needle) && err.contains(&format!("HeadObject s3://{BUCKET}/")),
            "{kind:?}: the message names the operation, object and cause:\n{err}"
        );
        assert!(
            !err.contains("ServiceError(") && !err.contains("DispatchFailure("),
            "{kind:?}: one line, not the SDK's debug dump:\n{err}"
        );
        assert!(proxy.stats().requests > 0);
        assert_eq!(proxy.stats().forwarded, 0);
        assert!(
            s3.keys(BUCKET).is_empty(),
            "{kind:?}: {:?}",
            s3.keys(BUCKET)
        );
        assert_eq!(s3.open_multipart_uploads(), 0);
        assert_eq!(proxy.in_flight(), 0, "{kind:?}: no request left hanging");
    }
}

/// The deadline bounds the whole request, retries included: with the default 5 attempts the
/// run fails with the documented message (see `aws_policy::timeout_message`), not after
/// 5 × the bound.
#[test]
fn a_silent_endpoint_times_out_instead_of_hanging() {
    let (out, s3, proxy) = all_failing(
        FaultKind::Stall,
        &[
            ("COPILOT_LITE_HTTP_TIMEOUT", "2"),
            ("AWS_MAX_ATTEMPTS", "5"),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("HeadObject s3://{BUCKET}/"))
            && err.contains(
                "no complete response within 2 s, retries included (COPILOT_LITE_HTTP_TIMEOUT=<seconds> sets this bound)"
            )
            && !err.contains("DispatchFailure("),
        "{err}"
    );
    assert!(proxy.stats().of(FaultKind::Stall) >= 1);
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn an_interrupted_multipart_upload_is_aborted() {
    let dir = fixture();
    let s3 = server();
    // The first part goes through, every other part fails for good.
    let rule = Rule::always(FaultKind::InternalError, When::Before)
        .operations(&["UploadPart"])
        .skip(1);
    let proxy = FaultProxy::start(&s3.endpoint, Plan::none().rule(rule)).unwrap();
    let mut cmd = package_cmd(&s3, Some(&proxy), dir.path());
    cmd.env("AWS_MAX_ATTEMPTS", "2");
    let out = run_bounded(&mut cmd);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("UploadPart") && err.contains("InternalError"),
        "{err}"
    );
    let aborts: Vec<_> = s3
        .requests()
        .into_iter()
        .filter(|r| r.operation == "AbortMultipartUpload")
        .collect();
    assert_eq!(aborts.len(), 1, "{:?}", s3.counts_by_operation());
    assert_eq!(aborts[0].status, 204);
    assert_eq!(s3.count_operation("CreateMultipartUpload"), 1);
    assert!(s3.count_operation("UploadPart") >= 1);
    assert_eq!(s3.open_multipart_uploads(), 0, "the upload was aborted");
    let big = std::fs::read(dir.path().join(BIG)).unwrap();
    assert!(
        !objects(&s3).values().any(|b| b.len() == big.len()),
        "no object from the interrupted upload"
    );
}

#[test]
fn a_lost_complete_multipart_upload_response_is_recovered() {
    let dir = fixture();
    let s3 = server();
    // The server completes the upload; the tool never hears of it, and retries.
    let rule = Rule::always(FaultKind::InternalError, When::After)
        .operations(&["CompleteMultipartUpload"])
        .limit(1);
    let proxy = FaultProxy::start(&s3.endpoint, Plan::none().rule(rule)).unwrap();
    let out = run_bounded(&mut package_cmd(&s3, Some(&proxy), dir.path()));
    assert!(out.status.success());
    assert_eq!(proxy.stats().of(FaultKind::InternalError), 1);
    let big = std::fs::read(dir.path().join(BIG)).unwrap();
    assert!(objects(&s3).values().any(|b| *b == big));
    assert_eq!(s3.open_multipart_uploads(), 0);
    assert_eq!(
        s3.count_operation("CreateMultipartUpload"),
        1,
        "not uploaded again"
    );
    assert!(!stderr(&out).contains("abort"), "{}", stderr(&out));
}
