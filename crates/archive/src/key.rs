//! The content key (SPEC A7).
//!
//! The key is the lower-case hex BLAKE3 digest of the following byte stream. Every integer is
//! little-endian; `str(x)` means `u64 byte length of x` followed by the bytes of `x`.
//!
//! ```text
//! u32  KEY_FORMAT_VERSION                      (currently 5)
//! str  packing kind                            ("zip" or "raw")
//!
//! kind "zip", then for every entry in archive order (byte order of the entry name):
//!   str       entry name                       (UTF-8, `/`-joined, relative to the root)
//!   u32       normalized mode                  (S_IFREG | perm & 0o777 | 0o444)
//!   u64       content length in bytes
//!   [u8; 32]  BLAKE3(content)
//!
//! kind "raw" (one file, uploaded as it is; its name and mode are not part of the upload):
//!   u64       content length in bytes
//!   [u8]      content
//! ```
//!
//! A zip entry contributes the BLAKE3 digest of its content rather than the content itself, so
//! that files can be hashed in parallel and a file that changed between scan and build can be
//! named. Each record is length-prefixed, so no two different inputs share a stream. Nothing
//! else (mtime, owner, location of the tree, walk order) is an input.

use crate::{Entry, KEY_FORMAT_VERSION};

pub(crate) const KIND_ZIP: &[u8] = b"zip";
pub(crate) const KIND_RAW: &[u8] = b"raw";

/// The header common to both kinds: version and packing kind.
pub(crate) fn start(kind: &[u8]) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&KEY_FORMAT_VERSION.to_le_bytes());
    put_bytes(&mut hasher, kind);
    hasher
}

fn put_bytes(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Key of a zip artifact from its entries (names, modes, sizes and content digests).
pub(crate) fn zip_key(entries: &[Entry]) -> String {
    let mut hasher = start(KIND_ZIP);
    for entry in entries {
        put_bytes(&mut hasher, entry.name.as_bytes());
        hasher.update(&entry.mode.to_le_bytes());
        hasher.update(&entry.size.to_le_bytes());
        hasher.update(&entry.digest);
    }
    hasher.finalize().to_hex().to_string()
}

/// Start of a raw key: the caller then feeds exactly `len` content bytes.
pub(crate) fn raw_start(len: u64) -> blake3::Hasher {
    let mut hasher = start(KIND_RAW);
    hasher.update(&len.to_le_bytes());
    hasher
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(name: &str, mode: u32, content: &[u8]) -> Entry {
        Entry {
            name: name.to_owned(),
            path: PathBuf::from("/nowhere").join(name),
            mode,
            size: content.len() as u64,
            digest: *blake3::hash(content).as_bytes(),
            crc32: 0,
            incompressible: false,
        }
    }

    /// The layout written out byte by byte, independently of `zip_key`.
    #[test]
    fn zip_layout_is_as_documented() {
        let entries = [entry("a", 0o100644, b"x"), entry("b/c", 0o100755, b"")];
        let mut stream = Vec::new();
        stream.extend_from_slice(&KEY_FORMAT_VERSION.to_le_bytes());
        stream.extend_from_slice(&3u64.to_le_bytes());
        stream.extend_from_slice(b"zip");
        for (name, mode, content) in [("a", 0o100644u32, &b"x"[..]), ("b/c", 0o100755, b"")] {
            stream.extend_from_slice(&(name.len() as u64).to_le_bytes());
            stream.extend_from_slice(name.as_bytes());
            stream.extend_from_slice(&mode.to_le_bytes());
            stream.extend_from_slice(&(content.len() as u64).to_le_bytes());
            stream.extend_from_slice(blake3::hash(content).as_bytes());
        }
        assert_eq!(
            zip_key(&entries),
            blake3::hash(&stream).to_hex().to_string()
        );
    }

    #[test]
    fn raw_layout_is_as_documented() {
        let mut hasher = raw_start(2);
        hasher.update(b"hi");
        let mut stream = Vec::new();
        stream.extend_from_slice(&KEY_FORMAT_VERSION.to_le_bytes());
        stream.extend_from_slice(&3u64.to_le_bytes());
        stream.extend_from_slice(b"raw");
        stream.extend_from_slice(&2u64.to_le_bytes());
        stream.extend_from_slice(b"hi");
        assert_eq!(hasher.finalize(), blake3::hash(&stream));
    }

    #[test]
    fn records_are_unambiguous() {
        // Same concatenated bytes, split differently between name and content.
        let a = [entry("ab", 0o100644, b"c")];
        let b = [entry("a", 0o100644, b"bc")];
        assert_ne!(zip_key(&a), zip_key(&b));
        // Moving a file boundary changes the key too.
        let c = [entry("a", 0o100644, b"x"), entry("b", 0o100644, b"y")];
        let d = [entry("a", 0o100644, b"xy"), entry("b", 0o100644, b"")];
        assert_ne!(zip_key(&c), zip_key(&d));
    }
}
