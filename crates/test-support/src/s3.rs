//! An in-process S3 server.
//!
//! Serves `s3s-fs` (objects stored as files in a temporary directory) over HTTP on
//! `127.0.0.1:<random port>` with SigV4 auth (access key `test`, secret `test`), with a log of
//! every request that reached it (method, path, query, S3 operation as named by
//! [`crate::operation::s3`], status), fault injection (make chosen operations fail with a given
//! S3 error), and helpers to inspect what was stored. It is a plain S3 endpoint.
//!
//! The server runs on its own thread with its own Tokio runtime, so it keeps serving while the
//! test blocks (e.g. on `std::process::Command` running the built binary with
//! `AWS_ENDPOINT_URL` = [`TestS3::endpoint`]). It stops when the [`TestS3`] is dropped.
//!
//! Compared with real S3, one gap of `s3s-fs` is closed: a request naming a bucket that does not
//! exist gets `404 NoSuchBucket` (s3s-fs would create the directory on `PutObject`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};

/// Access key id the server accepts.
pub const ACCESS_KEY: &str = "test";
/// Secret access key the server accepts.
pub const SECRET_KEY: &str = "test";
/// Region [`TestS3::sdk_config`] uses.
pub const REGION: &str = "us-east-1";

/// One request as seen by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method (`GET`, `PUT`, ...).
    pub method: String,
    /// Path, percent-encoded as sent (`/bucket/key`).
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// S3 operation name derived from method, path, query and headers by
    /// [`crate::operation::s3`] (`PutObject`, `UploadPart`, `CreateMultipartUpload`,
    /// `HeadObject`, ...; `Unknown` otherwise).
    pub operation: &'static str,
    /// Request headers, names lower-case (repeated headers joined with `,`).
    pub headers: BTreeMap<String, String>,
    /// Status code of the response (0 when the connection failed before a response).
    pub status: u16,
}

impl RecordedRequest {
    /// A request header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What a request looks like before it is served (given to [`TestS3::on_request`] hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub query: String,
    pub operation: &'static str,
    pub headers: BTreeMap<String, String>,
}

/// A rule making matching requests fail. See [`TestS3::inject_fault`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// S3 operation name, as in [`RecordedRequest::operation`].
    pub operation: String,
    /// Let this many matching requests through before failing.
    pub skip: usize,
    /// Fail this many matching requests (then the rule is spent). `usize::MAX`: forever.
    pub times: usize,
    /// HTTP status of the injected error.
    pub status: u16,
    /// S3 error code (`AccessDenied`, `InternalError`, ...).
    pub code: String,
}

impl Fault {
    /// Fails every `operation` request with `status`/`code`.
    pub fn always(operation: &str, status: u16, code: &str) -> Fault {
        Fault {
            operation: operation.to_owned(),
            skip: 0,
            times: usize::MAX,
            status,
            code: code.to_owned(),
        }
    }

    /// Fails only the `n`-th (0-based) `operation` request.
    pub fn nth(operation: &str, n: usize, status: u16, code: &str) -> Fault {
        Fault {
            operation: operation.to_owned(),
            skip: n,
            times: 1,
            status,
            code: code.to_owned(),
        }
    }
}

type Hook = Arc<dyn Fn(&RequestInfo) + Send + Sync>;

struct State {
    root: PathBuf,
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<Fault>>,
    hook: Mutex<Option<Hook>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make every later call panic too.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running S3 server. Dropping it stops the server and deletes its files.
pub struct TestS3 {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub endpoint: String,
    /// Directory holding the data: one sub-directory per bucket, objects as files below it.
    pub root: PathBuf,
    pub addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    credentials: (String, String),
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestS3")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl TestS3 {
    /// Starts a server (usable from async tests; the server has its own runtime thread).
    ///
    /// # Panics
    /// When the temporary directory, socket or server thread cannot be created.
    pub async fn start() -> TestS3 {
        Self::start_blocking()
    }

    /// Starts a server from synchronous code.
    ///
    /// # Panics
    /// When the temporary directory, socket or server thread cannot be created.
    pub fn start_blocking() -> TestS3 {
        Self::start_with_credentials_blocking(ACCESS_KEY, SECRET_KEY)
    }

    /// [`TestS3::start_blocking`] accepting `access_key`/`secret_key` instead of
    /// [`ACCESS_KEY`]/[`SECRET_KEY`] (e.g. to check that a secret never shows in logs).
    /// [`TestS3::env`] and [`TestS3::sdk_config`] carry these credentials.
    ///
    /// # Panics
    /// When the temporary directory, socket or server thread cannot be created.
    pub fn start_with_credentials_blocking(access_key: &str, secret_key: &str) -> TestS3 {
        let dir = tempfile::Builder::new()
            .prefix("s3-test-server-")
            .tempdir()
            .expect("create temp dir for s3-test-server");
        let root = dir.path().canonicalize().expect("canonicalize temp dir");
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs on temp dir");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(access_key, secret_key));
            b.build()
        };

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");

        let state = Arc::new(State {
            root: root.clone(),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("s3-test-server-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("s3-test-server-worker")
                    .enable_all()
                    .build()
                    .expect("tokio runtime for s3-test-server");
                rt.block_on(serve(listener, service, thread_state, rx));
                rt.shutdown_background();
            })
            .expect("spawn s3-test-server thread");

        tracing::debug!(%addr, root = %root.display(), "s3-test-server started");
        TestS3 {
            endpoint: format!("http://{addr}"),
            root,
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
            credentials: (access_key.to_owned(), secret_key.to_owned()),
            _dir: dir,
        }
    }

    /// SDK configuration for this server: its static credentials (`test`/`test` unless started
    /// with others), region `us-east-1`,
    /// endpoint [`TestS3::endpoint`]. S3 clients built from it need `force_path_style(true)`
    /// (see [`TestS3::client`]).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let creds = aws_sdk_s3::config::Credentials::new(
            &self.credentials.0,
            &self.credentials.1,
            None,
            None,
            "s3-test-server",
        );
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(creds))
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .build()
    }

    /// An S3 client (path-style) talking to this server. Its requests are logged like any other.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Environment variables a child process needs to talk to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.credentials.0.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.credentials.1.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Creates a bucket (directly on disk: this does not show up in the request log).
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub async fn create_bucket(&self, name: &str) {
        self.create_bucket_blocking(name);
    }

    /// [`TestS3::create_bucket`] for synchronous code.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn create_bucket_blocking(&self, name: &str) {
        std::fs::create_dir_all(self.root.join(name)).expect("create bucket directory");
    }

    /// Deletes a bucket and everything in it (on disk, not logged).
    ///
    /// # Panics
    /// When the directory exists and cannot be removed.
    pub fn delete_bucket(&self, name: &str) {
        match std::fs::remove_dir_all(self.root.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("delete bucket {name}: {e}"),
        }
    }

    /// Sorted keys of the objects stored in `bucket` (empty when the bucket does not exist).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut out = Vec::new();
        collect_keys(&self.root.join(bucket), "", &mut out);
        out.sort();
        out
    }

    /// The bytes of an object, `None` when it does not exist.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let path = self.root.join(bucket).join(key);
        if path.is_file() {
            std::fs::read(path).ok()
        } else {
            None
        }
    }

    /// Put an object directly on disk (not logged), e.g. to pre-seed a bucket.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn put_object_blocking(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.root.join(bucket).join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create object directory");
        }
        std::fs::write(path, bytes).expect("write object");
    }

    /// Multipart uploads created and neither completed nor aborted (s3s-fs keeps one
    /// `.upload-<id>.json` file per open upload).
    pub fn open_multipart_uploads(&self) -> usize {
        std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with(".upload-")
                            && name.ends_with(".json")
                            && !name.contains(".metadata")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every request received so far, in order of completion.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// Number of requests with this HTTP method (case-insensitive).
    pub fn count_method(&self, method: &str) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// Number of requests of this S3 operation (`PutObject`, `UploadPart`, ...).
    pub fn count_operation(&self, operation: &str) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.operation == operation)
            .count()
    }

    /// Requests per HTTP method.
    pub fn counts_by_method(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in lock(&self.state.log).iter() {
            *out.entry(r.method.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Requests per S3 operation.
    pub fn counts_by_operation(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for r in lock(&self.state.log).iter() {
            *out.entry(r.operation).or_insert(0) += 1;
        }
        out
    }

    /// Number of requests that would upload something (`PUT` or `POST`).
    pub fn write_requests(&self) -> usize {
        self.count_method("PUT") + self.count_method("POST")
    }

    /// Adds a fault rule: matching requests get an S3 error response (their body is read and
    /// discarded first). Rules are checked in insertion order.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.state.faults).push(fault);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Calls `hook` for every request before it is served (on a server thread).
    pub fn on_request(&self, hook: impl Fn(&RequestInfo) + Send + Sync + 'static) {
        *lock(&self.state.hook) = Some(Arc::new(hook));
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn collect_keys(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_keys(&entry.path(), &format!("{key}/"), out),
            Ok(t) if t.is_file() => out.push(key),
            _ => {}
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    service: S3Service,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("s3-test-server: listener: {e}");
            return;
        }
    };
    let builder = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = tokio::select! {
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!("s3-test-server: accept: {e}");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = service.clone();
        let state = Arc::clone(&state);
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let service = service.clone();
            let state = Arc::clone(&state);
            async move { handle(&service, &state, req).await }
        });
        let conn = builder
            .serve_connection(TokioIo::new(socket), svc)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

async fn handle(
    service: &S3Service,
    state: &State,
    req: Request<Incoming>,
) -> Result<Response<s3s::Body>, s3s::HttpError> {
    let info = RequestInfo {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        operation: crate::operation::s3(
            req.method(),
            req.uri().path(),
            req.uri().query().unwrap_or(""),
            req.headers(),
        ),
        headers: header_map(req.headers()),
    };
    let hook = lock(&state.hook).clone();
    if let Some(hook) = hook {
        hook(&info);
    }

    let injected = take_fault(state, info.operation);
    let missing_bucket = bucket_of(&info.path)
        .filter(|_| info.operation != "CreateBucket")
        .filter(|b| !state.root.join(b).is_dir())
        .map(str::to_owned);

    let result = if let Some((status, code)) = injected {
        Ok(error_response(req, status, &code).await)
    } else if let Some(bucket) = missing_bucket {
        tracing::debug!(%bucket, "s3-test-server: no such bucket");
        Ok(error_response(req, 404, "NoSuchBucket").await)
    } else {
        service.call(req.map(s3s::Body::from)).await
    };

    let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
    lock(&state.log).push(RecordedRequest {
        method: info.method,
        path: info.path,
        query: info.query,
        operation: info.operation,
        headers: info.headers,
        status,
    });
    result
}

fn header_map(headers: &http::HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

fn take_fault(state: &State, operation: &str) -> Option<(u16, String)> {
    let mut faults = lock(&state.faults);
    for f in faults
        .iter_mut()
        .filter(|f| f.operation == operation && f.times > 0)
    {
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        if f.times != usize::MAX {
            f.times -= 1;
        }
        return Some((f.status, f.code.clone()));
    }
    None
}

async fn error_response(req: Request<Incoming>, status: u16, code: &str) -> Response<s3s::Body> {
    let is_head = req.method() == Method::HEAD;
    // Read the request body so the client sees the response rather than a reset connection.
    let _ = req.into_body().collect().await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if is_head {
        s3s::Body::empty()
    } else {
        s3s::Body::from(Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{code} (s3-test-server)</Message><RequestId>s3-test-server</RequestId></Error>"
        )))
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// First path segment of a path-style request, if any.
fn bucket_of(path: &str) -> Option<&str> {
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty() && !first.starts_with('.')).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_segment() {
        assert_eq!(bucket_of("/b/k"), Some("b"));
        assert_eq!(bucket_of("/b"), Some("b"));
        assert_eq!(bucket_of("/"), None);
        assert_eq!(bucket_of("/.upload"), None);
    }
}
