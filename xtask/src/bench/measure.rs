//! Measuring a tool run: wall time and peak RSS of a child (`wait4` rusage), and what it sent
//! to S3 through a counting TCP proxy in front of the S3 server (a child process running the
//! in-process server's `serve` example, with its data in a folder removed afterwards).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How a child ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub wall: Duration,
    /// Peak resident set size (the child's, or its largest waited-for descendant's), KiB.
    pub max_rss_kib: u64,
    /// Exit code, or `-signal`.
    pub code: i32,
    /// User + system CPU time of the child (and its waited-for descendants).
    pub cpu: Duration,
}

/// Runs `cmd` to completion; times it and reads its peak RSS from `wait4`.
pub fn run_measured(cmd: &mut Command) -> Result<Outcome> {
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; `pid` is our own child, reaped only here.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            bail!("waiting for {cmd:?}: {err}");
        }
    }
    let wall = start.elapsed();
    // The child was reaped above: dropping the handle only closes our ends of its pipes.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        -1
    };
    Ok(Outcome {
        wall,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        code,
        cpu: cpu_time(&usage),
    })
}

/// User + system time of a rusage.
pub fn cpu_time(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of this process so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    cpu_time(&usage)
}

/// What clients sent through the proxy since the last [`Proxy::take`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Every byte from clients to the server (headers included).
    pub wire_bytes: u64,
    /// HTTP requests.
    pub requests: u64,
    /// `PUT` requests (PutObject, UploadPart): objects written.
    pub puts: u64,
    /// Body bytes of the `PUT` requests (by `Content-Length`; with any aws-chunked framing).
    pub put_body_bytes: u64,
}

#[derive(Default)]
struct Counters {
    wire_bytes: AtomicU64,
    requests: AtomicU64,
    puts: AtomicU64,
    put_body_bytes: AtomicU64,
}

/// Reads the requests of one client → server byte stream, counting as it goes. Handles
/// `Content-Length` bodies (what both tools send); a chunked request stops the parsing of
/// that connection (its bytes are still in `wire_bytes`).
#[derive(Debug, Default)]
pub struct RequestParser {
    head: Vec<u8>,
    body_left: u64,
    body_is_put: bool,
    lost: bool,
}

/// Counts for one chunk of the stream (added to the shared counters by the caller).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counted {
    pub requests: u64,
    pub puts: u64,
    pub put_body_bytes: u64,
}

impl RequestParser {
    pub fn feed(&mut self, mut data: &[u8]) -> Counted {
        let mut counted = Counted::default();
        while !data.is_empty() && !self.lost {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len() as u64);
                if self.body_is_put {
                    counted.put_body_bytes += n;
                }
                self.body_left -= n;
                data = &data[n as usize..];
                continue;
            }
            // In a head: look for its end, possibly spanning reads.
            let already = self.head.len();
            self.head.extend_from_slice(data);
            let search_from = already.saturating_sub(3);
            let Some(end) = find(&self.head[search_from..], b"\r\n\r\n").map(|i| i + search_from)
            else {
                if self.head.len() > 1 << 20 {
                    self.lost = true;
                }
                return counted;
            };
            let head_len = end + 4;
            let consumed_now = head_len - already;
            let head = String::from_utf8_lossy(&self.head[..head_len]).into_owned();
            self.head.clear();
            data = &data[consumed_now..];
            counted.requests += 1;
            let is_put = head.starts_with("PUT ");
            if is_put {
                counted.puts += 1;
            }
            let mut length = 0;
            for line in head.split("\r\n").skip(1) {
                if let Some((name, value)) = line.split_once(':') {
                    let name = name.trim();
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    } else if name.eq_ignore_ascii_case("transfer-encoding")
                        && value.to_ascii_lowercase().contains("chunked")
                    {
                        self.lost = true;
                    }
                }
            }
            self.body_left = length;
            self.body_is_put = is_put;
        }
        counted
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A TCP proxy on `127.0.0.1:<random>` to `upstream`, counting the client → server traffic.
pub struct Proxy {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counters.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let counters = c.clone();
                std::thread::spawn(move || {
                    let _ = relay(client, upstream, &counters);
                });
            }
        });
        Ok(Proxy {
            addr,
            counters,
            stop,
        })
    }

    /// The traffic since the last call, and resets the counters.
    pub fn take(&self) -> Traffic {
        let c = &self.counters;
        Traffic {
            wire_bytes: c.wire_bytes.swap(0, Ordering::SeqCst),
            requests: c.requests.swap(0, Ordering::SeqCst),
            puts: c.puts.swap(0, Ordering::SeqCst),
            put_body_bytes: c.put_body_bytes.swap(0, Ordering::SeqCst),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay(client: TcpStream, upstream: SocketAddr, counters: &Counters) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_r, mut server_w) = (client.try_clone()?, server.try_clone()?);
    let (mut server_r, mut client_w) = (server, client);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut parser = RequestParser::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match client_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Count before forwarding: by the time the client has its response, it is counted.
        let counted = parser.feed(&buf[..n]);
        counters.wire_bytes.fetch_add(n as u64, Ordering::SeqCst);
        counters
            .requests
            .fetch_add(counted.requests, Ordering::SeqCst);
        counters.puts.fetch_add(counted.puts, Ordering::SeqCst);
        counters
            .put_body_bytes
            .fetch_add(counted.put_body_bytes, Ordering::SeqCst);
        if server_w.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server_w.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// The `serve` example as a child process, with a proxy in front of it; a fresh server has
/// one empty bucket. Dropping it kills the server and deletes its data.
pub struct Server {
    child: Child,
    data: PathBuf,
    pub proxy: Proxy,
}

impl Server {
    pub fn start(serve: &Path, data: &Path, bucket: &str) -> Result<Server> {
        if data.exists() {
            std::fs::remove_dir_all(data)
                .with_context(|| format!("removing {}", data.display()))?;
        }
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let mut child = Command::new(serve)
            .arg(bucket)
            // The server keeps its objects in a temporary folder: ours, removed on drop even
            // though the server is killed.
            .env("TMPDIR", data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", serve.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Drain every line (the server must not hit a closed pipe).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let upstream = (|| -> Result<SocketAddr> {
            loop {
                let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
                    bail!("{} printed no AWS_ENDPOINT_URL", serve.display());
                };
                if let Some(url) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
                    let url = url.trim().trim_matches(['"', '\'']);
                    return url
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .parse()
                        .with_context(|| format!("server endpoint {url}"));
                }
            }
        })();
        let proxy = match upstream.and_then(Proxy::start) {
            Ok(proxy) => proxy,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Server {
            child,
            data: data.to_path_buf(),
            proxy,
        })
    }

    /// `http://127.0.0.1:<proxy port>`: what the tools talk to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.proxy.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_counts_requests_puts_and_bodies_across_reads() {
        let stream = b"HEAD /b/k HTTP/1.1\r\nHost: x\r\n\r\n\
PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789\
POST /b/k?uploads HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc\
PUT /b/k?partNumber=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        // Whole, and split at every possible point: the same counts.
        let whole = RequestParser::default().feed(stream);
        assert_eq!(
            whole,
            Counted {
                requests: 4,
                puts: 2,
                put_body_bytes: 15
            }
        );
        for cut in 0..stream.len() {
            let mut p = RequestParser::default();
            let a = p.feed(&stream[..cut]);
            let b = p.feed(&stream[cut..]);
            let sum = Counted {
                requests: a.requests + b.requests,
                puts: a.puts + b.puts,
                put_body_bytes: a.put_body_bytes + b.put_body_bytes,
            };
            assert_eq!(sum, whole, "cut at {cut}");
        }
    }

    #[test]
    fn parser_gives_up_on_chunked_bodies() {
        let mut p = RequestParser::default();
        let c = p.feed(
            b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        );
        assert_eq!((c.requests, c.puts), (1, 1));
        let later = p.feed(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(later, Counted::default());
    }

    #[test]
    fn proxy_relays_and_counts() {
        // An echo-ish upstream: answers each request head with a fixed response.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"abcd") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        });
        let proxy = Proxy::start(up_addr).unwrap();
        let mut c = TcpStream::connect(proxy.addr).unwrap();
        let req = b"PUT /b/k HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
        c.write_all(req).unwrap();
        let mut resp = Vec::new();
        let mut buf = [0u8; 256];
        while !resp.ends_with(b"ok") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            resp.extend_from_slice(&buf[..n]);
        }
        let t = proxy.take();
        assert_eq!(
            t,
            Traffic {
                wire_bytes: req.len() as u64,
                requests: 1,
                puts: 1,
                put_body_bytes: 4
            }
        );
        assert_eq!(proxy.take(), Traffic::default(), "take resets");
    }

    #[test]
    fn run_measured_reports_exit_code_and_rss() {
        let out = run_measured(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(out.code, 3);
        assert!(out.max_rss_kib > 0);
        let busy = run_measured(
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]),
        )
        .unwrap();
        assert_eq!(busy.code, 0);
        assert!(busy.cpu > Duration::ZERO, "a busy loop uses CPU");
    }
}
