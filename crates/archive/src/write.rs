//! The deterministic zip (SPEC A6), streamed into a temporary file.
//!
//! Written by this module itself (local headers, data, central directory, end records), on a
//! blocking thread over synchronous file I/O: every header is a function of the entry alone,
//! so the layout is pinned here rather than by a zip library's version.
//!
//! Format: entries in [`Source::entries`] order; names UTF-8 (general-purpose flag bit 11);
//! DOS time 1980-01-01 00:00:00; version made by Unix (3.0 / 63); external attributes
//! `mode << 16`; no extra fields unless a value needs ZIP64 (below). Two DEFLATE backends,
//! one per entry class, each at one pinned level: whole entries (up to [`WHOLE_LIMIT`]) by
//! libdeflate at [`DEFLATE_LEVEL_WHOLE`] (the version pinned exactly by the workspace; its
//! output is deterministic for one version), big entries by zlib-rs through flate2 at
//! [`DEFLATE_LEVEL_STREAMED`] (pinned by this crate's `flate2` dependency; only a C zlib
//! feature enabled elsewhere in the build could override it, which the zip test vectors would
//! catch). Neither picks its match finder by CPU, so the bytes do not depend on the machine.
//!
//! Every entry is stored or deflated by a rule on its bytes alone:
//! - Files up to [`WHOLE_LIMIT`] are compressed in memory by a few worker threads (ahead of
//!   the writer, in order, within [`IN_FLIGHT`] bytes) and written with sizes and CRC in the
//!   local header. Each worker keeps one libdeflate compressor (it carries no state from one
//!   buffer to the next, and setting one up per file would cost more than compressing a small
//!   file). A file whose bytes look incompressible ([`incompressible`]: near-uniform
//!   byte frequencies, no repeats) is stored: DEFLATE would spend as much CPU on it as on text
//!   and save nothing.
//! - Bigger files are judged during the scan, which reads every byte anyway (to BLAKE3-hash
//!   it) and computes the CRC-32 in the same pass: a file is stored when every sample of it
//!   ([`LargeRule`]: the first 64 KiB of each MiB) is incompressible. A stored big file is
//!   copied with its CRC and sizes in the local header and no data descriptor (general-purpose
//!   bit 3 clear), which every reader accepts, including Java's `ZipInputStream` (it refuses a
//!   stored entry with a data descriptor). Its bytes are BLAKE3-hashed again while copied: a
//!   file that changed since the scan fails the build ([`ArchiveError::Changed`]), so the CRC
//!   in the header is always that of the bytes written.
//! - Other big files are deflated on all cores, in independent [`BLOCK`]s ([`deflate_blocks`]:
//!   each block's bytes depend on that block alone, so the entry does not depend on the number
//!   of threads). Their compressed size is not known before, so bit 3 is set and a data
//!   descriptor (signature, CRC, sizes) follows the data. Its sizes are 4 bytes unless the
//!   entry needs ZIP64 (then the local header has a ZIP64 extra field and the descriptor
//!   8-byte sizes), as Java's `ZipInputStream` expects in both its older (sizes above 4 GiB)
//!   and newer (ZIP64 extra in the local header) rules.
//!
//! ZIP64: an entry whose size (or, streamed, possible compressed size) or header offset does
//! not fit 32 bits gets a ZIP64 extended-information extra field with exactly the values that
//! do not fit (a stored entry: both sizes in its local header, as the format requires) and
//! version needed 4.5; the archive gets ZIP64 end records only when its entry count,
//! directory size or directory offset does not fit the classic end record.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};

use libdeflater::{CompressionLvl, Compressor};
use sha2::{Digest, Sha256};

use crate::cache::{self, Cache, Pack, PackWriter};
use crate::scan::io_err;
use crate::{ArchiveError, Built, DEFLATE_LEVEL_STREAMED, DEFLATE_LEVEL_WHOLE, Entry, Source};

/// Files up to this size are read whole, compressed in memory and written with a complete
/// local header; larger ones are judged by the scan ([`LargeRule`]) and streamed.
pub const WHOLE_LIMIT: u64 = 4 * 1024 * 1024;
/// Read size when streaming a large file.
const CHUNK: usize = 256 * 1024;

/// Upper bound on compression threads.
const MAX_THREADS: usize = 4;
/// Bound on the uncompressed bytes of small files read ahead and compressed in parallel but
/// not yet written (their compressed copies come on top): keeps memory bounded.
const IN_FLIGHT: u64 = 16 * 1024 * 1024;

/// A small file ready to be written, or why it could not be prepared.
type Prepared = Result<Piece, ArchiveError>;

/// A small file's data as stored in the zip (deflated or as it is), the method, the CRC-32 of
/// the content, and for deflated data written to a pack, the CRC-32 of the deflated bytes.
struct Piece {
    data: Vec<u8>,
    method: Method,
    crc: u32,
    data_crc: Option<u32>,
}

/// Compression method numbers of the zip format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Stored = 0,
    Deflated = 8,
}

/// Told, on the build's thread, the zip's path and how many bytes at its start are written for
/// good (flushed; the zip is only appended to), about every [`REPORT_STEP`] bytes.
pub type Progress = Box<dyn FnMut(&Path, u64) + Send>;

/// How often [`Progress`] is told.
const REPORT_STEP: u64 = 1024 * 1024;

pub(crate) fn write_zip(
    source: &Source,
    temp_dir: &Path,
    cache: Option<&Cache>,
    progress: Option<Progress>,
) -> Result<Built, ArchiveError> {
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
    let report = progress.map(|tell| Report {
        path: temp_path.to_path_buf(),
        tell,
        told: 0,
    });
    let mut zip = ZipOut::new(BufWriter::with_capacity(CHUNK, file), report);
    // The pack of the last build of this root (read by the workers), and the one this build
    // writes for the next.
    let old = cache.and_then(|c| c.open(&source.root));
    let mut pack = cache.and_then(|c| c.writer(&source.root));
    let caching = pack.is_some();
    let hits = AtomicUsize::new(0);

    // Small files are read, checked and compressed by worker threads, ahead of the writer but
    // in archive order and within IN_FLIGHT bytes; the writer appends them in order and
    // streams large files itself. Same bytes as a sequential build.
    let workers = threads();
    let queue = Queue {
        state: Mutex::new((0, 0)),
        room: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (sender, receiver) = mpsc::channel::<(usize, Prepared)>();
    let written = std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (queue, old, hits) = (&queue, old.as_ref(), &hits);
            let from = Reuse { old, hits, caching };
            scope.spawn(move || prepare_small_files(source, queue, sender, from));
        }
        drop(sender);
        let big = Reuse {
            old: old.as_ref(),
            hits: &hits,
            caching,
        };
        let result = write_entries(
            &mut zip, source, &temp_path, &queue, receiver, &mut pack, big,
        );
        queue.stop.store(true, Ordering::Relaxed);
        queue.room.notify_all();
        result
    });
    written?;

    let hashed = zip
        .finish()
        .map_err(|e| zip_failed(source, &temp_path, e))?;
    let sha256: [u8; 32] = hashed.hasher.finalize().into();
    let size = hashed.file.metadata().map_err(io_err(&temp_path))?.len();
    if let (Some(pack), Some(cache)) = (pack, cache) {
        pack.finish(cache);
    }
    let hits = hits.into_inner();
    tracing::debug!(root = %source.root.display(), zip = %temp_path.display(), size, workers, cache_hits = hits, "zip written");
    Ok(Built {
        path: temp_path.to_path_buf(),
        size,
        content_type: crate::ZIP_CONTENT_TYPE,
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

/// What a worker may take from the cache, and whether it must give the CRC-32 of what it
/// deflates (for the new pack).
#[derive(Clone, Copy)]
struct Reuse<'a> {
    old: Option<&'a Pack>,
    hits: &'a AtomicUsize,
    caching: bool,
}

fn prepare_small_files(
    source: &Source,
    queue: &Queue,
    sender: mpsc::Sender<(usize, Prepared)>,
    reuse: Reuse<'_>,
) {
    let mut buf = Vec::new();
    let mut deflate = new_deflate();
    while let Some(index) = queue.take(&source.entries) {
        let entry = &source.entries[index];
        // A cached copy is of the scanned content (found by its digest): the file is not read
        // again, and the zip carries exactly what the key names.
        let cached = reuse.old.and_then(|pack| pack.get(&entry.digest));
        let prepared = match cached {
            Some((data, data_crc)) => {
                reuse.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Piece {
                    data,
                    method: Method::Deflated,
                    crc: entry.crc32,
                    data_crc: Some(data_crc),
                })
            }
            None => prepare(entry, &mut buf, &mut deflate, reuse.caching),
        };
        if sender.send((index, prepared)).is_err() {
            return;
        }
    }
}

/// The compressor of whole entries: libdeflate at [`DEFLATE_LEVEL_WHOLE`], raw DEFLATE (no
/// zlib header), as streamed entries are compressed.
fn new_deflate() -> Compressor {
    // The level is a constant within libdeflate's range (checked by a unit test).
    let level = CompressionLvl::new(DEFLATE_LEVEL_WHOLE).unwrap_or_default();
    Compressor::new(level)
}

/// Reads a small file, checks it against the scan, and stores or deflates it.
fn prepare(entry: &Entry, buf: &mut Vec<u8>, deflate: &mut Compressor, caching: bool) -> Prepared {
    let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
    buf.clear();
    // One byte more than expected, to notice growth without unbounded reads.
    file.take(entry.size + 1)
        .read_to_end(buf)
        .map_err(io_err(&entry.path))?;
    verify(entry, buf.len() as u64, blake3::hash(buf))?;
    // The content is the scanned one: so is its CRC.
    let crc = entry.crc32;
    if incompressible(buf) {
        return Ok(Piece {
            data: std::mem::take(buf),
            method: Method::Stored,
            crc,
            data_crc: None,
        });
    }
    let data = deflate_whole(deflate, buf).map_err(|message| ArchiveError::Zip {
        root: entry.path.clone(),
        message,
    })?;
    let data_crc = caching.then(|| cache::crc32(&data));
    Ok(Piece {
        data,
        method: Method::Deflated,
        crc,
        data_crc,
    })
}

/// DEFLATEs `data` in one go, into a buffer of libdeflate's bound for its size (so the
/// output always fits).
fn deflate_whole(deflate: &mut Compressor, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![0; deflate.deflate_compress_bound(data.len())];
    let len = deflate
        .deflate_compress(data, &mut out)
        .map_err(|e| format!("DEFLATE failed: {e}"))?;
    out.truncate(len);
    Ok(out)
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

/// Bytes judged per sample of a big file.
const SAMPLE: u64 = 64 * 1024;
/// One sample at the start of every this many bytes.
const SAMPLE_STRIDE: u64 = 1024 * 1024;

/// The store-or-deflate rule for a file bigger than [`WHOLE_LIMIT`], fed the file's bytes in
/// order (any split) during the scan: the file is stored when each sample (the first
/// [`SAMPLE`] bytes of every [`SAMPLE_STRIDE`], the last one possibly shorter but judged only
/// from [`STORE_MIN`] bytes on) is [`incompressible`]. A rule on the bytes alone, so the same
/// content gives the same zip everywhere; one sixteenth of the file is judged, so it costs
/// little next to the hashing. A big file that is mostly compressed data (media, archives,
/// encrypted or random blobs) is stored; compressible parts between samples are not seen,
/// which costs bytes, never correctness.
pub(crate) struct LargeRule {
    offset: u64,
    sample: Vec<u8>,
    store: bool,
}

impl LargeRule {
    pub(crate) fn new() -> LargeRule {
        LargeRule {
            offset: 0,
            sample: Vec::new(),
            store: true,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while self.store && !data.is_empty() {
            let within = self.offset % SAMPLE_STRIDE;
            let (wanted, sampled) = if within < SAMPLE {
                (SAMPLE - within, true)
            } else {
                (SAMPLE_STRIDE - within, false)
            };
            let take = data
                .len()
                .min(usize::try_from(wanted).unwrap_or(usize::MAX));
            if sampled {
                self.sample.extend_from_slice(&data[..take]);
                if self.sample.len() as u64 == SAMPLE {
                    self.judge();
                }
            }
            self.offset += take as u64;
            data = &data[take..];
        }
    }

    fn judge(&mut self) {
        self.store &= incompressible(&self.sample);
        self.sample.clear();
    }

    /// The decision, for a file of `size` bytes (all of them fed).
    pub(crate) fn finish(mut self, size: u64) -> bool {
        if size <= WHOLE_LIMIT {
            return false;
        }
        if self.sample.len() >= STORE_MIN {
            self.judge();
        }
        self.store
    }
}

/// A value does not fit a 32-bit zip field from this on: it is written as 0xFFFFFFFF and
/// carried in a ZIP64 extra field.
const MAX32: u64 = 0xFFFF_FFFF;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
/// Unix (3) in the high byte, format version 6.3 in the low one.
const MADE_BY: u16 = (3 << 8) | 63;
/// Bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 0x0800;
/// Bit 3: CRC and sizes follow the data, in a data descriptor.
const FLAG_DESCRIPTOR: u16 = 0x0008;
/// DOS date of 1980-01-01 (time 00:00:00 is 0).
const DOS_DATE: u16 = (1 << 5) | 1;

/// The highest compressed size DEFLATE can reach for `size` bytes at any level (stored blocks
/// cost 5 bytes per 64 KiB; this bound is looser): a streamed entry whose bound does not fit
/// 32 bits is written as ZIP64 from its local header on.
pub(crate) fn deflate_bound(size: u64) -> u64 {
    size + size / 1000 + 1024
}

/// Bytes an entry adds besides its name (twice) and data, at most: local header (30), central
/// record (46), ZIP64 extra fields in both (20 + 28), data descriptor (24), and DEFLATE's
/// worst case on a small file (libdeflate's bound over the size, generously).
pub(crate) const ENTRY_OVERHEAD: u64 = 30 + 46 + 20 + 28 + 24 + 1024;
/// The end records, at most (ZIP64 end record and locator, classic end record).
pub(crate) const END_OVERHEAD: u64 = 56 + 20 + 22;

/// The archive being written: bytes go to `out`, central directory records accumulate.
struct ZipOut {
    out: Counted,
    central: Vec<u8>,
    entries: u64,
}

/// The output with the number of bytes written so far (the offset of the next header), and
/// whom to tell how far it got.
struct Counted {
    out: BufWriter<Sha256Writer>,
    offset: u64,
    report: Option<Report>,
}

/// A [`Progress`] and what it was last told.
struct Report {
    path: std::path::PathBuf,
    tell: Progress,
    told: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.offset += n as u64;
        if let Some(report) = self.report.as_mut()
            && self.offset - report.told >= REPORT_STEP
        {
            self.out.flush()?;
            report.told = self.offset;
            (report.tell)(&report.path, self.offset);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What the local header and central record of one entry say.
struct Header<'a> {
    name: &'a [u8],
    mode: u32,
    method: Method,
    crc: u32,
    /// Sizes as known when the local header is written (`None`: in the data descriptor).
    sizes: Option<(u64, u64)>,
}

/// ZIP64 extended-information extra field holding `values` (in the format's order:
/// uncompressed size, compressed size, header offset), or nothing when there are none.
fn zip64_extra(values: &[u64]) -> Vec<u8> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut extra = Vec::with_capacity(4 + 8 * values.len());
    extra.extend_from_slice(&1u16.to_le_bytes());
    extra.extend_from_slice(&(8 * values.len() as u16).to_le_bytes());
    for value in values {
        extra.extend_from_slice(&value.to_le_bytes());
    }
    extra
}

/// A 32-bit field: the value, or 0xFFFFFFFF when it goes to the ZIP64 field.
fn field32(value: u64) -> u32 {
    u32::try_from(value)
        .ok()
        .filter(|&v| u64::from(v) < MAX32)
        .unwrap_or(u32::MAX)
}

fn too_long(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} too long for a zip entry"),
    )
}

impl ZipOut {
    fn new(out: BufWriter<Sha256Writer>, report: Option<Report>) -> ZipOut {
        ZipOut {
            out: Counted {
                out,
                offset: 0,
                report,
            },
            central: Vec::new(),
            entries: 0,
        }
    }

    /// Writes a local header; returns its offset and whether the entry is ZIP64 from here on.
    /// `big`: the entry's sizes may not fit 32 bits.
    fn local_header(&mut self, header: &Header<'_>, big: bool) -> io::Result<(u64, bool)> {
        let offset = self.out.offset;
        let zip64 = big || offset >= MAX32;
        let name_len = u16::try_from(header.name.len()).map_err(|_| too_long("name"))?;
        let (flags, crc, compressed, uncompressed, extra) = match header.sizes {
            // Known sizes: in the header, both in the ZIP64 field when they do not fit.
            Some((compressed, uncompressed)) if big => (
                FLAG_UTF8,
                header.crc,
                u32::MAX,
                u32::MAX,
                zip64_extra(&[uncompressed, compressed]),
            ),
            Some((compressed, uncompressed)) => (
                FLAG_UTF8,
                header.crc,
                field32(compressed),
                field32(uncompressed),
                Vec::new(),
            ),
            // Sizes in the descriptor; a ZIP64 one announced by the ZIP64 field (zeros).
            None if big => (
                FLAG_UTF8 | FLAG_DESCRIPTOR,
                0,
                u32::MAX,
                u32::MAX,
                zip64_extra(&[0, 0]),
            ),
            None => (FLAG_UTF8 | FLAG_DESCRIPTOR, 0, 0, 0, Vec::new()),
        };
        let mut bytes = Vec::with_capacity(30 + header.name.len() + extra.len());
        bytes.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        bytes.extend_from_slice(&version_needed(header.method, zip64).to_le_bytes());
        bytes.extend_from_slice(&flags.to_le_bytes());
        bytes.extend_from_slice(&(header.method as u16).to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&DOS_DATE.to_le_bytes());
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&compressed.to_le_bytes());
        bytes.extend_from_slice(&uncompressed.to_le_bytes());
        bytes.extend_from_slice(&name_len.to_le_bytes());
        bytes.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.name);
        bytes.extend_from_slice(&extra);
        self.out.write_all(&bytes)?;
        Ok((offset, zip64))
    }

    /// Records the entry's central directory record, once its sizes are known.
    fn central_record(
        &mut self,
        header: &Header<'_>,
        offset: u64,
        zip64: bool,
        compressed: u64,
        uncompressed: u64,
    ) -> io::Result<()> {
        let mut values = Vec::new();
        for value in [uncompressed, compressed, offset] {
            if value >= MAX32 {
                values.push(value);
            }
        }
        let extra = zip64_extra(&values);
        let flags = if header.sizes.is_some() {
            FLAG_UTF8
        } else {
            FLAG_UTF8 | FLAG_DESCRIPTOR
        };
        let name_len = u16::try_from(header.name.len()).map_err(|_| too_long("name"))?;
        let record = &mut self.central;
        record.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        record.extend_from_slice(&MADE_BY.to_le_bytes());
        record.extend_from_slice(
            &version_needed(header.method, zip64 || !extra.is_empty()).to_le_bytes(),
        );
        record.extend_from_slice(&flags.to_le_bytes());
        record.extend_from_slice(&(header.method as u16).to_le_bytes());
        record.extend_from_slice(&0u16.to_le_bytes());
        record.extend_from_slice(&DOS_DATE.to_le_bytes());
        record.extend_from_slice(&header.crc.to_le_bytes());
        record.extend_from_slice(&field32(compressed).to_le_bytes());
        record.extend_from_slice(&field32(uncompressed).to_le_bytes());
        record.extend_from_slice(&name_len.to_le_bytes());
        record.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        record.extend_from_slice(&0u16.to_le_bytes()); // comment length
        record.extend_from_slice(&0u16.to_le_bytes()); // disk number
        record.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        record.extend_from_slice(&(header.mode << 16).to_le_bytes());
        record.extend_from_slice(&field32(offset).to_le_bytes());
        record.extend_from_slice(header.name);
        record.extend_from_slice(&extra);
        self.entries += 1;
        Ok(())
    }

    /// An entry whose data is in memory (stored or already deflated).
    fn whole(&mut self, header: &Header<'_>, data: &[u8]) -> io::Result<()> {
        let sizes = header.sizes.unwrap_or_default();
        let (offset, zip64) = self.local_header(header, sizes.1 >= MAX32 || sizes.0 >= MAX32)?;
        self.out.write_all(data)?;
        self.central_record(header, offset, zip64, sizes.0, sizes.1)
    }

    /// Ends the archive: central directory, ZIP64 end records if needed, end record.
    fn finish(mut self) -> io::Result<Sha256Writer> {
        let start = self.out.offset;
        let central = std::mem::take(&mut self.central);
        self.out.write_all(&central)?;
        let size = central.len() as u64;
        let count = self.entries;
        let mut end = Vec::new();
        if count >= 0xFFFF || size >= MAX32 || start >= MAX32 {
            let record = self.out.offset;
            end.extend_from_slice(&ZIP64_END_SIGNATURE.to_le_bytes());
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&MADE_BY.to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&size.to_le_bytes());
            end.extend_from_slice(&start.to_le_bytes());
            end.extend_from_slice(&ZIP64_LOCATOR_SIGNATURE.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&record.to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        let count16 = u16::try_from(count).unwrap_or(u16::MAX);
        end.extend_from_slice(&END_SIGNATURE.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&count16.to_le_bytes());
        end.extend_from_slice(&count16.to_le_bytes());
        end.extend_from_slice(&field32(size).to_le_bytes());
        end.extend_from_slice(&field32(start).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.out.write_all(&end)?;
        self.out
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

/// 1.0 stored, 2.0 deflated, 4.5 with ZIP64 fields.
fn version_needed(method: Method, zip64: bool) -> u16 {
    match (zip64, method) {
        (true, _) => 45,
        (false, Method::Deflated) => 20,
        (false, Method::Stored) => 10,
    }
}

fn zip_failed(source: &Source, temp: &Path, error: io::Error) -> ArchiveError {
    if error.kind() == io::ErrorKind::InvalidInput {
        ArchiveError::Zip {
            root: source.root.clone(),
            message: error.to_string(),
        }
    } else {
        ArchiveError::Io {
            path: temp.to_path_buf(),
            source: error,
        }
    }
}

fn write_entries(
    zip: &mut ZipOut,
    source: &Source,
    temp: &Path,
    queue: &Queue,
    receiver: mpsc::Receiver<(usize, Prepared)>,
    pack: &mut Option<PackWriter>,
    reuse: Reuse<'_>,
) -> Result<(), ArchiveError> {
    let failed = |e| zip_failed(source, temp, e);
    let mut ready: HashMap<usize, Prepared> = HashMap::new();
    for (index, entry) in source.entries.iter().enumerate() {
        let mode = mode_bits(entry)?;
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
            let piece = prepared?;
            let header = Header {
                name: entry.name.as_bytes(),
                mode: u32::from(mode),
                method: piece.method,
                crc: piece.crc,
                sizes: Some((piece.data.len() as u64, entry.size)),
            };
            zip.whole(&header, &piece.data).map_err(failed)?;
            if let (Some(pack), Some(data_crc)) = (pack.as_mut(), piece.data_crc) {
                pack.add(&entry.digest, &piece.data, data_crc);
            }
            queue.release(entry.size);
        } else {
            stream_entry(zip, entry, mode, reuse, pack.as_mut()).map_err(|e| match e {
                Streamed::Entry(e) => e,
                Streamed::Zip(e) => failed(e),
            })?;
        }
    }
    Ok(())
}

/// Copies what `file` yields into `out` in [`CHUNK`] reads, hashing it; stops at one byte
/// more than the scanned size (a file that grew). Returns the byte count.
fn copy(
    file: &mut impl Read,
    out: &mut impl Write,
    hasher: &mut blake3::Hasher,
    entry: &Entry,
) -> Result<u64, Streamed> {
    let mut chunk = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Streamed::Entry(io_err(&entry.path)(e))),
        };
        hasher.update(&chunk[..n]);
        total += n as u64;
        if total > entry.size {
            return Ok(total); // grew: the caller reports it
        }
        out.write_all(&chunk[..n])?;
    }
}

/// Why streaming an entry failed: the file (read error, changed) or the zip.
enum Streamed {
    Entry(ArchiveError),
    Zip(io::Error),
}

impl From<io::Error> for Streamed {
    fn from(error: io::Error) -> Streamed {
        Streamed::Zip(error)
    }
}

/// A big file: copied as it is (stored, CRC and sizes from the scan in the local header) or
/// deflated in blocks (data descriptor), or its deflated bytes copied from the cache. Its
/// bytes are hashed again on the way and must be the scanned ones (a cached copy is of the
/// scanned content, found by its digest: the file is not read again).
fn stream_entry(
    zip: &mut ZipOut,
    entry: &Entry,
    mode: u16,
    reuse: Reuse<'_>,
    mut pack: Option<&mut PackWriter>,
) -> Result<(), Streamed> {
    let method = if entry.incompressible {
        Method::Stored
    } else {
        Method::Deflated
    };
    let mut header = Header {
        name: entry.name.as_bytes(),
        mode: u32::from(mode),
        method,
        crc: entry.crc32,
        sizes: None,
    };
    if method == Method::Stored {
        header.sizes = Some((entry.size, entry.size));
    }
    let big = match method {
        Method::Stored => entry.size >= MAX32,
        Method::Deflated => deflate_bound(entry.size) >= MAX32,
    };
    let cached = match method {
        Method::Deflated => reuse
            .old
            .and_then(|old| Some((old, old.big(&entry.digest)?))),
        Method::Stored => None,
    };
    let (offset, zip64) = zip.local_header(&header, big)?;
    let data_start = zip.out.offset;
    if let Some((old, slot)) = cached {
        reuse.hits.fetch_add(1, Ordering::Relaxed);
        let out = &mut zip.out;
        old.copy(slot, |data| {
            if let Some(pack) = pack.as_mut() {
                pack.part(data);
            }
            out.write_all(data)
        })?;
        if let Some(pack) = pack.as_mut() {
            pack.end(&entry.digest);
        }
    } else {
        let file = File::open(&entry.path).map_err(|e| Streamed::Entry(io_err(&entry.path)(e)))?;
        let mut file = file.take(entry.size + 1);
        let mut hasher = blake3::Hasher::new();
        let total = if method == Method::Deflated {
            deflate_blocks(&mut file, &mut zip.out, &mut hasher, entry, pack)?
        } else {
            copy(&mut file, &mut zip.out, &mut hasher, entry)?
        };
        verify(entry, total, hasher.finalize()).map_err(Streamed::Entry)?;
    }
    let compressed = zip.out.offset - data_start;
    if method == Method::Deflated {
        let mut descriptor = Vec::with_capacity(24);
        descriptor.extend_from_slice(&DESCRIPTOR_SIGNATURE.to_le_bytes());
        descriptor.extend_from_slice(&entry.crc32.to_le_bytes());
        if big {
            descriptor.extend_from_slice(&compressed.to_le_bytes());
            descriptor.extend_from_slice(&entry.size.to_le_bytes());
        } else {
            // Not big: both fit (the bound said so).
            descriptor.extend_from_slice(&field32(compressed).to_le_bytes());
            descriptor.extend_from_slice(&field32(entry.size).to_le_bytes());
        }
        zip.out.write_all(&descriptor)?;
    }
    zip.central_record(&header, offset, zip64, compressed, entry.size)?;
    Ok(())
}

/// Uncompressed bytes per independently deflated block of a big (streamed) entry. Part of the
/// bytes a key names: changing it means bumping [`crate::KEY_FORMAT_VERSION`].
pub const BLOCK: usize = 1024 * 1024;

/// Compression threads for the blocks of one streamed entry (and for the small files).
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
}

/// DEFLATEs a big file on all cores: its bytes are cut into [`BLOCK`]s, each compressed on
/// its own by a fresh zlib-rs stream at [`DEFLATE_LEVEL_STREAMED`] and ended by a sync flush
/// (the last by the final block), so the pieces concatenate into one valid DEFLATE stream
/// (as pigz's independent mode does). Each block's bytes depend on that block alone, so the
/// entry is the same whatever the number of threads, and the CRC-32 comes from the scan.
/// Reads in order on this thread (hashing), keeps at most two blocks per worker in flight
/// and writes the results in order (to `pack` too, when given: the entry is recorded there
/// once all of the file was read and deflated). Returns the bytes read (one more than
/// scanned: grew).
fn deflate_blocks(
    file: &mut impl Read,
    out: &mut impl Write,
    hasher: &mut blake3::Hasher,
    entry: &Entry,
    mut pack: Option<&mut PackWriter>,
) -> Result<u64, Streamed> {
    type Job = (u64, Vec<u8>, bool);
    type Done = (u64, Result<Vec<u8>, String>);
    let blocks = entry.size.div_ceil(BLOCK as u64);
    let workers = threads();
    let window = 2 * workers as u64;
    let (jobs, job_queue) = mpsc::sync_channel::<Job>(2 * workers);
    let job_queue = Mutex::new(job_queue);
    let (results, done) = mpsc::channel::<Done>();
    std::thread::scope(|scope| {
        // Owned here: returning early drops the sender, and the workers end.
        let jobs = jobs;
        for _ in 0..workers {
            let (job_queue, results) = (&job_queue, results.clone());
            scope.spawn(move || {
                let mut stream = new_stream();
                loop {
                    let job = job_queue
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .recv();
                    let Ok((index, data, last)) = job else { return };
                    let deflated = deflate_block(&mut stream, &data, last);
                    if results.send((index, deflated)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        let (mut read, mut written, mut total) = (0u64, 0u64, 0u64);
        let mut ready: HashMap<u64, Result<Vec<u8>, String>> = HashMap::new();
        while written < blocks {
            while read < blocks && read - written < window {
                let want = (entry.size - total).min(BLOCK as u64);
                let mut data = Vec::with_capacity(BLOCK);
                let n = (&mut *file)
                    .take(want)
                    .read_to_end(&mut data)
                    .map_err(|e| Streamed::Entry(io_err(&entry.path)(e)))?;
                hasher.update(&data);
                total += n as u64;
                if (n as u64) < want {
                    return Ok(total); // shrank: the caller reports it
                }
                read += 1;
                let sent = jobs.send((read - 1, data, read == blocks));
                sent.map_err(|_| stopped(entry))?;
            }
            let deflated = loop {
                if let Some(deflated) = ready.remove(&written) {
                    break deflated;
                }
                let (index, deflated) = done.recv().map_err(|_| stopped(entry))?;
                ready.insert(index, deflated);
            };
            let deflated = deflated.map_err(|message| {
                Streamed::Entry(ArchiveError::Zip {
                    root: entry.path.clone(),
                    message,
                })
            })?;
            out.write_all(&deflated)?;
            if let Some(pack) = pack.as_mut() {
                pack.part(&deflated);
            }
            written += 1;
        }
        // One byte more means the file grew since the scan.
        let mut probe = [0u8; 1];
        let more = loop {
            match file.read(&mut probe) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Streamed::Entry(io_err(&entry.path)(e))),
            }
        };
        hasher.update(&probe[..more]);
        // A grown file fails the build, so its pack is never used; a same-size change is
        // caught by the digest, which also fails the build.
        if let (Some(pack), 0) = (pack, more) {
            pack.end(&entry.digest);
        }
        Ok(total + more as u64)
    })
}

fn stopped(entry: &Entry) -> Streamed {
    Streamed::Entry(ArchiveError::Zip {
        root: entry.path.clone(),
        message: "compression workers stopped early".to_owned(),
    })
}

/// The compressor of big entries' blocks: zlib-rs at [`DEFLATE_LEVEL_STREAMED`], raw DEFLATE.
fn new_stream() -> flate2::Compress {
    flate2::Compress::new(flate2::Compression::new(DEFLATE_LEVEL_STREAMED), false)
}

/// One block of a streamed entry, deflated by `stream` from its reset state: ended by a sync
/// flush (byte-aligned, not final), or for the `last` block by the final DEFLATE block.
fn deflate_block(
    stream: &mut flate2::Compress,
    data: &[u8],
    last: bool,
) -> Result<Vec<u8>, String> {
    use flate2::{FlushCompress, Status};
    stream.reset();
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out =
        Vec::with_capacity(usize::try_from(deflate_bound(data.len() as u64)).unwrap_or(data.len()));
    loop {
        let consumed = usize::try_from(stream.total_in()).unwrap_or(usize::MAX);
        let rest = data.get(consumed..).unwrap_or_default();
        let status = stream
            .compress_vec(rest, &mut out, flush)
            .map_err(|e| format!("DEFLATE failed: {e}"))?;
        let all_in = stream.total_in() == data.len() as u64;
        // A flush is complete when it left output room; the final block, at the stream end.
        let complete = match status {
            Status::StreamEnd => true,
            Status::Ok | Status::BufError => !last && all_in && out.len() < out.capacity(),
        };
        if complete {
            return Ok(out);
        }
        out.reserve(64 * 1024);
    }
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
    fn a_reused_compressor_gives_the_bytes_of_a_fresh_one() {
        assert!(
            CompressionLvl::new(DEFLATE_LEVEL_WHOLE).is_ok(),
            "a libdeflate level"
        );
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

    /// Text-like bytes that DEFLATE shrinks (this file, repeated with a counter).
    fn text(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 100_000);
        let mut round = 0u32;
        while out.len() < len {
            out.extend_from_slice(format!("// round {round}\n").as_bytes());
            out.extend_from_slice(include_bytes!("write.rs"));
            round += 1;
        }
        out.truncate(len);
        out
    }

    fn entry_for(path: &Path, data: &[u8]) -> Entry {
        Entry {
            name: "big".to_owned(),
            path: path.to_path_buf(),
            mode: 0o100644,
            size: data.len() as u64,
            digest: *blake3::hash(data).as_bytes(),
            crc32: cache::crc32(data),
            incompressible: false,
        }
    }

    #[test]
    fn big_entries_are_independent_blocks_whatever_the_threads() {
        // Not a multiple of the block size: the last block is short.
        let data = text(5 * BLOCK + 12_345);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big");
        std::fs::write(&path, &data).expect("write");
        let entry = entry_for(&path, &data);
        let mut out = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut file = File::open(&path).expect("open").take(entry.size + 1);
        let total = deflate_blocks(&mut file, &mut out, &mut hasher, &entry, None)
            .unwrap_or_else(|_| panic!("deflate"));
        assert_eq!(total, entry.size);
        assert_eq!(hasher.finalize(), blake3::hash(&data));
        // The same bytes as deflating each block alone, one after the other on one thread
        // with a fresh stream each: what the workers do does not depend on their number.
        let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
        let mut one_by_one = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let mut fresh = new_stream();
            let last = i + 1 == blocks.len();
            one_by_one.extend(deflate_block(&mut fresh, block, last).expect("deflate"));
        }
        assert!(out == one_by_one);
        // One valid DEFLATE stream, which ends where the data ends, and a compressed one.
        assert!(inflate(&out) == data);
        let mut decoder = flate2::Decompress::new(false);
        let mut sink = vec![0; data.len() + 1];
        let status = decoder
            .decompress(&out, &mut sink, flate2::FlushDecompress::Finish)
            .expect("inflate");
        assert_eq!(status, flate2::Status::StreamEnd);
        assert_eq!(decoder.total_in(), out.len() as u64);
        assert!(out.len() < data.len() / 3);
        // A reused stream gives the bytes of a fresh one.
        let mut reused = new_stream();
        deflate_block(&mut reused, blocks[1], false).expect("deflate");
        let again = deflate_block(&mut reused, blocks[0], false).expect("deflate");
        assert!(one_by_one.starts_with(&again));
        assert!(
            again.ends_with(&[0, 0, 0xFF, 0xFF]),
            "a sync flush ends the block"
        );
    }

    #[test]
    fn a_big_file_that_changed_size_is_noticed() {
        let data = text(5 * BLOCK);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big");
        // The scan saw `data`; the file now holds one byte more, or one block less.
        let entry = entry_for(&path, &data);
        for now in [[&data[..], b"x"].concat(), data[..4 * BLOCK].to_vec()] {
            std::fs::write(&path, &now).expect("write");
            let mut file = File::open(&path).expect("open").take(entry.size + 1);
            let mut hasher = blake3::Hasher::new();
            let total = deflate_blocks(&mut file, &mut io::sink(), &mut hasher, &entry, None)
                .unwrap_or_else(|_| panic!("deflate"));
            assert_ne!(total, entry.size);
        }
    }

    fn judge_large(data: &[u8], split: usize) -> bool {
        let mut rule = LargeRule::new();
        for piece in data.chunks(split) {
            rule.update(piece);
        }
        rule.finish(data.len() as u64)
    }

    #[test]
    fn big_files_are_judged_on_samples_whatever_the_reads() {
        let noise = random("big noise", 6 * 1024 * 1024 + 5000);
        for split in [1 << 18, 4096, 70_001] {
            assert!(judge_large(&noise, split), "split {split}");
        }
        // Up to the whole-file limit, never: those are judged whole by the writer.
        assert!(!judge_large(&noise[..WHOLE_LIMIT as usize], 1 << 18));
        // Text inside one sample (here the third MiB's): deflated.
        let mut mixed = noise.clone();
        let text = include_bytes!("write.rs");
        let at = 2 * SAMPLE_STRIDE as usize + 1000;
        mixed[at..at + text.len().min(30_000)].copy_from_slice(&text[..text.len().min(30_000)]);
        for split in [1 << 18, 4096, 70_001] {
            assert!(!judge_large(&mixed, split), "split {split}");
        }
        // Text in the last, short sample counts too; a last piece under 1 KiB is not judged.
        let mut tail = noise[..6 * SAMPLE_STRIDE as usize].to_vec();
        tail.extend_from_slice(&text[..4096]);
        assert!(!judge_large(&tail, 1 << 18));
        let mut short = noise[..6 * SAMPLE_STRIDE as usize].to_vec();
        short.extend_from_slice(&text[..500]);
        assert!(judge_large(&short, 1 << 18));
        // Between samples it is not seen (costs bytes, not correctness).
        let mut between = noise.clone();
        let at = SAMPLE_STRIDE as usize + 2 * SAMPLE as usize;
        between[at..at + 30_000].copy_from_slice(&text[..30_000]);
        assert!(judge_large(&between, 1 << 18));
    }
}
