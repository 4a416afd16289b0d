//! Is a file already a zip archive? (SPEC §2.3 [rec])
//!
//! Yes when it starts with a local file header or an end-of-central-directory signature
//! (`PK\x03\x04`, `PK\x05\x06`) and has a readable end-of-central-directory record within the
//! last 64 KiB + 22 bytes: signature, a comment that fits in the file, and a central directory
//! that lies before the record (or a ZIP64 locator right before it). `.jar` files count.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const LFH_SIG: &[u8; 4] = b"PK\x03\x04";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const EOCD_LEN: usize = 22;
const MAX_COMMENT: usize = 0xFFFF;

pub(crate) fn is_zip_archive(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < EOCD_LEN as u64 {
        return Ok(false);
    }
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)?;
    if &magic != LFH_SIG && &magic != EOCD_SIG {
        return Ok(false);
    }
    let tail_len = len.min((EOCD_LEN + MAX_COMMENT) as u64);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    Ok(has_eocd(&tail, len))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// `tail` = the last bytes of a file of `file_len` bytes (at least [`EOCD_LEN`] of them).
fn has_eocd(tail: &[u8], file_len: u64) -> bool {
    let base = file_len - tail.len() as u64;
    (0..=tail.len() - EOCD_LEN).rev().any(|at| {
        if &tail[at..at + 4] != EOCD_SIG {
            return false;
        }
        let comment_len = usize::from(u16_at(tail, at + 20));
        if at + EOCD_LEN + comment_len > tail.len() {
            return false;
        }
        let cd_size = u32_at(tail, at + 12);
        let cd_offset = u32_at(tail, at + 16);
        if cd_size == u32::MAX || cd_offset == u32::MAX {
            at >= 20 && &tail[at - 20..at - 16] == ZIP64_LOCATOR_SIG
        } else {
            u64::from(cd_offset) + u64::from(cd_size) <= base + at as u64
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eocd(cd_size: u32, cd_offset: u32, comment: &[u8]) -> Vec<u8> {
        let mut v = EOCD_SIG.to_vec();
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&cd_size.to_le_bytes());
        v.extend_from_slice(&cd_offset.to_le_bytes());
        v.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        v.extend_from_slice(comment);
        v
    }

    #[test]
    fn empty_archive_is_a_zip() {
        let data = eocd(0, 0, b"");
        assert!(has_eocd(&data, data.len() as u64));
    }

    #[test]
    fn comment_must_fit() {
        let mut data = eocd(0, 0, b"hello");
        assert!(has_eocd(&data, data.len() as u64));
        data.truncate(data.len() - 1);
        assert!(!has_eocd(&data, data.len() as u64));
    }

    #[test]
    fn central_directory_must_precede_the_record() {
        let mut data = vec![0u8; 100];
        data.extend(eocd(40, 60, b""));
        assert!(has_eocd(&data, data.len() as u64));
        let mut data = vec![0u8; 100];
        data.extend(eocd(40, 61, b""));
        assert!(!has_eocd(&data, data.len() as u64));
    }

    #[test]
    fn zip64_needs_its_locator() {
        let mut data = vec![0u8; 40];
        data.extend(eocd(u32::MAX, u32::MAX, b""));
        assert!(!has_eocd(&data, data.len() as u64));
        data[20..24].copy_from_slice(ZIP64_LOCATOR_SIG);
        assert!(has_eocd(&data, data.len() as u64));
    }
}
