//! The deterministic zip (SPEC A6), streamed into a temporary file.
//!
//! Runs on a blocking thread: async_zip is driven by a trivial executor over synchronous file
//! I/O (`AllowStdIo`), so compression never occupies the async runtime and no per-chunk task
//! hops are paid.
//!
//! Format: entries in [`Source::entries`] order; names UTF-8 (general-purpose flag bit 11);
//! DOS time 1980-01-01 00:00:00; version made by Unix; external attributes `mode << 16`;
//! DEFLATE through async-compression → flate2 with the zlib-rs backend (pinned by this crate's
//! `flate2` dependency; only a C zlib feature enabled elsewhere in the build could override it,
//! which the zip test vector would catch) at [`DEFLATE_LEVEL`]. zlib-rs picks its hash
//! by level, not by CPU, and its SIMD paths compute the same matches, so the bytes do not
//! depend on the machine.
//!
//! Files up to [`WHOLE_LIMIT`] are compressed in memory by a few worker threads (ahead of the
//! writer, in order, within [`IN_FLIGHT`] bytes) and written with sizes and CRC in the local
//! header and no extra field. Each worker keeps one DEFLATE stream and resets it between files
//! (same bytes as a fresh stream; setting up a fresh one costs about a third of the time spent
//! on small files). A small file whose bytes look incompressible ([`incompressible`]: near-
//! uniform byte frequencies) is stored instead of deflated: DEFLATE would spend as much CPU on
//! it as on text and save nothing. Bigger files are streamed in [`CHUNK`] pieces by the writer,
//! which async_zip (0.0.18) writes with a data descriptor and a ZIP64 extended-information
//! extra field, plus ZIP64 end records for the archive; deterministic too. (Its non-ZIP64
//! streaming mode swaps the compressed and uncompressed sizes in the central directory, so it
//! is not used.) Streamed entries are always deflated: a stored entry with a data descriptor is
//! refused by some readers (Java's `ZipInputStream`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};

use async_zip::base::write::ZipFileWriter;
use async_zip::{
    AttributeCompatibility, Compression, DeflateOption, ZipDateTime, ZipDateTimeBuilder,
    ZipEntryBuilder,
};
use flate2::{Compress, FlushCompress, Status};
use futures::AsyncWriteExt;
use futures::io::AllowStdIo;
use sha2::{Digest, Sha256};

use crate::scan::io_err;
use crate::{ArchiveError, Built, DEFLATE_LEVEL, Entry, Source};

/// Files up to this size are read whole, compressed in memory and written with a complete
/// local header; larger ones are streamed.
pub(crate) const WHOLE_LIMIT: u64 = 4 * 1024 * 1024;
/// Read size when streaming a large file.
const CHUNK: usize = 256 * 1024;

/// Upper bound on compression threads.
const MAX_THREADS: usize = 4;
/// Bound on the uncompressed bytes of small files read ahead and compressed in parallel but
/// not yet written (their compressed copies come on top): keeps memory bounded.
const IN_FLIGHT: u64 = 16 * 1024 * 1024;

type Writer = ZipFileWriter<AllowStdIo<BufWriter<Sha256Writer>>>;
/// A small file ready to be written: its data as stored in the zip (deflated or as it is),
/// the method, and the CRC-32 of the content; or why it could not be prepared.
type Prepared = Result<(Vec<u8>, Compression, u32), ArchiveError>;

pub(crate) fn write_zip(source: &Source, temp_dir: &Path) -> Result<Built, ArchiveError> {
    let temp = tempfile::Builder::new()
        .prefix(".copilot-lite-")
        .suffix(".zip")
        .tempfile_in(temp_dir)
        .map_err(io_err(temp_dir))?;
    let (file, temp_path) = temp.into_parts();
    let file = Sha256Writer {
        file,
        hasher: Sha256::new(),
    };
    let mut writer = ZipFileWriter::new(AllowStdIo::new(BufWriter::with_capacity(CHUNK, file)));

    // Small files are read, checked and compressed by worker threads, ahead of the writer but
    // in archive order and within IN_FLIGHT bytes; the writer appends them in order and
    // streams large files itself. Same bytes as a sequential build.
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS);
    let queue = Queue {
        state: Mutex::new((0, 0)),
        room: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (sender, receiver) = mpsc::channel::<(usize, Prepared)>();
    let written = std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let queue = &queue;
            scope.spawn(move || prepare_small_files(source, queue, sender));
        }
        drop(sender);
        let result = futures::executor::block_on(write_entries(
            &mut writer,
            source,
            &temp_path,
            &queue,
            receiver,
        ));
        queue.stop.store(true, Ordering::Relaxed);
        queue.room.notify_all();
        result
    });
    written?;

    let out = futures::executor::block_on(writer.close()).map_err(zip_err(source))?;
    let hashed = out
        .into_inner()
        .into_inner()
        .map_err(|e| ArchiveError::Io {
            path: temp_path.to_path_buf(),
            source: e.into_error(),
        })?;
    let sha256: [u8; 32] = hashed.hasher.finalize().into();
    let size = hashed.file.metadata().map_err(io_err(&temp_path))?.len();
    tracing::debug!(root = %source.root.display(), zip = %temp_path.display(), size, workers, "zip written");
    Ok(Built {
        path: temp_path.to_path_buf(),
        size,
        content_type: "application/zip",
        sha256: Some(sha256),
        _temp: Some(temp_path),
    })
}

/// The zip's file, hashing every byte written to it (the writer only appends: no seeks).
struct Sha256Writer {
    file: File,
    hasher: Sha256,
}

impl io::Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn zip_err(source: &Source) -> impl Fn(async_zip::error::ZipError) -> ArchiveError + '_ {
    |e| ArchiveError::Zip {
        root: source.root.clone(),
        message: e.to_string(),
    }
}

/// Work distribution for the small-file workers.
struct Queue {
    /// (next entry index to take, uncompressed bytes taken but not yet written)
    state: Mutex<(usize, u64)>,
    room: Condvar,
    stop: AtomicBool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, (usize, u64)> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next small entry in archive order, waiting for room. Indices are handed out
    /// in order and only after their room is granted, so everything in flight precedes the
    /// entry being waited for and the writer can always make progress.
    fn take(&self, entries: &[Entry]) -> Option<usize> {
        let mut state = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let (next, in_flight) = *state;
            let entry = entries.get(next)?;
            if entry.size > WHOLE_LIMIT {
                state.0 += 1; // streamed by the writer itself
                continue;
            }
            if in_flight == 0 || in_flight + entry.size <= IN_FLIGHT {
                *state = (next + 1, in_flight + entry.size);
                return Some(next);
            }
            state = self
                .room
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn release(&self, bytes: u64) {
        self.lock().1 -= bytes;
        self.room.notify_all();
    }
}

fn prepare_small_files(source: &Source, queue: &Queue, sender: mpsc::Sender<(usize, Prepared)>) {
    let mut buf = Vec::new();
    let mut deflate = new_deflate();
    while let Some(index) = queue.take(&source.entries) {
        let prepared = prepare(&source.entries[index], &mut buf, &mut deflate);
        if sender.send((index, prepared)).is_err() {
            return;
        }
    }
}

/// The DEFLATE stream small entries are compressed with: raw DEFLATE (no zlib header) at
/// [`DEFLATE_LEVEL`], as async_zip compresses streamed entries.
fn new_deflate() -> Compress {
    Compress::new(flate2::Compression::new(DEFLATE_LEVEL), false)
}

/// Reads a small file, checks it against the scan, and stores or deflates it.
fn prepare(entry: &Entry, buf: &mut Vec<u8>, deflate: &mut Compress) -> Prepared {
    let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
    buf.clear();
    // One byte more than expected, to notice growth without unbounded reads.
    file.take(entry.size + 1)
        .read_to_end(buf)
        .map_err(io_err(&entry.path))?;
    verify(entry, buf.len() as u64, blake3::hash(buf))?;
    let crc = async_zip::base::write::crc32(buf);
    if incompressible(buf) {
        return Ok((std::mem::take(buf), Compression::Stored, crc));
    }
    let compressed = deflate_whole(deflate, buf).map_err(|message| ArchiveError::Zip {
        root: entry.path.clone(),
        message,
    })?;
    Ok((compressed, Compression::Deflate, crc))
}

/// DEFLATEs `data` in one go with a reset (hence fresh) stream.
fn deflate_whole(deflate: &mut Compress, data: &[u8]) -> Result<Vec<u8>, String> {
    deflate.reset();
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(deflate.total_in()).map_err(|e| e.to_string())?;
        let input = data.get(consumed..).unwrap_or_default();
        match deflate.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(out),
            // Output full: grow it and go on.
            Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(4096)),
            Err(e) => return Err(format!("DEFLATE failed: {e}")),
        }
    }
}

/// Files below this size are always deflated: too few bytes to judge, and too small to matter.
const STORE_MIN: usize = 1024;
/// The prefix judged first: text and code fail on it, so they pay for no more than this.
const PROBE: usize = 4096;
/// DEFLATE's window: repeats further apart do not help it.
const WINDOW: usize = 32 * 1024;

/// Whether `data` is not worth deflating: its byte frequencies are so close to uniform that
/// entropy coding cannot save more than ~1%, and it has almost no repeated strings (under 1%
/// of its bytes in repeats of 4+ bytes within DEFLATE's window). Compressed formats (images,
/// fonts, archives) and random data qualify; text, code and executables fail on their first
/// bytes. Integers only, so the decision (hence the zip bytes) is the same on every machine.
pub(crate) fn incompressible(data: &[u8]) -> bool {
    data.len() >= STORE_MIN
        && near_uniform(data.get(..PROBE).unwrap_or(data))
        && near_uniform(data)
        && !has_repeats(data)
}

/// Collision entropy of the bytes >= log2(240) ~ 7.91 bits (uniform: 8), which bounds the
/// Shannon entropy from below: the unbiased estimate of sum(p_i^2),
/// (sum c_i^2 - n) / (n (n - 1)), is at most 1/240.
fn near_uniform(data: &[u8]) -> bool {
    let mut counts = [0u64; 256];
    for &byte in data {
        counts[usize::from(byte)] += 1;
    }
    let n = data.len() as u128;
    let squares: u128 = counts.iter().map(|&c| u128::from(c) * u128::from(c)).sum();
    n >= 2 && (squares - n) * 240 <= n * (n - 1)
}

/// Whether more than 1% of `data` is covered by repeats of 4 or more bytes within the window,
/// found the way a fast LZ compressor finds them (a hash table of the last position of each
/// 4-byte string), but only at anchors: positions holding a byte below 32, one in eight of the
/// near-uniform data this is asked about. Anchors depend on the bytes, not on positions, so
/// both copies of a repeated string have the same ones, and skipping to the next anchor costs
/// a fraction of hashing every position. Catches what byte frequencies cannot see, e.g. a
/// random block written twice.
fn has_repeats(data: &[u8]) -> bool {
    const BITS: u32 = 13;
    let mut last = vec![usize::MAX; 1 << BITS];
    let limit = data.len() / 100;
    let mut matched = 0;
    let mut i = 0;
    while let Some(skip) = data
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b < 32))
    {
        i += skip;
        let Some(word) = data.get(i..i + 4) else {
            break;
        };
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let slot = (word.wrapping_mul(0x9E37_79B1) >> (32 - BITS)) as usize;
        let previous = std::mem::replace(&mut last[slot], i);
        if previous != usize::MAX && i - previous <= WINDOW {
            let len = data[i..]
                .iter()
                .zip(&data[previous..])
                .take_while(|(a, b)| a == b)
                .count();
            if len >= 4 {
                matched += len;
                if matched > limit {
                    return true;
                }
                i += len;
                continue;
            }
        }
        i += 1;
    }
    false
}

fn fixed_time() -> ZipDateTime {
    ZipDateTimeBuilder::new()
        .year(1980)
        .month(1)
        .day(1)
        .hour(0)
        .minute(0)
        .second(0)
        .build()
}

fn options(entry: &Entry, compression: Compression) -> Result<ZipEntryBuilder, ArchiveError> {
    Ok(ZipEntryBuilder::new(entry.name.clone().into(), compression)
        .deflate_option(DeflateOption::Other(DEFLATE_LEVEL as i32))
        .attribute_compatibility(AttributeCompatibility::Unix)
        .last_modification_date(fixed_time())
        .unix_permissions(mode_bits(entry)?))
}

async fn write_entries(
    writer: &mut Writer,
    source: &Source,
    temp: &Path,
    queue: &Queue,
    receiver: mpsc::Receiver<(usize, Prepared)>,
) -> Result<(), ArchiveError> {
    let zip_err = zip_err(source);
    let mut ready: HashMap<usize, Prepared> = HashMap::new();
    for (index, entry) in source.entries.iter().enumerate() {
        if entry.size <= WHOLE_LIMIT {
            let prepared = loop {
                if let Some(prepared) = ready.remove(&index) {
                    break prepared;
                }
                let (done, prepared) = receiver.recv().map_err(|_| ArchiveError::Zip {
                    root: source.root.clone(),
                    message: "compression workers stopped early".to_owned(),
                })?;
                ready.insert(done, prepared);
            };
            let (data, compression, crc) = prepared?;
            let options = options(entry, compression)?
                .crc32(crc)
                .uncompressed_size(entry.size);
            writer
                .write_entry_whole_precompressed(options, &data)
                .await
                .map_err(&zip_err)?;
            queue.release(entry.size);
            continue;
        }
        let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
        let mut stream = writer
            .write_entry_stream(options(entry, Compression::Deflate)?)
            .await
            .map_err(&zip_err)?;
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        let mut file = file.take(entry.size + 1);
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Io {
                        path: entry.path.clone(),
                        source: e,
                    });
                }
            };
            hasher.update(&chunk[..n]);
            total += n as u64;
            stream.write_all(&chunk[..n]).await.map_err(io_err(temp))?;
        }
        verify(entry, total, hasher.finalize())?;
        stream.close().await.map_err(&zip_err)?;
    }
    Ok(())
}

fn mode_bits(entry: &Entry) -> Result<u16, ArchiveError> {
    u16::try_from(entry.mode).map_err(|_| ArchiveError::Io {
        path: entry.path.clone(),
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mode {:o} does not fit a zip entry", entry.mode),
        ),
    })
}

/// The content being zipped must be the content that was scanned (and keyed).
fn verify(entry: &Entry, size: u64, digest: blake3::Hash) -> Result<(), ArchiveError> {
    if size != entry.size || digest != blake3::Hash::from_bytes(entry.digest) {
        return Err(ArchiveError::Changed {
            path: entry.path.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: &str, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        blake3::Hasher::new()
            .update(seed.as_bytes())
            .finalize_xof()
            .fill(&mut out);
        out
    }

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid DEFLATE");
        out
    }

    #[test]
    fn a_reused_stream_gives_the_bytes_of_a_fresh_one() {
        let text = include_bytes!("write.rs");
        let noise = random("noise", 100_000);
        let mut reused = new_deflate();
        let first = deflate_whole(&mut reused, &noise).expect("deflate");
        let second = deflate_whole(&mut reused, text).expect("deflate");
        assert_eq!(
            second,
            deflate_whole(&mut new_deflate(), text).expect("deflate")
        );
        assert_eq!(inflate(&first), noise);
        assert_eq!(inflate(&second), text);
        assert!(second.len() < text.len() / 2);
        assert_eq!(
            inflate(&deflate_whole(&mut reused, b"").expect("deflate")),
            b""
        );
    }

    #[test]
    fn what_counts_as_incompressible() {
        let noise = random("noise", 64 * 1024);
        assert!(incompressible(&noise));
        assert!(incompressible(&noise[..STORE_MIN]));
        assert!(!incompressible(&noise[..STORE_MIN - 1]));
        // Text fails on its first bytes.
        assert!(!incompressible(include_bytes!("write.rs")));
        // Uniform at first, text after: judged on the whole file.
        let mut mixed = noise[..PROBE].to_vec();
        mixed.extend(include_bytes!("write.rs").iter().cycle().take(20_000));
        assert!(!incompressible(&mixed));
        // 200 equally likely values: 7.64 bits per byte, DEFLATE still saves ~4%.
        let skewed: Vec<u8> = noise.iter().map(|b| b % 200).collect();
        assert!(!incompressible(&skewed));
        // Perfectly uniform bytes, but repeated strings.
        let table: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
        assert!(!incompressible(&table));
        let mut twice = noise[..10_000].to_vec();
        twice.extend_from_within(..);
        assert!(!incompressible(&twice));
        // Repeats further apart than DEFLATE's window do not help it.
        let mut far = noise[..10_000].to_vec();
        far.extend_from_slice(&random("gap", 40_000));
        far.extend_from_slice(&noise[..10_000]);
        assert!(incompressible(&far));
    }
}
