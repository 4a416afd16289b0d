//! The deterministic zip (SPEC A6), streamed into a temporary file.
//!
//! Runs on a blocking thread: async_zip is driven by a trivial executor over synchronous file
//! I/O (`AllowStdIo`), so compression never occupies the async runtime and no per-chunk task
//! hops are paid.
//!
//! Format: entries in [`Source::entries`] order; names UTF-8 (general-purpose flag bit 11);
//! DOS time 1980-01-01 00:00:00; version made by Unix; external attributes `mode << 16`;
//! DEFLATE through async-compression → flate2's default pure-Rust backend (miniz_oxide) at
//! flate2's default level (6). Files up to [`WHOLE_LIMIT`] are written with sizes and CRC in
//! the local header and no extra field. Bigger files are streamed in [`CHUNK`] pieces, which
//! async_zip writes with a data descriptor and a ZIP64 extended-information extra field (and
//! then ZIP64 end records); that layout is deterministic too.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::Path;

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

type Writer = ZipFileWriter<AllowStdIo<BufWriter<File>>>;

pub(crate) fn write_zip(source: &Source, temp_dir: &Path) -> Result<Built, ArchiveError> {
    let zip_err = |e: async_zip::error::ZipError| ArchiveError::Zip {
        root: source.root.clone(),
        message: e.to_string(),
    };
    let temp = tempfile::Builder::new()
        .prefix(".copilot-lite-")
        .suffix(".zip")
        .tempfile_in(temp_dir)
        .map_err(io_err(temp_dir))?;
    let (file, temp_path) = temp.into_parts();
    let mut writer = ZipFileWriter::new(AllowStdIo::new(BufWriter::with_capacity(CHUNK, file)));
    futures::executor::block_on(write_entries(&mut writer, source, &temp_path))?;
    let out = futures::executor::block_on(writer.close()).map_err(zip_err)?;
    let file = out
        .into_inner()
        .into_inner()
        .map_err(|e| ArchiveError::Io {
            path: temp_path.to_path_buf(),
            source: e.into_error(),
        })?;
    let size = file.metadata().map_err(io_err(&temp_path))?.len();
    tracing::debug!(root = %source.root.display(), zip = %temp_path.display(), size, "zip written");
    Ok(Built {
        path: temp_path.to_path_buf(),
        size,
        content_type: "application/zip",
        _temp: Some(temp_path),
    })
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

async fn write_entries(
    writer: &mut Writer,
    source: &Source,
    temp: &Path,
) -> Result<(), ArchiveError> {
    let zip_err = |e: async_zip::error::ZipError| ArchiveError::Zip {
        root: source.root.clone(),
        message: e.to_string(),
    };
    let time = fixed_time();
    let mut buf = Vec::new();
    for entry in &source.entries {
        let file = File::open(&entry.path).map_err(io_err(&entry.path))?;
        let options = ZipEntryBuilder::new(entry.name.clone().into(), Compression::Deflate)
            .deflate_option(DeflateOption::Normal)
            .attribute_compatibility(AttributeCompatibility::Unix)
            .last_modification_date(time)
            .unix_permissions(mode_bits(entry)?);
        if entry.size <= WHOLE_LIMIT {
            buf.clear();
            // One byte more than expected, to notice growth without unbounded reads.
            file.take(entry.size + 1)
                .read_to_end(&mut buf)
                .map_err(io_err(&entry.path))?;
            verify(entry, buf.len() as u64, blake3::hash(&buf))?;
            writer
                .write_entry_whole(options, &buf)
                .await
                .map_err(zip_err)?;
        } else {
            let mut stream = writer.write_entry_stream(options).await.map_err(zip_err)?;
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
            stream.close().await.map_err(zip_err)?;
        }
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
