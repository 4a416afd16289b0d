//! A fault-injecting HTTP/1.1 reverse proxy.
//!
//! Listens on `127.0.0.1:<random port>`, forwards every request unchanged (method, path,
//! query, headers: the `Host` header too, because SigV4 signs it) to an upstream base URL, and
//! follows a seeded, deterministic [`Plan`] that makes a share of the requests fail the way
//! networks and AWS services fail: `500 InternalError`, `503 SlowDown` (S3) / `400 Throttling`
//! (query APIs: CloudFormation, STS), a connection closed without a response, a slow response,
//! a truncated response body (`Content-Length` larger than what is sent, then close), or a
//! request that is never answered. A fault happens either *before* forwarding (the upstream
//! never sees the request) or *after* (the upstream executed it and the response is lost: this
//! is what tests idempotency). It keeps statistics per fault kind and a log of every request.
//!
//! It speaks plain HTTP (no AWS SDK) and names operations with [`crate::operation::of`] so
//! that rules can target them.
//!
//! The proxy runs on its own thread with its own Tokio runtime (like the S3 server), so it
//! keeps serving while a test blocks on `std::process::Command`. It stops when dropped.
//!
//! Determinism: whether a request is faulted, and how, is a hash of the plan's seed, the
//! request's *fingerprint* (operation, method, path, query without `uploadId`) and how many
//! times that fingerprint was seen before. The same sequence of distinct requests gets the same
//! faults whatever their interleaving; retries (same fingerprint, next occurrence) draw anew.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;

use crate::operation;

/// How a faulted request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// `500 InternalError` (S3) / `500 InternalFailure` (query APIs), with an XML error body.
    InternalError,
    /// `503 SlowDown` (S3) / `400 Throttling` "Rate exceeded" (query APIs, as AWS sends it).
    SlowDown,
    /// The connection is closed without a response.
    Reset,
    /// The response comes after [`Plan::slow_delay`] (then normally: not a failure by itself).
    Slow,
    /// The response declares a `Content-Length` larger than the bytes sent, then the connection
    /// is closed (HEAD responses, which have no body, get a [`FaultKind::Reset`] instead).
    Truncated,
    /// Nothing happens for [`Plan::stall`] (a dead endpoint), then the connection is closed.
    Stall,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::InternalError,
        FaultKind::SlowDown,
        FaultKind::Reset,
        FaultKind::Slow,
        FaultKind::Truncated,
        FaultKind::Stall,
    ];

    /// The kinds that make a request fail (all but [`FaultKind::Slow`] and
    /// [`FaultKind::Stall`]): a client with retries must get past them.
    pub const FAILING: [FaultKind; 4] = [
        FaultKind::InternalError,
        FaultKind::SlowDown,
        FaultKind::Reset,
        FaultKind::Truncated,
    ];
}

/// When a fault happens relative to forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum When {
    /// The upstream never sees the request.
    Before,
    /// The upstream executes the request; its response is replaced by the fault.
    After,
}

/// Which requests a [`Rule`] applies to, and how they fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// HTTP methods (upper case) the rule applies to; empty: all.
    pub methods: Vec<String>,
    /// Operations (`PutObject`, `UploadPart`, `CreateChangeSet`, ...) the rule applies to;
    /// empty: all. See [`operation::of`].
    pub operations: Vec<String>,
    /// Let this many matching requests through before the rule starts drawing.
    pub skip: usize,
    /// Fault at most this many requests (then the rule is spent); `None`: no limit.
    pub limit: Option<usize>,
    /// Share of the matching requests that get a fault, `0.0..=1.0`.
    pub rate: f64,
    /// The kinds to choose from (uniformly, by the seeded hash); empty means
    /// [`FaultKind::FAILING`].
    pub kinds: Vec<FaultKind>,
    /// When faults happen (chosen uniformly among these); empty means both.
    pub when: Vec<When>,
}

impl Rule {
    /// `rate` of every request fails with one of `kinds`, before or after forwarding.
    pub fn random(rate: f64, kinds: &[FaultKind]) -> Rule {
        Rule {
            methods: Vec::new(),
            operations: Vec::new(),
            skip: 0,
            limit: None,
            rate,
            kinds: kinds.to_vec(),
            when: Vec::new(),
        }
    }

    /// Every request fails with `kind`, `when`.
    pub fn always(kind: FaultKind, when: When) -> Rule {
        Rule {
            when: vec![when],
            ..Rule::random(1.0, &[kind])
        }
    }

    /// Only requests of these operations.
    pub fn operations(mut self, operations: &[&str]) -> Rule {
        self.operations = operations.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Only requests with these methods.
    pub fn methods(mut self, methods: &[&str]) -> Rule {
        self.methods = methods.iter().map(|s| s.to_ascii_uppercase()).collect();
        self
    }

    /// Only after `n` matching requests went through.
    pub fn skip(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// At most `n` faults.
    pub fn limit(mut self, n: usize) -> Rule {
        self.limit = Some(n);
        self
    }

    /// Only at these times.
    pub fn when(mut self, when: &[When]) -> Rule {
        self.when = when.to_vec();
        self
    }

    fn matches(&self, method: &str, operation: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && (self.operations.is_empty() || self.operations.iter().any(|o| o == operation))
    }
}

/// The fault plan: rules, checked in order (the first whose filters match a request decides).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seed: u64,
    pub rules: Vec<Rule>,
    /// Delay of [`FaultKind::Slow`] (default 1 s).
    pub slow_delay: Duration,
    /// How long a [`FaultKind::Stall`] holds the request (default 1 h: a dead endpoint).
    pub stall: Duration,
}

impl Plan {
    /// No faults: a plain proxy.
    pub fn none() -> Plan {
        Plan {
            seed: 0,
            rules: Vec::new(),
            slow_delay: Duration::from_secs(1),
            stall: Duration::from_secs(3600),
        }
    }

    /// `rate` of all requests fail, kinds [`FaultKind::FAILING`] plus [`FaultKind::Slow`],
    /// before or after forwarding.
    pub fn mixed(seed: u64, rate: f64) -> Plan {
        let mut kinds = FaultKind::FAILING.to_vec();
        kinds.push(FaultKind::Slow);
        Plan::none().seed(seed).rule(Rule::random(rate, &kinds))
    }

    pub fn seed(mut self, seed: u64) -> Plan {
        self.seed = seed;
        self
    }

    /// Appends a rule.
    pub fn rule(mut self, rule: Rule) -> Plan {
        self.rules.push(rule);
        self
    }

    pub fn slow_delay(mut self, delay: Duration) -> Plan {
        self.slow_delay = delay;
        self
    }

    pub fn stall(mut self, stall: Duration) -> Plan {
        self.stall = stall;
        self
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub method: String,
    /// Path and query as sent.
    pub uri: String,
    /// See [`operation::of`].
    pub operation: String,
    /// The fault applied, if any.
    pub fault: Option<(FaultKind, When)>,
    /// Whether the request reached the upstream.
    pub forwarded: bool,
    /// Status the upstream answered (0 when not forwarded or the upstream failed).
    pub upstream_status: u16,
    /// The `x-amz-expected-bucket-owner` header (S3's bucket-owner pinning), if sent.
    pub expected_bucket_owner: Option<String>,
    /// The form parameters of a query-API request (CloudFormation, STS), in order, decoded
    /// (`("DisableRollback", "true")`); empty for S3.
    pub params: Vec<(String, String)>,
}

/// Counters: requests handled (logged when answered), faults decided (when decided, so a
/// stalled request counts at once) since the start, the last [`FaultProxy::set_plan`] or
/// [`FaultProxy::clear_log`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: usize,
    /// Requests that reached the upstream.
    pub forwarded: usize,
    /// Faults per kind and time.
    pub faults: BTreeMap<(FaultKind, When), usize>,
}

impl Stats {
    /// Faults of `kind`, before and after forwarding.
    pub fn of(&self, kind: FaultKind) -> usize {
        self.faults
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Faults that make a request fail (every kind but [`FaultKind::Slow`]).
    pub fn failures(&self) -> usize {
        self.faults
            .iter()
            .filter(|((k, _), _)| *k != FaultKind::Slow)
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Default)]
struct Counters {
    /// Per rule: (matching requests seen, faults made).
    rules: Vec<(usize, usize)>,
    /// Occurrences per fingerprint.
    seen: HashMap<String, u64>,
    /// Faults decided (counted when decided, so that a stalled request counts at once).
    decided: BTreeMap<(FaultKind, When), usize>,
}

struct State {
    upstream: SocketAddr,
    plan: Mutex<Plan>,
    counters: Mutex<Counters>,
    log: Mutex<Vec<Record>>,
    in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running proxy. Dropping it stops it (requests in flight are cut off).
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub endpoint: String,
    pub addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .field("upstream", &self.state.upstream)
            .finish_non_exhaustive()
    }
}

/// Why the proxy could not start.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`, an IP address; a path is
    /// ignored) with `plan`.
    pub fn start(upstream: &str, plan: Plan) -> Result<FaultProxy, StartError> {
        let upstream = parse_upstream(upstream)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| StartError(format!("fault-proxy: bind 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("fault-proxy: local address: {e}")))?;
        let state = Arc::new(State {
            upstream,
            counters: Mutex::new(Counters {
                rules: vec![(0, 0); plan.rules.len()],
                seen: HashMap::new(),
                decided: BTreeMap::new(),
            }),
            plan: Mutex::new(plan),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread_state = Arc::clone(&state);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy-worker")
            .enable_all()
            .build()
            .map_err(|e| StartError(format!("fault-proxy: runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                rt.block_on(serve(listener, thread_state, rx));
                rt.shutdown_background();
            })
            .map_err(|e| StartError(format!("fault-proxy: thread: {e}")))?;
        Ok(FaultProxy {
            endpoint: format!("http://{addr}"),
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Replaces the plan and resets the rule counters, fingerprints and statistics (the log
    /// is kept).
    pub fn set_plan(&self, plan: Plan) {
        let mut counters = lock(&self.state.counters);
        *counters = Counters {
            rules: vec![(0, 0); plan.rules.len()],
            seen: HashMap::new(),
            decided: BTreeMap::new(),
        };
        *lock(&self.state.plan) = plan;
    }

    /// Statistics of the requests logged so far.
    pub fn stats(&self) -> Stats {
        let log = lock(&self.state.log);
        let mut stats = Stats {
            requests: log.len(),
            ..Stats::default()
        };
        stats.forwarded = log.iter().filter(|r| r.forwarded).count();
        stats.faults = lock(&self.state.counters).decided.clone();
        stats
    }

    /// Every request handled so far (in order of completion).
    pub fn log(&self) -> Vec<Record> {
        lock(&self.state.log).clone()
    }

    /// Forgets the log and the statistics.
    pub fn clear_log(&self) {
        lock(&self.state.log).clear();
        lock(&self.state.counters).decided.clear();
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_upstream(url: &str) -> Result<SocketAddr, StartError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| StartError(format!("fault-proxy: upstream {url} is not http://")))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.replace("localhost", "127.0.0.1");
    authority
        .parse()
        .map_err(|e| StartError(format!("fault-proxy: upstream {url}: {e}")))
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let socket = tokio::select! {
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
            _ = &mut shutdown => break,
        };
        let state = Arc::clone(&state);
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let state = Arc::clone(&state);
            async move { handle(&state, req).await }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), svc)
                .await;
        });
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Why the proxy cut the connection (the error hyper closes the connection on).
#[derive(Debug)]
struct Cut(&'static str);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fault-proxy: {}", self.0)
    }
}

impl std::error::Error for Cut {}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Result<Response<Body>, Cut> {
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(&state.in_flight);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Cut("request body")),
    };
    let method = parts.method.as_str().to_owned();
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let op = operation::of(&parts.method, &parts.uri, &parts.headers, &body);
    let dialect = Dialect::of(&parts.headers, &body);
    let params = if dialect == Dialect::Query {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let (fault, slow_delay, stall) = decide(state, &parts.method, &parts.uri, &op);
    let mut record = Record {
        method,
        uri,
        operation: op,
        fault,
        forwarded: false,
        upstream_status: 0,
        expected_bucket_owner: parts
            .headers
            .get("x-amz-expected-bucket-owner")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        params,
    };
    let is_head = parts.method == Method::HEAD;
    let result = run(
        state,
        parts,
        body,
        fault,
        slow_delay,
        stall,
        dialect,
        is_head,
        &mut record,
    )
    .await;
    lock(&state.log).push(record);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &State,
    parts: http::request::Parts,
    body: Bytes,
    fault: Option<(FaultKind, When)>,
    slow_delay: Duration,
    stall: Duration,
    dialect: Dialect,
    is_head: bool,
    record: &mut Record,
) -> Result<Response<Body>, Cut> {
    if let Some((kind, When::Before)) = fault {
        return match kind {
            FaultKind::InternalError | FaultKind::SlowDown => {
                Ok(error_response(kind, dialect, is_head))
            }
            FaultKind::Reset => Err(Cut("reset before forwarding")),
            FaultKind::Stall => {
                tokio::time::sleep(stall).await;
                Err(Cut("stalled"))
            }
            FaultKind::Truncated => {
                let full = error_response(FaultKind::InternalError, dialect, is_head);
                let (parts, body) = full.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Ok(truncated(parts, bytes, is_head)?)
            }
            FaultKind::Slow => {
                tokio::time::sleep(slow_delay).await;
                forward_and_respond(state, parts, body, record).await
            }
        };
    }
    let forwarded = forward(state, parts, body).await;
    record.forwarded = true;
    let (rparts, rbody) = match forwarded {
        Ok(r) => r,
        Err(e) => {
            // The upstream failed: tell the client with a gateway error (never a fault of ours).
            let mut resp = Response::new(full_body(Bytes::from(format!("fault-proxy: {e}"))));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(resp);
        }
    };
    record.upstream_status = rparts.status.as_u16();
    match fault {
        None => Ok(respond(rparts, rbody, is_head)),
        Some((kind, _)) => match kind {
            FaultKind::InternalError | FaultKind::SlowDown => {
                Ok(error_response(kind, dialect, is_head))
            }
            FaultKind::Reset => Err(Cut("reset after forwarding")),
            FaultKind::Stall => {
                tokio::time::sleep(stall).await;
                Err(Cut("stalled"))
            }
            FaultKind::Truncated => truncated(rparts, rbody, is_head),
            FaultKind::Slow => {
                tokio::time::sleep(slow_delay).await;
                Ok(respond(rparts, rbody, is_head))
            }
        },
    }
}

async fn forward_and_respond(
    state: &State,
    parts: http::request::Parts,
    body: Bytes,
    record: &mut Record,
) -> Result<Response<Body>, Cut> {
    let is_head = parts.method == Method::HEAD;
    record.forwarded = true;
    match forward(state, parts, body).await {
        Ok((rparts, rbody)) => {
            record.upstream_status = rparts.status.as_u16();
            Ok(respond(rparts, rbody, is_head))
        }
        Err(e) => {
            let mut resp = Response::new(full_body(Bytes::from(format!("fault-proxy: {e}"))));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(resp)
        }
    }
}

/// The plan's decision for one request.
fn decide(
    state: &State,
    method: &Method,
    uri: &http::Uri,
    op: &str,
) -> (Option<(FaultKind, When)>, Duration, Duration) {
    let plan = lock(&state.plan).clone();
    let mut counters = lock(&state.counters);
    let fp = fingerprint(op, method, uri);
    let occurrence = {
        let n = counters.seen.entry(fp.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    if counters.rules.len() < plan.rules.len() {
        counters.rules.resize(plan.rules.len(), (0, 0));
    }
    let Some((i, rule)) = plan
        .rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.matches(method.as_str(), op))
    else {
        return (None, plan.slow_delay, plan.stall);
    };
    let (seen, made) = &mut counters.rules[i];
    *seen += 1;
    if *seen <= rule.skip || rule.limit.is_some_and(|l| *made >= l) {
        return (None, plan.slow_delay, plan.stall);
    }
    let h = mix(plan.seed ^ fnv(fp.as_bytes()) ^ mix(occurrence.wrapping_add(1)));
    // 53 random bits as a fraction in [0, 1).
    let draw = (h >> 11) as f64 / (1u64 << 53) as f64;
    if draw >= rule.rate {
        return (None, plan.slow_delay, plan.stall);
    }
    *made += 1;
    let kinds: &[FaultKind] = if rule.kinds.is_empty() {
        &FaultKind::FAILING
    } else {
        &rule.kinds
    };
    let whens: &[When] = if rule.when.is_empty() {
        &[When::Before, When::After]
    } else {
        &rule.when
    };
    let h2 = mix(h);
    let kind = kinds[(h2 % kinds.len() as u64) as usize];
    let when = whens[((h2 >> 32) % whens.len() as u64) as usize];
    *counters.decided.entry((kind, when)).or_insert(0) += 1;
    (Some((kind, when)), plan.slow_delay, plan.stall)
}

/// Operation, method, path, and the query without `uploadId` (random per upload).
fn fingerprint(op: &str, method: &Method, uri: &http::Uri) -> String {
    let query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("uploadId="))
        .collect();
    format!("{op} {method} {}?{}", uri.path(), query.join("&"))
}

/// SplitMix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sends the request to the upstream on a fresh connection; the whole response.
async fn forward(
    state: &State,
    parts: http::request::Parts,
    body: Bytes,
) -> Result<(http::response::Parts, Bytes), String> {
    let stream = tokio::net::TcpStream::connect(state.upstream)
        .await
        .map_err(|e| format!("connect {}: {e}", state.upstream))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = Request::builder().method(parts.method.clone()).uri(
        parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
    );
    let chunked = parts
        .headers
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    for (name, value) in &parts.headers {
        // The body is forwarded whole: its length replaces a chunked transfer encoding.
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        builder = builder.header(name, value);
    }
    if chunked && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        builder = builder.header(header::CONTENT_LENGTH, body.len());
    }
    let req = builder
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let (rparts, rbody) = resp.into_parts();
    let bytes = rbody
        .collect()
        .await
        .map_err(|e| format!("upstream body: {e}"))?
        .to_bytes();
    Ok((rparts, bytes))
}

fn full_body(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The upstream's response as it was (length recomputed unless HEAD).
fn respond(mut parts: http::response::Parts, body: Bytes, is_head: bool) -> Response<Body> {
    parts.headers.remove(header::TRANSFER_ENCODING);
    if !is_head {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Response::from_parts(parts, full_body(body))
}

/// The response with a `Content-Length` larger than what is sent: half the body, then close.
fn truncated(
    mut parts: http::response::Parts,
    body: Bytes,
    is_head: bool,
) -> Result<Response<Body>, Cut> {
    if is_head {
        return Err(Cut("reset (HEAD cannot be truncated)"));
    }
    let declared = body.len() + 16;
    let sent = body.slice(..body.len() / 2);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    let frames = futures_stream(sent);
    Ok(Response::from_parts(parts, frames.boxed()))
}

/// A body: `bytes` (if any), a pause (so that hyper flushes what it has), then an error
/// (hyper closes the connection).
fn futures_stream(
    bytes: Bytes,
) -> impl hyper::body::Body<Data = Bytes, Error = std::io::Error> + Send + Sync + 'static {
    struct Truncating {
        data: Option<Bytes>,
        pause: std::pin::Pin<Box<tokio::time::Sleep>>,
    }
    impl hyper::body::Body for Truncating {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            use std::future::Future;
            if let Some(b) = self.data.take().filter(|b| !b.is_empty()) {
                return std::task::Poll::Ready(Some(Ok(Frame::data(b))));
            }
            match self.pause.as_mut().poll(cx) {
                std::task::Poll::Pending => std::task::Poll::Pending,
                std::task::Poll::Ready(()) => {
                    std::task::Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "fault-proxy: truncated body",
                    ))))
                }
            }
        }
    }
    Truncating {
        data: Some(bytes),
        pause: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
    }
}

/// How the API of a request words its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// S3: REST-XML.
    Xml,
    /// The query APIs (CloudFormation, STS): a form body with `Action=`.
    Query,
    /// Lambda: REST-JSON, the code in `x-amzn-ErrorType`.
    Json,
}

impl Dialect {
    fn of(headers: &http::HeaderMap, body: &[u8]) -> Dialect {
        if operation::form_action(headers, body).is_some() {
            Dialect::Query
        } else if operation::signed_for(headers) == Some("lambda") {
            Dialect::Json
        } else {
            Dialect::Xml
        }
    }
}

/// `InternalError` / `SlowDown` in the dialect of the API (S3 REST-XML, the query APIs, or
/// Lambda's REST-JSON).
fn error_response(kind: FaultKind, dialect: Dialect, is_head: bool) -> Response<Body> {
    let slow = kind == FaultKind::SlowDown;
    let (status, code, message) = match (dialect, slow) {
        (Dialect::Xml, true) => (503, "SlowDown", "Please reduce your request rate."),
        (Dialect::Query, true) => (400, "Throttling", "Rate exceeded"),
        (Dialect::Json, true) => (429, "TooManyRequestsException", "Rate exceeded"),
        (Dialect::Xml, false) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        (Dialect::Query, false) => (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        (Dialect::Json, false) => (500, "ServiceException", "An internal error occurred."),
    };
    let body = if is_head {
        String::new()
    } else {
        match dialect {
            Dialect::Query => {
                let kind = if status == 400 { "Sender" } else { "Receiver" };
                format!(
                    "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
                     <Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                     <RequestId>fault-proxy</RequestId></ErrorResponse>"
                )
            }
            Dialect::Json => format!("{{\"Type\":\"Service\",\"message\":\"{message}\"}}"),
            Dialect::Xml => format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>fault-proxy</RequestId>\
                 <HostId>fault-proxy</HostId></Error>"
            ),
        }
    };
    let mut resp = Response::new(full_body(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = match dialect {
        Dialect::Query => "text/xml",
        Dialect::Xml => "application/xml",
        Dialect::Json => "application/json",
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if dialect == Dialect::Json {
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    resp.headers_mut()
        .insert("x-amz-request-id", HeaderValue::from_static("fault-proxy"));
    resp
}

#[cfg(test)]
mod tests;
