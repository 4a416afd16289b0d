//! The floor, for context: reading every file of a workload on all cores, and reading +
//! deflating all of it with copilot-lite's backend and level for the file's class (files up
//! to [`archive::WHOLE_LIMIT`] whole, by libdeflate at [`archive::DEFLATE_LEVEL_WHOLE`];
//! bigger ones in independent [`archive::BLOCK`]s, by flate2/zlib-rs at
//! [`archive::DEFLATE_LEVEL_STREAMED`]), all cores, whole files and blocks spread over them. No tool can package faster than it can read its input; one that deflates
//! everything at that level cannot beat the deflate floor either (copilot-lite stores
//! incompressible files instead, so it can).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flate2::{Compress, Compression, FlushCompress};
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

/// A piece of work of a pass: a whole small file, or one block of a big one.
struct Piece<'a> {
    path: &'a PathBuf,
    offset: u64,
    len: u64,
    /// The file is bigger than [`archive::WHOLE_LIMIT`]: deflated in blocks by zlib-rs.
    big: bool,
    last: bool,
}

/// The pieces of `files`: each small file whole, each big one in [`archive::BLOCK`]s (as
/// copilot-lite deflates them, so that one big file keeps every core busy).
fn pieces(files: &[PathBuf]) -> Result<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    for path in files {
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if size <= archive::WHOLE_LIMIT {
            out.push(Piece {
                path,
                offset: 0,
                len: size,
                big: false,
                last: true,
            });
            continue;
        }
        let block = archive::BLOCK as u64;
        let mut offset = 0;
        while offset < size {
            let len = block.min(size - offset);
            out.push(Piece {
                path,
                offset,
                len,
                big: true,
                last: offset + len == size,
            });
            offset += len;
        }
    }
    Ok(out)
}

/// Reads (and with `deflate`, compresses) every file, pieces spread over `threads` threads.
pub fn pass(files: &[PathBuf], threads: usize, deflate: bool) -> Result<Pass> {
    let pieces = pieces(files)?;
    let next = AtomicUsize::new(0);
    let cpu_start = super::measure::own_cpu_time();
    let start = Instant::now();
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<(u64, u64)> {
                    let (mut bytes, mut deflated) = (0u64, 0u64);
                    // One compressor of each kind per thread, reused between pieces.
                    let mut stream =
                        Compress::new(Compression::new(archive::DEFLATE_LEVEL_STREAMED), false);
                    let mut whole = Compressor::new(
                        CompressionLvl::new(archive::DEFLATE_LEVEL_WHOLE)
                            .map_err(|e| anyhow::anyhow!("libdeflate level: {e:?}"))?,
                    );
                    let (mut data, mut out) = (Vec::new(), Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(piece) = pieces.get(i) else { break };
                        let path = piece.path;
                        let mut file = std::fs::File::open(path)
                            .with_context(|| format!("opening {}", path.display()))?;
                        file.seek(SeekFrom::Start(piece.offset))
                            .with_context(|| format!("reading {}", path.display()))?;
                        data.clear();
                        file.take(piece.len)
                            .read_to_end(&mut data)
                            .with_context(|| format!("reading {}", path.display()))?;
                        bytes += data.len() as u64;
                        if !deflate {
                            continue;
                        }
                        if piece.big {
                            stream.reset();
                            out.clear();
                            out.reserve(data.len() + data.len() / 100 + 1024);
                            let flush = if piece.last {
                                FlushCompress::Finish
                            } else {
                                FlushCompress::Sync
                            };
                            stream.compress_vec(&data, &mut out, flush)?;
                            deflated += out.len() as u64;
                        } else {
                            out.resize(whole.deflate_compress_bound(data.len()), 0);
                            let n = whole
                                .deflate_compress(&data, &mut out)
                                .map_err(|e| anyhow::anyhow!("deflate: {e}"))?;
                            deflated += n as u64;
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
        // And one above the whole-file limit: deflated in blocks.
        let big = dir.join("big");
        std::fs::write(&big, "hello world ".repeat(500_000)).unwrap();
        let files = [files, vec![big]].concat();
        assert_eq!(pieces(&files).unwrap().len(), 5 + 6);
        let total: u64 = (1..=5).map(|i| 12_000 * i).sum::<u64>() + 6_000_000;
        let read = pass(&files, 2, false).unwrap();
        assert_eq!((read.bytes, read.deflated), (total, 0));
        let deflated = pass(&files, 3, true).unwrap();
        assert_eq!(deflated.bytes, total);
        assert!(deflated.deflated > 0 && deflated.deflated < total / 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
