//! The floor, for context: reading every file of a workload on all cores, and reading +
//! deflating all of it with copilot-lite's backend and level for the file's class (files up
//! to [`archive::WHOLE_LIMIT`] whole, by libdeflate at [`archive::DEFLATE_LEVEL_WHOLE`];
//! bigger ones as a stream, by flate2/zlib-rs at [`archive::DEFLATE_LEVEL_STREAMED`]), all
//! cores. No tool can package faster than it can read its input; one that deflates
//! everything at that level cannot beat the deflate floor either (copilot-lite stores
//! incompressible files instead, so it can).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use libdeflater::{CompressionLvl, Compressor};

/// How long one pass took and what it saw.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub wall: Duration,
    pub bytes: u64,
    /// Deflated size (0 for a read-only pass).
    pub deflated: u64,
    /// CPU time (user + system) of this process during the pass.
    pub cpu: Duration,
}

/// Reads (and with `deflate`, compresses) every file, files spread over `threads` threads.
pub fn pass(files: &[PathBuf], threads: usize, deflate: bool) -> Result<Pass> {
    let next = AtomicUsize::new(0);
    let cpu_start = super::measure::own_cpu_time();
    let start = Instant::now();
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(u64, u64)> {
                    let mut buf = vec![0u8; 1 << 18];
                    let (mut bytes, mut deflated) = (0u64, 0u64);
                    // One compressor of each kind per thread, reused between files.
                    let mut encoder = deflate.then(|| {
                        let level = Compression::new(archive::DEFLATE_LEVEL_STREAMED);
                        DeflateEncoder::new(Counter(0), level)
                    });
                    let mut whole = match deflate {
                        true => Some(Compressor::new(
                            CompressionLvl::new(archive::DEFLATE_LEVEL_WHOLE)
                                .map_err(|e| anyhow::anyhow!("libdeflate level: {e:?}"))?,
                        )),
                        false => None,
                    };
                    let (mut data, mut out) = (Vec::new(), Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        let mut file = std::fs::File::open(path)
                            .with_context(|| format!("opening {}", path.display()))?;
                        let size = file
                            .metadata()
                            .with_context(|| format!("reading {}", path.display()))?
                            .len();
                        if let Some(c) = whole.as_mut().filter(|_| size <= archive::WHOLE_LIMIT) {
                            data.clear();
                            file.read_to_end(&mut data)
                                .with_context(|| format!("reading {}", path.display()))?;
                            bytes += data.len() as u64;
                            out.resize(c.deflate_compress_bound(data.len()), 0);
                            let n = c
                                .deflate_compress(&data, &mut out)
                                .map_err(|e| anyhow::anyhow!("deflate: {e}"))?;
                            deflated += n as u64;
                            continue;
                        }
                        loop {
                            let n = file
                                .read(&mut buf)
                                .with_context(|| format!("reading {}", path.display()))?;
                            if n == 0 {
                                break;
                            }
                            bytes += n as u64;
                            if let Some(e) = encoder.as_mut() {
                                e.write_all(&buf[..n])?;
                            }
                        }
                        if let Some(e) = encoder.as_mut() {
                            // Finishes this file's stream and starts a fresh one.
                            deflated += e.reset(Counter(0))?.0;
                        }
                    }
                    Ok((bytes, deflated))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("floor thread panicked")))
            })
            .collect()
    });
    let wall = start.elapsed();
    let cpu = super::measure::own_cpu_time().saturating_sub(cpu_start);
    let (mut bytes, mut deflated) = (0, 0);
    for r in results {
        let (b, d) = r?;
        bytes += b;
        deflated += d;
    }
    Ok(Pass {
        wall,
        bytes,
        deflated,
        cpu,
    })
}

/// A writer that only counts.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_byte_and_compresses_text() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files: Vec<PathBuf> = (0..5)
            .map(|i| {
                let p = dir.join(format!("f{i}"));
                std::fs::write(&p, "hello world ".repeat(1000 * (i + 1))).unwrap();
                p
            })
            .collect();
        let total: u64 = (1..=5).map(|i| 12_000 * i).sum();
        let read = pass(&files, 2, false).unwrap();
        assert_eq!((read.bytes, read.deflated), (total, 0));
        let deflated = pass(&files, 3, true).unwrap();
        assert_eq!(deflated.bytes, total);
        assert!(deflated.deflated > 0 && deflated.deflated < total / 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
