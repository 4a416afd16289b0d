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
//! which the zip test vector would catch) at flate2's default level, 6. zlib-rs picks its hash
//! by level, not by CPU, and its SIMD paths compute the same matches, so the bytes do not
//! depend on the machine.
//!
//! Files up to [`WHOLE_LIMIT`] are compressed in memory by a few worker threads (ahead of the
//! writer, in order, within [`IN_FLIGHT`] bytes) and written with sizes and CRC in the local
//! header and no extra field. Bigger files are streamed in [`CHUNK`] pieces by the writer,
//! which async_zip (0.0.18) writes with a data descriptor and a ZIP64 extended-information
//! extra field, plus ZIP64 end records for the archive; deterministic too. (Its non-ZIP64
//! streaming mode swaps the compressed and uncompressed sizes in the central directory, so it
//! is not used.)

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
use futures::AsyncWriteExt;
use futures::io::AllowStdIo;

use crate::scan::io_err;
use crate::{ArchiveError, Built, Entry, Source};

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

type Writer = ZipFileWriter<AllowStdIo<BufWriter<File>>>;
/// Compressed content and CRC-32 of a small file, or why it could not be prepared.
type Prepared = Result<(Vec<u8>, u32), ArchiveError>;

pub(crate) fn write_zip(source: &Source, temp_dir: &Path) -> Result<Built, ArchiveError> {
    let temp = tempfile::Builder::new()
        .prefix(".copilot-lite-")
        .suffix(".zip")
        .tempfile_in(temp_dir)
        .map_err(io_err(temp_dir))?;
    let (file, temp_path) = temp.into_parts();
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
    let file = out
        .into_inner()
        .into_inner()
        .map_err(|e| ArchiveError::Io {
            path: temp_path.to_path_buf(),
            source: e.into_error(),
        })?;
    let size = file.metadata().map_err(io_err(&temp_path))?.len();
    tracing::debug!(root = %source.root.display(), zip = %temp_path.display(), size, workers, "zip written");
    Ok(Built {
        path: temp_path.to_path_buf(),
        size,
        content_type: "application/zip",
        _temp: Some(temp_path),
    })
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
    while let Some(index) = queue.take(&source.entries) {
        let prepared = prepare(&source.entries[index], &mut buf);
        if sender.send((index, prepared)).is_err() {
            return;
        }
    }
}

/// Reads a small file, checks it against the scan, and compresses it exactly as
/// `write_entry_whole` would (same encoder, same level).
fn prepare(entry: &Entry, buf: &mut Vec<u8>) -> Prepared {
    let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
    buf.clear();
    // One byte more than expected, to notice growth without unbounded reads.
    file.take(entry.size + 1)
        .read_to_end(buf)
        .map_err(io_err(&entry.path))?;
    verify(entry, buf.len() as u64, blake3::hash(buf))?;
    let compressed = futures::executor::block_on(async_zip::base::write::compress(
        &options(entry)?.build(),
        buf,
    ));
    Ok((compressed, async_zip::base::write::crc32(buf)))
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

fn options(entry: &Entry) -> Result<ZipEntryBuilder, ArchiveError> {
    Ok(
        ZipEntryBuilder::new(entry.name.clone().into(), Compression::Deflate)
            .deflate_option(DeflateOption::Normal)
            .attribute_compatibility(AttributeCompatibility::Unix)
            .last_modification_date(fixed_time())
            .unix_permissions(mode_bits(entry)?),
    )
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
            let (compressed, crc) = prepared?;
            let options = options(entry)?.crc32(crc).uncompressed_size(entry.size);
            writer
                .write_entry_whole_precompressed(options, &compressed)
                .await
                .map_err(&zip_err)?;
            queue.release(entry.size);
            continue;
        }
        let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
        let mut stream = writer
            .write_entry_stream(options(entry)?)
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
