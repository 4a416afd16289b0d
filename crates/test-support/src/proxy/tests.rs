use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::*;

/// A minimal HTTP/1.1 upstream: answers every request `200` with a body naming the method,
/// path and body it got; records each request's `Host` header.
struct Upstream {
    url: String,
    hosts: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&hosts);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve_one(stream, &seen));
            }
        });
        Upstream { url, hosts }
    }

    fn count(&self) -> usize {
        self.hosts.lock().unwrap().len()
    }
}

fn serve_one(mut stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let Some((head, body)) = read_message(&mut stream) else {
        return;
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    seen.lock().unwrap().push(host);
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let reply = format!("{method} {path} {}", String::from_utf8_lossy(&body));
    let response = if method == "HEAD" {
        "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n".to_owned()
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        )
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Reads a head and a `Content-Length` body; `None` on EOF before the head ends.
fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = content_length(&head).unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// What a client got.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// Status, body; the body had the declared length.
    Response(u16, String),
    /// The connection closed before a complete head.
    NoResponse,
    /// Status, declared length, bytes received.
    Truncated(u16, usize, usize),
}

fn request(
    proxy: &FaultProxy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let mut stream = TcpStream::connect(proxy.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: signed.example:1234\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Got::NoResponse;
    };
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = &all[end + 4..];
    if method == "HEAD" {
        return Got::Response(status, String::new());
    }
    let declared = content_length(&head).unwrap_or(body.len());
    if declared != body.len() {
        return Got::Truncated(status, declared, body.len());
    }
    Got::Response(status, String::from_utf8_lossy(body).into_owned())
}

fn start(up: &Upstream, plan: Plan) -> FaultProxy {
    FaultProxy::start(&up.url, plan).unwrap()
}

#[test]
fn forwards_unchanged_with_the_host_header_kept() {
    let up = Upstream::start();
    let proxy = start(&up, Plan::none());
    let got = request(&proxy, "PUT", "/bucket/a%20b?x=1", &[], "hello");
    assert_eq!(
        got,
        Got::Response(200, "PUT /bucket/a%20b?x=1 hello".into())
    );
    assert_eq!(
        request(&proxy, "HEAD", "/bucket/k", &[], ""),
        Got::Response(200, String::new())
    );
    assert_eq!(
        up.hosts.lock().unwrap().as_slice(),
        ["signed.example:1234", "signed.example:1234"]
    );
    let stats = proxy.stats();
    assert_eq!(
        (stats.requests, stats.forwarded, stats.failures()),
        (2, 2, 0)
    );
    let log = proxy.log();
    assert_eq!(log[0].operation, "PutObject");
    assert_eq!(log[1].operation, "HeadObject");
    assert_eq!(log[0].upstream_status, 200);
}

#[test]
fn errors_before_forwarding_never_reach_the_upstream() {
    let up = Upstream::start();
    let proxy = start(
        &up,
        Plan::none().rule(Rule::always(FaultKind::InternalError, When::Before)),
    );
    let Got::Response(500, body) = request(&proxy, "PUT", "/b/k", &[], "x") else {
        panic!("500 expected");
    };
    assert!(body.contains("<Code>InternalError</Code>"), "{body}");
    proxy.set_plan(Plan::none().rule(Rule::always(FaultKind::SlowDown, When::Before)));
    let Got::Response(503, body) = request(&proxy, "GET", "/b/k", &[], "") else {
        panic!("503 expected");
    };
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    assert_eq!(up.count(), 0);
    assert_eq!(proxy.stats().forwarded, 0);
    // set_plan reset the fault counters.
    assert_eq!(proxy.stats().of(FaultKind::InternalError), 0);
    assert_eq!(proxy.stats().of(FaultKind::SlowDown), 1);
}

#[test]
fn query_api_errors_use_the_query_dialect() {
    let up = Upstream::start();
    let proxy = start(
        &up,
        Plan::none().rule(Rule::always(FaultKind::SlowDown, When::Before)),
    );
    let form = [(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let Got::Response(400, body) = request(
        &proxy,
        "POST",
        "/",
        &form,
        "Action=CreateChangeSet&Version=2010-05-15",
    ) else {
        panic!("400 expected");
    };
    assert!(
        body.contains("<Code>Throttling</Code>") && body.contains("<ErrorResponse"),
        "{body}"
    );
    assert_eq!(proxy.log()[0].operation, "CreateChangeSet");
}

#[test]
fn errors_after_forwarding_lose_an_executed_response() {
    let up = Upstream::start();
    let proxy = start(
        &up,
        Plan::none().rule(Rule::always(FaultKind::InternalError, When::After)),
    );
    assert!(matches!(
        request(&proxy, "PUT", "/b/k", &[], "x"),
        Got::Response(500, _)
    ));
    assert_eq!(up.count(), 1, "the upstream executed the request");
    let log = proxy.log();
    assert!(log[0].forwarded);
    assert_eq!(log[0].upstream_status, 200);
}

#[test]
fn resets_close_without_a_response() {
    let up = Upstream::start();
    for when in [When::Before, When::After] {
        let proxy = start(&up, Plan::none().rule(Rule::always(FaultKind::Reset, when)));
        assert_eq!(request(&proxy, "PUT", "/b/k", &[], "x"), Got::NoResponse);
        assert_eq!(proxy.stats().of(FaultKind::Reset), 1);
    }
    assert_eq!(
        up.count(),
        1,
        "only the reset after forwarding reached the upstream"
    );
}

#[test]
fn truncated_bodies_declare_more_than_they_send() {
    let up = Upstream::start();
    for when in [When::Before, When::After] {
        let proxy = start(
            &up,
            Plan::none().rule(Rule::always(FaultKind::Truncated, when)),
        );
        match request(&proxy, "GET", "/b/some-key", &[], "") {
            Got::Truncated(status, declared, sent) => {
                assert_eq!(status, if when == When::After { 200 } else { 500 });
                assert!(sent < declared, "{sent} < {declared}");
            }
            other => panic!("truncated expected, got {other:?}"),
        }
        // HEAD has no body: closed instead.
        assert_eq!(request(&proxy, "HEAD", "/b/k", &[], ""), Got::NoResponse);
    }
}

#[test]
fn slow_responses_arrive_and_stalls_are_cut_off() {
    let up = Upstream::start();
    let plan = Plan::none()
        .slow_delay(Duration::from_millis(50))
        .rule(Rule::always(FaultKind::Slow, When::Before));
    let proxy = start(&up, plan);
    assert_eq!(
        request(&proxy, "GET", "/b/k", &[], ""),
        Got::Response(200, "GET /b/k ".into())
    );
    assert_eq!(proxy.stats().of(FaultKind::Slow), 1);
    assert_eq!(proxy.stats().failures(), 0);
    let plan = Plan::none()
        .stall(Duration::from_millis(50))
        .rule(Rule::always(FaultKind::Stall, When::Before));
    proxy.set_plan(plan);
    assert_eq!(request(&proxy, "GET", "/b/k", &[], ""), Got::NoResponse);
    assert_eq!(up.count(), 1);
}

#[test]
fn rules_filter_by_operation_and_method_with_skip_and_limit() {
    let up = Upstream::start();
    let rule = Rule::always(FaultKind::InternalError, When::Before)
        .operations(&["UploadPart"])
        .skip(1)
        .limit(2);
    let proxy = start(&up, Plan::none().rule(rule));
    let part = |n: u32| {
        request(
            &proxy,
            "PUT",
            &format!("/b/k?partNumber={n}&uploadId=u"),
            &[],
            "p",
        )
    };
    assert!(matches!(part(1), Got::Response(200, _)), "skipped");
    assert!(matches!(part(2), Got::Response(500, _)));
    assert!(matches!(
        request(&proxy, "PUT", "/b/other", &[], "x"),
        Got::Response(200, _)
    ));
    assert!(matches!(part(3), Got::Response(500, _)));
    assert!(matches!(part(4), Got::Response(200, _)), "limit reached");
    let rule = Rule::always(FaultKind::InternalError, When::Before).methods(&["delete"]);
    proxy.set_plan(Plan::none().rule(rule));
    assert!(matches!(
        request(&proxy, "PUT", "/b/k", &[], "x"),
        Got::Response(200, _)
    ));
    assert!(matches!(
        request(&proxy, "DELETE", "/b/k?uploadId=u", &[], ""),
        Got::Response(500, _)
    ));
    assert_eq!(
        proxy.log().last().unwrap().operation,
        "AbortMultipartUpload"
    );
}

/// The decisions for `n` distinct requests under `plan`.
fn decisions(up: &Upstream, plan: Plan, n: usize) -> Vec<Option<(FaultKind, When)>> {
    let proxy = start(up, plan);
    let state = &proxy.state;
    (0..n)
        .map(|i| {
            let uri: http::Uri = format!("/b/key-{i}").parse().unwrap();
            decide(state, &Method::PUT, &uri, "PutObject").0
        })
        .collect()
}

#[test]
fn the_plan_is_deterministic_per_seed_and_honours_the_rate() {
    let up = Upstream::start();
    let a = decisions(&up, Plan::mixed(7, 0.1), 2000);
    assert_eq!(
        a,
        decisions(&up, Plan::mixed(7, 0.1), 2000),
        "same seed, same faults"
    );
    assert_ne!(
        a,
        decisions(&up, Plan::mixed(8, 0.1), 2000),
        "another seed, other faults"
    );
    let faulted = a.iter().flatten().count();
    assert!(
        (120..=280).contains(&faulted),
        "about 10% of 2000: {faulted}"
    );
    // Every kind and both times show up.
    for kind in [
        FaultKind::InternalError,
        FaultKind::SlowDown,
        FaultKind::Reset,
        FaultKind::Truncated,
        FaultKind::Slow,
    ] {
        assert!(a.iter().flatten().any(|(k, _)| *k == kind), "{kind:?}");
    }
    assert!(a.iter().flatten().any(|(_, w)| *w == When::Before));
    assert!(a.iter().flatten().any(|(_, w)| *w == When::After));
    assert!(
        decisions(&up, Plan::mixed(7, 1.0), 50)
            .iter()
            .all(Option::is_some)
    );
    assert!(
        decisions(&up, Plan::mixed(7, 0.0), 50)
            .iter()
            .all(Option::is_none)
    );
}

#[test]
fn retries_of_the_same_request_draw_anew() {
    let up = Upstream::start();
    let proxy = start(&up, Plan::mixed(3, 0.5));
    let uri: http::Uri = "/b/same".parse().unwrap();
    let draws: Vec<bool> = (0..64)
        .map(|_| {
            decide(&proxy.state, &Method::PUT, &uri, "PutObject")
                .0
                .is_some()
        })
        .collect();
    assert!(
        draws.iter().any(|d| *d) && draws.iter().any(|d| !*d),
        "{draws:?}"
    );
}

#[test]
fn bad_upstreams_are_refused() {
    assert!(FaultProxy::start("https://127.0.0.1:1", Plan::none()).is_err());
    assert!(FaultProxy::start("http://not-an-ip:1", Plan::none()).is_err());
}
