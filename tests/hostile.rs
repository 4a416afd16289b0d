//! The built binary in hostile environments (issue #14):
//!
//! - killed by SIGTERM while zipping, or by SIGINT during a multipart upload: it exits 143 /
//!   130, its temporary folder is gone and the multipart upload aborted;
//! - an endpoint answering `200 text/html` to everything: nothing counts as stored, the run
//!   fails naming the endpoint and what was wrong;
//! - `-vvv` with `RUST_LOG=trace`: no request signature, secret or payload byte in the logs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use test_support::proxy::{FaultKind, FaultProxy, Plan, Rule, When};
use test_support::s3::TestS3;

/// A hang detector, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(300);

/// A template with one resource whose property points at `path` (relative to `dir`).
fn write_template(dir: &Path, resource: &str) {
    std::fs::write(
        dir.join("template.yml"),
        format!("AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n{resource}"),
    )
    .unwrap();
}

fn package(s3: &TestS3, dir: &Path, temp: &Path) -> Command {
    let mut cmd = copilot_lite(Some(s3));
    for var in [
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "COPILOT_LITE_HTTP_TIMEOUT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TMPDIR", temp)
        .arg("package")
        .arg("--template-file")
        .arg(dir.join("template.yml"))
        .args(["--s3-bucket", BUCKET])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Polls `ready` until it holds; fails the test if the child exits first or after
/// [`WATCHDOG`].
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("copilot-lite exited ({status}) before {what}");
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            panic!("{what}: not within {} s", WATCHDOG.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
}

/// Waits for the child (killing it after [`WATCHDOG`]); returns its status and stderr.
fn finish(mut child: Child) -> (ExitStatus, String) {
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("copilot-lite did not exit after the signal (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.join().unwrap();
    eprintln!("--- copilot-lite exited with {status}\n--- stderr:\n{err}");
    (status, err)
}

/// Every file and folder under `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(entries(&path));
        }
        out.push(path);
    }
    out
}

/// A file inside a `copilot-lite-*` folder of `temp` (a zip being written).
fn temp_zip_exists(temp: &Path) -> bool {
    std::fs::read_dir(temp).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("copilot-lite-"))
            .any(|e| std::fs::read_dir(e.path()).is_ok_and(|mut files| files.next().is_some()))
    })
}

#[test]
fn sigterm_while_zipping_deletes_the_temporary_zip_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(code.join("index.js"), "exports.handler = () => 1;\n").unwrap();
    // 3 GiB of zeros (below zip64), sparse: cheap on disk, seconds to hash and to deflate.
    let big = std::fs::File::create(code.join("data.bin")).unwrap();
    big.set_len(3 << 30).unwrap();
    drop(big);
    write_template(
        dir.path(),
        "  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n      Handler: index.handler\n      Runtime: nodejs20.x\n      Role: arn:aws:iam::123456789012:role/x\n",
    );
    let s3 = server();
    let mut child = package(&s3, dir.path(), temp.path()).spawn().unwrap();
    wait_until(&mut child, "the temporary zip exists", || {
        temp_zip_exists(temp.path())
    });
    signal(&child, libc::SIGTERM);
    let (status, err) = finish(child);
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("Interrupted (SIGTERM)"), "{err}");
    assert_eq!(
        entries(temp.path()),
        Vec::<PathBuf>::new(),
        "temp folder not empty"
    );
    assert_eq!(
        s3.count_operation("PutObject") + s3.count_operation("CreateMultipartUpload"),
        0,
        "stopped while zipping, before any upload"
    );
    assert!(s3.keys(BUCKET).is_empty());
}

#[test]
fn sigint_during_a_multipart_upload_aborts_it_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    // Uploaded as it is (no zip), in 3 parts of 8 MiB.
    std::fs::write(dir.path().join("big.json"), vec![b' '; 20 << 20]).unwrap();
    write_template(
        dir.path(),
        "  Flow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n      DefinitionS3Location: big.json\n      RoleArn: arn:aws:iam::123456789012:role/x\n",
    );
    let s3 = server();
    // Parts reach the server, their answers come back only after 10 minutes.
    let plan = Plan::none()
        .slow_delay(Duration::from_secs(600))
        .rule(Rule::always(FaultKind::Slow, When::After).operations(&["UploadPart"]));
    let proxy = FaultProxy::start(&s3.endpoint, plan).unwrap();
    let mut cmd = package(&s3, dir.path(), temp.path());
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let mut child = cmd.spawn().unwrap();
    wait_until(&mut child, "a part upload is in flight", || {
        s3.open_multipart_uploads() == 1 && s3.count_operation("UploadPart") >= 1
    });
    assert!(
        temp_dir_created(temp.path()),
        "the run's temporary folder exists"
    );
    signal(&child, libc::SIGINT);
    let (status, err) = finish(child);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Interrupted (SIGINT)"), "{err}");
    assert_eq!(
        s3.open_multipart_uploads(),
        0,
        "the multipart upload was aborted"
    );
    let aborts: Vec<_> = s3
        .requests()
        .into_iter()
        .filter(|r| r.operation == "AbortMultipartUpload")
        .collect();
    assert_eq!(aborts.len(), 1, "{:?}", s3.counts_by_operation());
    assert_eq!(aborts[0].status, 204);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
    assert!(s3.keys(BUCKET).is_empty(), "{:?}", s3.keys(BUCKET));
    assert_eq!(
        entries(temp.path()),
        Vec::<PathBuf>::new(),
        "temp folder not empty"
    );
}

fn temp_dir_created(temp: &Path) -> bool {
    std::fs::read_dir(temp).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("copilot-lite-"))
    })
}

/// A server on loopback answering `200 OK`, `text/html`, to every request.
fn html_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_html(stream));
        }
    });
    endpoint
}

fn answer_html(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    // Headers.
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // The body, so that the client hears the answer after sending it all.
    let mut body = buf.len() - end;
    while body < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body += n,
        }
    }
    let page = "<html><body><h1>Welcome</h1></body></html>";
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        page.len()
    );
    if !head.starts_with("head ") {
        response.push_str(page);
    }
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

#[test]
fn an_endpoint_answering_html_is_not_taken_for_s3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flow.json"), "{\"StartAt\": \"x\"}").unwrap();
    write_template(
        dir.path(),
        "  Flow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n      DefinitionS3Location: flow.json\n      RoleArn: arn:aws:iam::123456789012:role/x\n",
    );
    let endpoint = html_server();
    // Checked first (HeadObject), then sent without a check (PutObject).
    for (force, op) in [(false, "HeadObject"), (true, "PutObject")] {
        let mut cmd = copilot_lite(None);
        cmd.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_MAX_ATTEMPTS", "1")
            .arg("package")
            .arg("--template-file")
            .arg(dir.path().join("template.yml"))
            .args(["--s3-bucket", BUCKET]);
        if force {
            cmd.arg("--force-upload");
        }
        let out = run(&mut cmd);
        assert!(!out.status.success(), "{op}: exit 0");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{op} s3://{BUCKET}/"))
                && err.contains(&format!("the endpoint {endpoint} did not answer like S3"))
                && err.contains("HTTP 200 without an ETag"),
            "{op}: names the endpoint and what was wrong:\n{err}"
        );
        assert!(
            !err.contains("Uploaded"),
            "{op}: nothing counts as stored:\n{err}"
        );
        assert!(stdout(&out).is_empty(), "{op}: no packaged template");
    }
}

#[test]
fn trace_logs_hold_no_signature_secret_or_payload() {
    const SECRET: &str = "canarySecretKey0123456789abcdefghijklmnop";
    const PAYLOAD: &str = "payload-canary-7f3c9a2e51";
    let s3 = TestS3::start_with_credentials_blocking("AKIACANARYKEY0000001", SECRET);
    s3.create_bucket_blocking(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    // Uploaded as it is: its bytes go over the wire verbatim.
    std::fs::write(
        dir.path().join("flow.json"),
        format!("{{\"Comment\": \"{PAYLOAD}\"}}"),
    )
    .unwrap();
    // A nested template: uploaded from memory.
    std::fs::write(
        dir.path().join("nested.yml"),
        format!("Description: {PAYLOAD}-nested\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n"),
    )
    .unwrap();
    write_template(
        dir.path(),
        "  Flow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n      DefinitionS3Location: flow.json\n      RoleArn: arn:aws:iam::123456789012:role/x\n  Nested:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: nested.yml\n",
    );
    let mut cmd = copilot_lite(Some(&s3));
    cmd.env("RUST_LOG", "trace")
        .arg("-vvv")
        .arg("package")
        .arg("--template-file")
        .arg(dir.path().join("template.yml"))
        .args(["--s3-bucket", BUCKET]);
    let out = run(&mut cmd);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("TRACE"), "trace logging is on");
    assert_eq!(s3.keys(BUCKET).len(), 2, "both objects sent");
    let stored: Vec<String> = s3
        .keys(BUCKET)
        .iter()
        .map(|k| String::from_utf8_lossy(&s3.object(BUCKET, k).unwrap()).into_owned())
        .collect();
    assert!(
        stored.iter().any(|o| o.contains(PAYLOAD)),
        "the payload was sent"
    );
    for needle in ["chunk-signature", "Signature=", SECRET, PAYLOAD] {
        assert!(!err.contains(needle), "{needle:?} in the logs");
    }
}
