//! The compressed-entry cache: what a zip build deflated, kept for the next build of the same
//! artifact, so that a re-zip after an edit deflates only the files that changed.
//!
//! The bytes DEFLATE makes of an entry are a function of its content alone (one backend and
//! one level per entry class, pinned, see [`crate::KEY_FORMAT_VERSION`]), so a cached copy
//! found by the content's BLAKE3 digest (the one the scan computed and the key is made of) is
//! exactly what deflating again would give: the zip and its key are the same, cache or not.
//!
//! Layout: one pack file per artifact root, `<dir>/<BLAKE3 of the root path>.pack`, replaced
//! (written to a temporary file, then renamed) by every build of that root. A pack holds the
//! deflated data of the root's entries one after the other (whole entries, read back into
//! memory; big ones, deflated in blocks, copied from the pack piece by piece after a first
//! pass that checks them), then an index (per entry:
//! content digest, offset, length, CRC-32 of the deflated bytes), then a footer (format
//! version, entry count, index offset, BLAKE3 of the index, magic). A pack whose footer,
//! version or index checksum is wrong is not used; an entry whose length or CRC-32 is wrong is
//! deflated again (a truncated or corrupted pack never reaches a zip). After a pack is written,
//! the oldest packs are deleted until the folder holds at most [`Cache::max_bytes`].
//!
//! The cache is best effort: a failure to read or write it is logged and the build goes on as
//! without it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::KEY_FORMAT_VERSION;

/// Where packs are kept and how many bytes they may take in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

const MAGIC: &[u8; 8] = b"CLPACK01";
/// Per entry: digest, offset, length, CRC-32.
const RECORD: usize = 32 + 8 + 8 + 4;
/// Version, count, index offset, index BLAKE3, magic.
const FOOTER: usize = 4 + 8 + 8 + 32 + 8;
/// Temporary packs older than this are left over from a killed run: eviction removes them.
const STALE: Duration = Duration::from_secs(3600);

/// Read size when checking or copying a big cached entry.
const COPY_CHUNK: usize = 256 * 1024;

/// One cached entry's place in its pack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    offset: u64,
    len: u64,
    crc: u32,
}

/// The pack of an earlier build of the same root, open for reading.
pub(crate) struct Pack {
    file: File,
    slots: HashMap<[u8; 32], Slot>,
}

impl Cache {
    fn pack_path(&self, root: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let id = blake3::hash(root.as_os_str().as_bytes()).to_hex();
        self.dir.join(format!("{}.pack", &id[..32]))
    }

    /// The pack of `root`'s last build, when there is a valid one.
    pub(crate) fn open(&self, root: &Path) -> Option<Pack> {
        let path = self.pack_path(root);
        match Pack::open(&path) {
            Ok(pack) => pack,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(pack = %path.display(), error = %e, "compressed-entry cache not read");
                }
                None
            }
        }
    }

    /// A new pack for `root`, written alongside the zip.
    pub(crate) fn writer(&self, root: &Path) -> Option<PackWriter> {
        let made = std::fs::create_dir_all(&self.dir).and_then(|()| {
            tempfile::Builder::new()
                .prefix(".pack-")
                .suffix(".tmp")
                .tempfile_in(&self.dir)
        });
        match made {
            Ok(temp) => {
                let (file, path) = temp.into_parts();
                Some(PackWriter {
                    out: BufWriter::with_capacity(256 * 1024, file),
                    temp: path,
                    target: self.pack_path(root),
                    offset: 0,
                    index: Vec::new(),
                    failed: false,
                    open: None,
                })
            }
            Err(e) => {
                tracing::debug!(dir = %self.dir.display(), error = %e, "compressed-entry cache not written");
                None
            }
        }
    }

    /// Deletes the oldest packs (and stale temporary ones) until the rest fit `max_bytes`.
    fn evict(&self) -> io::Result<()> {
        let now = SystemTime::now();
        let mut packs = Vec::new();
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = item.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if name.ends_with(".pack") {
                packs.push((modified, meta.len(), item.path()));
            } else if name.starts_with(".pack-")
                && now.duration_since(modified).unwrap_or_default() > STALE
            {
                let _ = std::fs::remove_file(item.path());
            }
        }
        packs.sort_by_key(|p| std::cmp::Reverse(p.0)); // newest first
        let mut total = 0u64;
        for (_, len, path) in packs {
            total = total.saturating_add(len);
            if total > self.max_bytes {
                tracing::debug!(pack = %path.display(), "compressed-entry cache: evicted");
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}

impl Pack {
    fn open(path: &Path) -> io::Result<Option<Pack>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let invalid = |why: &str| {
            tracing::debug!(pack = %path.display(), why, "compressed-entry cache: pack ignored");
            Ok(None)
        };
        if len < FOOTER as u64 {
            return invalid("shorter than its footer");
        }
        let mut footer = [0u8; FOOTER];
        file.read_exact_at(&mut footer, len - FOOTER as u64)?;
        let (version, rest) = footer.split_at(4);
        let (count, rest) = rest.split_at(8);
        let (index_at, rest) = rest.split_at(8);
        let (checksum, magic) = rest.split_at(32);
        let version = u32::from_le_bytes(version.try_into().unwrap_or_default());
        let count = u64::from_le_bytes(count.try_into().unwrap_or_default());
        let index_at = u64::from_le_bytes(index_at.try_into().unwrap_or_default());
        if magic != MAGIC || version != KEY_FORMAT_VERSION {
            return invalid("not a pack of this version");
        }
        let index_len = count.checked_mul(RECORD as u64);
        if index_len.and_then(|l| l.checked_add(index_at)) != Some(len - FOOTER as u64) {
            return invalid("index does not fit the file");
        }
        let mut index = vec![0u8; (len - FOOTER as u64 - index_at) as usize];
        file.read_exact_at(&mut index, index_at)?;
        if blake3::hash(&index).as_bytes() != checksum {
            return invalid("index checksum differs");
        }
        let mut slots = HashMap::with_capacity(count as usize);
        for record in index.chunks_exact(RECORD) {
            let (digest, rest) = record.split_at(32);
            let (offset, rest) = rest.split_at(8);
            let (len, crc) = rest.split_at(8);
            let slot = Slot {
                offset: u64::from_le_bytes(offset.try_into().unwrap_or_default()),
                len: u64::from_le_bytes(len.try_into().unwrap_or_default()),
                crc: u32::from_le_bytes(crc.try_into().unwrap_or_default()),
            };
            if slot
                .offset
                .checked_add(slot.len)
                .is_none_or(|end| end > index_at)
            {
                return invalid("an entry lies outside the data");
            }
            slots.insert(digest.try_into().unwrap_or_default(), slot);
        }
        Ok(Some(Pack { file, slots }))
    }

    /// The deflated bytes of the content with BLAKE3 `digest`, and their CRC-32, when the
    /// pack has them and they read back intact.
    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<(Vec<u8>, u32)> {
        let slot = *self.slots.get(digest)?;
        let mut data = vec![0u8; usize::try_from(slot.len).ok()?];
        if let Err(e) = self.file.read_exact_at(&mut data, slot.offset) {
            tracing::debug!(error = %e, "compressed-entry cache: entry not read");
            return None;
        }
        if crc32(&data) != slot.crc {
            tracing::debug!("compressed-entry cache: entry ignored (CRC-32 differs)");
            return None;
        }
        Some((data, slot.crc))
    }

    /// The place of the deflated bytes of a big entry (too big to hold in memory), when the
    /// pack has them and they read back intact: checked in a first pass, so that nothing of a
    /// damaged entry reaches a zip.
    pub(crate) fn big(&self, digest: &[u8; 32]) -> Option<Slot> {
        let slot = *self.slots.get(digest)?;
        let crc = self.read_range(slot, |_| Ok(()));
        match crc {
            Ok(crc) if crc == slot.crc => Some(slot),
            Ok(_) => {
                tracing::debug!("compressed-entry cache: entry ignored (CRC-32 differs)");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "compressed-entry cache: entry not read");
                None
            }
        }
    }

    /// Copies the bytes of a slot [`Pack::big`] checked to `out`, piece by piece, checking
    /// their CRC-32 again (the pack changed in between: an error, the build fails).
    pub(crate) fn copy(
        &self,
        slot: Slot,
        out: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.read_range(slot, out)? != slot.crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the compressed-entry cache changed while it was read",
            ));
        }
        Ok(())
    }

    /// Reads a slot in pieces, giving each to `each`; returns the CRC-32 of all of it.
    fn read_range(
        &self,
        slot: Slot,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<u32> {
        let mut crc = crc32_digest();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut done = 0u64;
        while done < slot.len {
            let n =
                usize::try_from(slot.len - done).map_or(COPY_CHUNK, |left| left.min(COPY_CHUNK));
            self.file.read_exact_at(&mut buf[..n], slot.offset + done)?;
            crc.update(&buf[..n]);
            each(&buf[..n])?;
            done += n as u64;
        }
        Ok(crc.finalize() as u32)
    }
}

/// A pack being written by a build; [`PackWriter::finish`] puts it in place.
pub(crate) struct PackWriter {
    out: BufWriter<File>,
    temp: tempfile::TempPath,
    target: PathBuf,
    offset: u64,
    index: Vec<u8>,
    failed: bool,
    /// The entry being written in pieces: where it starts, and the CRC-32 so far.
    open: Option<(u64, crc_fast::Digest)>,
}

impl PackWriter {
    /// Appends a piece of a big entry's deflated bytes ([`PackWriter::end`] records it).
    pub(crate) fn part(&mut self, data: &[u8]) {
        if self.failed {
            return;
        }
        let (_, crc) = self
            .open
            .get_or_insert_with(|| (self.offset, crc32_digest()));
        crc.update(data);
        if let Err(e) = self.out.write_all(data) {
            tracing::debug!(error = %e, "compressed-entry cache not written");
            self.failed = true;
            return;
        }
        self.offset += data.len() as u64;
    }

    /// Records the entry whose pieces [`PackWriter::part`] wrote, as the content `digest`.
    pub(crate) fn end(&mut self, digest: &[u8; 32]) {
        let Some((start, crc)) = self.open.take() else {
            return;
        };
        if !self.failed {
            let crc = crc.finalize() as u32;
            self.record(digest, start, self.offset - start, crc);
        }
    }

    fn record(&mut self, digest: &[u8; 32], offset: u64, len: u64, crc: u32) {
        self.index.extend_from_slice(digest);
        self.index.extend_from_slice(&offset.to_le_bytes());
        self.index.extend_from_slice(&len.to_le_bytes());
        self.index.extend_from_slice(&crc.to_le_bytes());
    }

    /// Appends an entry's deflated bytes (`crc`: their CRC-32).
    pub(crate) fn add(&mut self, digest: &[u8; 32], data: &[u8], crc: u32) {
        if self.failed {
            return;
        }
        if let Err(e) = self.out.write_all(data) {
            tracing::debug!(error = %e, "compressed-entry cache not written");
            self.failed = true;
            return;
        }
        self.record(digest, self.offset, data.len() as u64, crc);
        self.offset += data.len() as u64;
    }

    /// Writes the index and footer, renames the pack into place, and evicts old packs.
    pub(crate) fn finish(self, cache: &Cache) {
        let PackWriter {
            mut out,
            temp,
            target,
            offset,
            index,
            failed,
            open: _,
        } = self;
        if failed {
            return;
        }
        let count = (index.len() / RECORD) as u64;
        let written = out
            .write_all(&index)
            .and_then(|()| out.write_all(&KEY_FORMAT_VERSION.to_le_bytes()))
            .and_then(|()| out.write_all(&count.to_le_bytes()))
            .and_then(|()| out.write_all(&offset.to_le_bytes()))
            .and_then(|()| out.write_all(blake3::hash(&index).as_bytes()))
            .and_then(|()| out.write_all(MAGIC))
            .and_then(|()| out.flush())
            .and_then(|()| temp.persist(&target).map_err(|e| e.error))
            .and_then(|()| cache.evict());
        if let Err(e) = written {
            tracing::debug!(pack = %target.display(), error = %e, "compressed-entry cache not written");
        }
    }
}

/// A CRC-32 (ISO-HDLC, the zip checksum) being computed, as the pack's index records it.
fn crc32_digest() -> crc_fast::Digest {
    crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc)
}

/// CRC-32 (ISO-HDLC) of deflated bytes, as the pack's index records it.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = crc32_digest();
    crc.update(data);
    crc.finalize() as u32
}
