//! Putting objects: the entry point of every upload ([`Uploader::put_file`],
//! [`Uploader::put_bytes`]), single-part `PutObject` with a CRC32C checksum computed before
//! sending, and the byte sources (files streamed, never read whole).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectCannedAcl;
use aws_smithy_types::byte_stream::Length;

use crate::config::{kms_key, metadata, sse};
use crate::multipart::{Growing, effective_part_size, nonzero_or_default};
use crate::{UploadError, Uploader};

/// What became of one object. [`Uploader`] only ever sends; `Skipped` is for the callers
/// that decide to skip a key already present (packager's existence check and its stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploaded {
    /// The key was already present: nothing sent.
    Skipped,
    /// Bytes sent.
    Sent { bytes: u64 },
}

/// The byte range `offset..offset + len` of `bytes`, an error when it is not inside.
fn range(
    bytes: &bytes::Bytes,
    offset: u64,
    len: u64,
) -> Result<std::ops::Range<usize>, std::io::Error> {
    let start = usize::try_from(offset).map_err(std::io::Error::other)?;
    let end = usize::try_from(offset + len).map_err(std::io::Error::other)?;
    if start > end || end > bytes.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "range out of bounds",
        ));
    }
    Ok(start..end)
}

/// Read size when checksumming a file.
const CRC_READ_BUF: usize = 256 * 1024;

fn crc32c_of(bytes: &[u8]) -> u32 {
    // CRC32C is 32 bits wide: the u64 holds it in its low half.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// The CRC32C of exactly `len` bytes at `offset` of `path` (fewer bytes there is an error: the
/// file changed since its size was taken).
fn crc32c_of_file(path: &Path, offset: u64, len: u64) -> Result<u32, std::io::Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    let mut buf = vec![0u8; CRC_READ_BUF];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(CRC_READ_BUF as u64)).unwrap_or(CRC_READ_BUF);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than when its size was taken",
            ));
        }
        digest.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(digest.finalize() as u32)
}

/// Where the bytes of an upload come from.
#[derive(Debug, Clone)]
pub(crate) enum Source<'a> {
    File(&'a Path),
    Bytes(bytes::Bytes),
}

impl Source<'_> {
    /// The CRC32C of `len` bytes at `offset`, base64 of its big-endian bytes (the form of the
    /// `x-amz-checksum-crc32c` header). Files are read in bounded chunks on a blocking thread.
    pub(crate) async fn crc32c(&self, offset: u64, len: u64) -> Result<String, std::io::Error> {
        let crc = match self {
            Source::File(path) => {
                let path = path.to_path_buf();
                tokio::task::spawn_blocking(move || crc32c_of_file(&path, offset, len))
                    .await
                    .map_err(std::io::Error::other)??
            }
            Source::Bytes(b) => crc32c_of(&b[range(b, offset, len)?]),
        };
        Ok(aws_smithy_types::base64::encode(crc.to_be_bytes()))
    }

    /// A body for `len` bytes at `offset`; files are streamed (re-opened on retries), never
    /// read whole into memory.
    pub(crate) async fn body(&self, offset: u64, len: u64) -> Result<ByteStream, std::io::Error> {
        match self {
            Source::File(path) => ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(std::io::Error::other),
            Source::Bytes(b) => Ok(ByteStream::from(b.slice(range(b, offset, len)?))),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.to_path_buf(),
            Source::Bytes(_) => PathBuf::from("<memory>"),
        }
    }
}

impl Uploader {
    /// Uploads `path` to `key`, whether or not the key exists (whether to skip is the
    /// caller's decision: keys are content addressed, so packager checks existence once, for
    /// all keys, before building anything). Multipart above [`crate::Options::multipart_threshold`];
    /// an interrupted multipart upload is aborted.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|source| UploadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if !meta.is_file() {
            return Err(UploadError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        self.upload(key, Source::File(path), meta.len(), content_type)
            .await
    }

    /// Uploads a file that another task is still writing (appending only), following it on
    /// `file`. A file complete before it passes the multipart threshold goes as with
    /// [`Uploader::put_file`]; a bigger one as a multipart upload whose parts are sent as soon
    /// as they are written, so that the upload overlaps the writing. `size_bound` (an upper
    /// bound of the final size) sets the part size within S3's part count. A file whose writer
    /// goes away before completing it is [`UploadError::Incomplete`], and nothing is stored.
    pub async fn put_growing(
        &self,
        key: &str,
        content_type: &str,
        size_bound: u64,
        mut file: tokio::sync::watch::Receiver<Growing>,
    ) -> Result<Uploaded, UploadError> {
        let threshold = nonzero_or_default(self.options.multipart_threshold);
        let part_size = effective_part_size(self.options.part_size, size_bound);
        let start = threshold.max(part_size);
        let state = file
            .wait_for(|g| g.complete || (g.ready > start && g.path.is_some()))
            .await
            .map(|g| g.clone())
            .map_err(|_| self.incomplete(key))?;
        let Some(path) = state.path else {
            return Err(self.incomplete(key));
        };
        if state.complete {
            return self.put_file(key, &path, content_type).await;
        }
        let size = self
            .multipart_growing(key, &path, file, part_size, content_type)
            .await?;
        tracing::debug!(bucket = %self.bucket, %key, bytes = size, "uploaded while written");
        Ok(Uploaded::Sent { bytes: size })
    }

    /// Uploads `bytes` to `key` the same way as [`Uploader::put_file`].
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        let len = bytes.len() as u64;
        self.upload(
            key,
            Source::Bytes(bytes::Bytes::from(bytes)),
            len,
            content_type,
        )
        .await
    }

    async fn upload(
        &self,
        key: &str,
        source: Source<'_>,
        size: u64,
        content_type: &str,
    ) -> Result<Uploaded, UploadError> {
        let threshold = nonzero_or_default(self.options.multipart_threshold);
        if size > threshold {
            self.multipart(key, &source, size, content_type).await?;
        } else {
            self.put_single(key, &source, size, content_type).await?;
        }
        tracing::debug!(bucket = %self.bucket, %key, bytes = size, "uploaded");
        Ok(Uploaded::Sent { bytes: size })
    }

    async fn put_single(
        &self,
        key: &str,
        source: &Source<'_>,
        size: u64,
        content_type: &str,
    ) -> Result<(), UploadError> {
        let io = |source_err| UploadError::Io {
            path: source.path(),
            source: source_err,
        };
        let crc = source.crc32c(0, size).await.map_err(io)?;
        let body = source.body(0, size).await.map_err(io)?;
        // A checksum given as a header: the SDK then sends the body as it is, without the
        // aws-chunked encoding and its trailer, which some S3 implementations refuse.
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .checksum_crc32_c(&crc)
            .body(body);
        let out = self
            .apply_put_options(req, content_type)
            .send()
            .await
            .map_err(|e| self.map_err("PutObject", key, e))?;
        // S3 answers with the object's ETag and echoes the checksum it verified.
        if out.e_tag().is_none_or(str::is_empty) {
            return Err(self.not_s3("PutObject", key, "HTTP 200 without an ETag"));
        }
        if out.checksum_crc32_c() != Some(crc.as_str()) {
            return Err(self.not_s3(
                "PutObject",
                key,
                "the CRC32C checksum sent was not echoed (x-amz-checksum-crc32c)",
            ));
        }
        self.sent.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    fn apply_put_options(
        &self,
        req: PutObjectFluentBuilder,
        content_type: &str,
    ) -> PutObjectFluentBuilder {
        let o = &self.options;
        let mut req = req
            .content_type(content_type)
            .set_expected_bucket_owner(o.expected_owner.clone())
            .set_metadata(metadata(o))
            .set_server_side_encryption(sse(o))
            .set_ssekms_key_id(kms_key(o));
        if o.owner_full_control_acl {
            req = req.acl(ObjectCannedAcl::BucketOwnerFullControl);
        }
        req
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32c_matches_the_check_value() {
        // The CRC-32C (Castagnoli) check value of "123456789" (RFC 3720, B.4).
        assert_eq!(super::crc32c_of(b"123456789"), 0xE306_9283);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xx123456789yy").unwrap();
        assert_eq!(super::crc32c_of_file(&path, 2, 9).unwrap(), 0xE306_9283);
        assert!(super::crc32c_of_file(&path, 10, 9).is_err(), "short file");
    }
}
