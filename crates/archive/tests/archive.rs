//! Behaviour of scan + build on real trees, read back with an independent zip reader.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use archive::{ArchiveError, Built, KEY_FORMAT_VERSION, Packing, Policy, Source};

// ---------------------------------------------------------------- helpers

/// Creates `files` (relative path, content, permission bits) under `dir`.
fn write_tree(dir: &Path, files: &[(&str, &[u8], u32)]) {
    for (name, content, perm) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(*perm)).unwrap();
    }
}

fn sample_files() -> Vec<(&'static str, &'static [u8], u32)> {
    vec![
        (
            "index.js",
            b"exports.handler = function(event, context) {}\n",
            0o644,
        ),
        ("bin/run.sh", b"#!/bin/sh\necho hi\n", 0o755),
        ("lib/deep/secret.txt", b"only me\n", 0o600),
        ("lib/util.js", b"module.exports = 42;\n", 0o644),
    ]
}

struct Fixture {
    /// Boundary (workspace root) holding the artifact folder `art`.
    ws: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[(&str, &[u8], u32)]) -> Fixture {
        let ws = tempfile::tempdir().unwrap();
        fs::create_dir(ws.path().join("art")).unwrap();
        write_tree(&ws.path().join("art"), files);
        Fixture { ws }
    }
    fn art(&self) -> PathBuf {
        self.ws.path().join("art")
    }
    fn policy(&self) -> Policy {
        Policy {
            boundary: self.ws.path().to_path_buf(),
            ignore_file: None,
        }
    }
    async fn scan(&self, path: &Path, force_zip: bool) -> Result<Source, ArchiveError> {
        Source::scan(path, force_zip, &self.policy()).await
    }
}

async fn scan_build(path: &Path, policy: &Policy) -> (Source, Built, Vec<u8>) {
    let source = Source::scan(path, true, policy).await.unwrap();
    let temp = std::env::temp_dir();
    let built = source.build(&temp, None).await.unwrap();
    let bytes = fs::read(&built.path).unwrap();
    assert_eq!(bytes.len() as u64, built.size);
    // The SHA-256 computed while writing is that of the bytes on disk (Lambda's CodeSha256).
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
    assert_eq!(built.sha256, Some(digest));
    (source, built, bytes)
}

#[derive(Debug, PartialEq)]
struct ReadEntry {
    name: String,
    mode: u32,
    content: Vec<u8>,
}

/// Reads a zip with the `zip` crate (checks CRCs while reading).
fn read_zip(bytes: &[u8]) -> Vec<ReadEntry> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        assert!(!file.is_dir(), "directory entry {:?}", file.name());
        assert_eq!(file.system(), zip::System::Unix);
        let time = file.last_modified().unwrap();
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            ),
            (1980, 1, 1, 0, 0, 0)
        );
        assert!(
            matches!(
                file.compression(),
                zip::CompressionMethod::Deflated | zip::CompressionMethod::Stored
            ),
            "{:?}",
            file.compression()
        );
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        out.push(ReadEntry {
            name: file.name().unwrap().into_owned(),
            mode: file.unix_mode().unwrap(),
            content,
        });
    }
    out
}

/// Entry names and compression methods.
fn methods(bytes: &[u8]) -> Vec<(String, zip::CompressionMethod)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let file = zip.by_index(i).unwrap();
            (file.name().unwrap().into_owned(), file.compression())
        })
        .collect()
}

/// Deterministic pseudo-random bytes (BLAKE3 in XOF mode).
fn random_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Central directory records, parsed by hand: (name, version made by, extra length, external
/// attributes, dos time, dos date). Only for archives without ZIP64 records.
fn central_directory(bytes: &[u8]) -> Vec<(String, u16, u16, u32, u16, u16)> {
    let eocd = bytes.len() - 22;
    assert_eq!(&bytes[eocd..eocd + 4], b"PK\x05\x06");
    let count = u16_at(bytes, eocd + 10) as usize;
    let mut at = u32_at(bytes, eocd + 16) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(&bytes[at..at + 4], b"PK\x01\x02");
        let name_len = u16_at(bytes, at + 28) as usize;
        let extra_len = u16_at(bytes, at + 30);
        let comment_len = u16_at(bytes, at + 32) as usize;
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        out.push((
            name,
            u16_at(bytes, at + 4),
            extra_len,
            u32_at(bytes, at + 38),
            u16_at(bytes, at + 12),
            u16_at(bytes, at + 14),
        ));
        at += 46 + name_len + extra_len as usize + comment_len;
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap(); // copies permission bits, not mtimes
        }
    }
}

fn touch_all(dir: &Path, when: SystemTime) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }
}

// ---------------------------------------------------------------- zip content

#[tokio::test]
async fn zip_reads_back_as_the_folder() {
    let fx = Fixture::new(&sample_files());
    let (source, built, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    assert_eq!(source.packing, Packing::Zip);
    assert_eq!(built.content_type, "application/zip");
    assert_ne!(built.path, fx.art());
    let entries = read_zip(&bytes);
    let expected = vec![
        ReadEntry {
            name: "bin/run.sh".into(),
            mode: 0o100755,
            content: b"#!/bin/sh\necho hi\n".to_vec(),
        },
        ReadEntry {
            name: "index.js".into(),
            mode: 0o100644,
            content: b"exports.handler = function(event, context) {}\n".to_vec(),
        },
        // 0600 becomes 0644: always world-readable.
        ReadEntry {
            name: "lib/deep/secret.txt".into(),
            mode: 0o100644,
            content: b"only me\n".to_vec(),
        },
        ReadEntry {
            name: "lib/util.js".into(),
            mode: 0o100644,
            content: b"module.exports = 42;\n".to_vec(),
        },
    ];
    assert_eq!(entries, expected);
    // Text is deflated.
    assert!(
        methods(&bytes)
            .iter()
            .all(|(_, method)| *method == zip::CompressionMethod::Deflated)
    );
    // Source entries describe the same archive.
    let names: Vec<_> = source.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin/run.sh",
            "index.js",
            "lib/deep/secret.txt",
            "lib/util.js"
        ]
    );
    assert_eq!(
        source.content_bytes,
        expected.iter().map(|e| e.content.len() as u64).sum::<u64>()
    );
    // Raw header fields: Unix host, no extra fields, fixed DOS time, mode << 16.
    for (name, made_by, extra, attrs, time, date) in central_directory(&bytes) {
        assert_eq!(made_by >> 8, 3, "{name}: version made by must be Unix");
        assert_eq!(extra, 0, "{name}: no extra fields");
        assert_eq!((time, date), (0, (1 << 5) | 1), "{name}: 1980-01-01 00:00");
        let mode = expected.iter().find(|e| e.name == name).unwrap().mode;
        assert_eq!(attrs, mode << 16, "{name}");
    }
}

#[tokio::test]
async fn built_zip_is_removed_on_drop() {
    let fx = Fixture::new(&sample_files());
    let (_, built, _) = scan_build(&fx.art(), &fx.policy()).await;
    let path = built.path.clone();
    assert!(path.exists());
    drop(built);
    assert!(!path.exists());
}

#[tokio::test]
async fn entries_sorted_by_byte_order_of_full_name() {
    let fx = Fixture::new(&[
        ("a/b", b"1", 0o644),
        ("a.txt", b"2", 0o644),
        ("B", b"3", 0o644),
        ("a-", b"4", 0o644),
        ("a/a/z", b"5", 0o644),
    ]);
    let (source, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let names: Vec<_> = read_zip(&bytes).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["B", "a-", "a.txt", "a/a/z", "a/b"]);
    let scanned: Vec<_> = source.entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(scanned, names);
}

#[tokio::test]
async fn names_with_spaces_and_unicode() {
    let fx = Fixture::new(&[
        ("my file.txt", b"a", 0o644),
        ("données/été ☀.json", b"{}", 0o644),
    ]);
    let (_, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let names: Vec<_> = read_zip(&bytes).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["données/été ☀.json", "my file.txt"]);
}

#[tokio::test]
async fn non_utf8_name_is_an_error() {
    let fx = Fixture::new(&[("ok.txt", b"a", 0o644)]);
    let bad = fx.art().join(std::ffi::OsStr::from_bytes(b"bad\xff.txt"));
    fs::write(&bad, b"x").unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::NonUtf8Name { path }) => assert_eq!(path, bad),
        other => panic!("expected NonUtf8Name, got {other:?}"),
    }
}

#[tokio::test]
async fn large_file_is_streamed_and_reads_back() {
    // Above the whole-file limit (4 MiB): exercises the streamed entry path.
    let big: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let fx = Fixture::new(&[
        ("a-small.txt", b"small", 0o644),
        ("big.bin", &big, 0o755),
        ("z.txt", b"z", 0o644),
    ]);
    let (source, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    assert_eq!(source.content_bytes, big.len() as u64 + 6);
    let entries = read_zip(&bytes);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].name, "big.bin");
    assert_eq!(entries[1].mode, 0o100755);
    assert!(entries[1].content == big);
    assert_eq!(entries[2].content, b"z");
    // Still deterministic.
    let (_, _, again) = scan_build(&fx.art(), &fx.policy()).await;
    assert!(again == bytes);
}

#[tokio::test]
async fn incompressible_small_files_are_stored_the_rest_deflated() {
    use zip::CompressionMethod::{Deflated, Stored};
    let random = random_bytes("random", 40_000);
    let mut twice = random_bytes("twice", 8_000);
    twice.extend_from_within(..);
    let table: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    let text: Vec<u8> = (0..2_000)
        .flat_map(|i| format!("exports.f{i} = function(x) {{ return x + {i}; }};\n").into_bytes())
        .collect();
    // Above the whole-file limit: judged by the scan's samples, stored too.
    let big = random_bytes("big", 5 * 1024 * 1024);
    let fx = Fixture::new(&[
        ("a-random.bin", &random, 0o644),
        ("b-random-twice.bin", &twice, 0o644),
        ("c-byte-table.bin", &table, 0o644),
        ("d-text.js", &text, 0o644),
        ("e-tiny-random.bin", &random[..1000], 0o644),
        ("f-big-random.bin", &big, 0o644),
    ]);
    let (_, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    assert_eq!(
        methods(&bytes),
        [
            ("a-random.bin", Stored),
            // Uniform bytes, but repeated: DEFLATE halves it.
            ("b-random-twice.bin", Deflated),
            ("c-byte-table.bin", Deflated),
            ("d-text.js", Deflated),
            // Below 1 KiB: always deflated.
            ("e-tiny-random.bin", Deflated),
            ("f-big-random.bin", Stored),
        ]
        .map(|(name, method)| (name.to_owned(), method))
    );
    let entries = read_zip(&bytes);
    let contents: Vec<&[u8]> = entries.iter().map(|e| e.content.as_slice()).collect();
    assert_eq!(
        contents,
        [
            &random[..],
            &twice[..],
            &table[..],
            &text[..],
            &random[..1000],
            &big[..]
        ]
    );
    // The stored entry is the file's bytes, verbatim, right after its local header.
    let at = bytes
        .windows(random.len())
        .position(|w| w == random.as_slice());
    assert!(at.is_some(), "stored bytes not found verbatim");
    // Deterministic, and pinned: the DEFLATE level and the store decision are part of the
    // bytes a key names (changing either means bumping KEY_FORMAT_VERSION).
    let (_, _, again) = scan_build(&fx.art(), &fx.policy()).await;
    assert!(again == bytes);
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        "f10e43ff5be4912fdb6b834efff1b39b032a70c5acc51f3087492d7a4bd3f4c7"
    );
}

/// Local headers, walked from the start: (name, flags, method, crc, compressed, uncompressed)
/// as the local header says them (sizes from a ZIP64 extra field when it holds them).
fn local_headers(bytes: &[u8]) -> Vec<(String, u16, u16, u32, u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes[at..].starts_with(b"PK\x03\x04") {
        let flags = u16_at(bytes, at + 6);
        let method = u16_at(bytes, at + 8);
        let crc = u32_at(bytes, at + 14);
        let mut compressed = u64::from(u32_at(bytes, at + 18));
        let mut uncompressed = u64::from(u32_at(bytes, at + 22));
        let name_len = u16_at(bytes, at + 26) as usize;
        let extra_len = u16_at(bytes, at + 28) as usize;
        let name = String::from_utf8(bytes[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let extra = &bytes[at + 30 + name_len..at + 30 + name_len + extra_len];
        if extra.len() >= 20 && u16_at(extra, 0) == 1 {
            uncompressed = u64::from_le_bytes(extra[4..12].try_into().unwrap());
            compressed = u64::from_le_bytes(extra[12..20].try_into().unwrap());
        }
        at += 30 + name_len + extra_len;
        if flags & 8 == 0 {
            at += compressed as usize;
        } else {
            // Find the data descriptor through the central directory's size instead.
            let cd = central_sizes(bytes);
            let (_, csize) = cd.iter().find(|(n, _)| *n == name).unwrap();
            at += *csize as usize;
            assert_eq!(
                &bytes[at..at + 4],
                b"PK\x07\x08",
                "data descriptor of {name}"
            );
            at += 16;
        }
        out.push((name, flags, method, crc, compressed, uncompressed));
    }
    out
}

/// (name, compressed size) of every central directory record (no ZIP64 values).
fn central_sizes(bytes: &[u8]) -> Vec<(String, u64)> {
    let eocd = bytes.len() - 22;
    let count = u16_at(bytes, eocd + 10) as usize;
    let mut at = u32_at(bytes, eocd + 16) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let name_len = u16_at(bytes, at + 28) as usize;
        let extra_len = u16_at(bytes, at + 30) as usize;
        let comment_len = u16_at(bytes, at + 32) as usize;
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        out.push((name, u64::from(u32_at(bytes, at + 20))));
        at += 46 + name_len + extra_len + comment_len;
    }
    out
}

/// Runs a reader of another implementation over `zip`; it prints `name size sha256` per entry
/// (twice for Java: through `ZipInputStream`, then `ZipFile`). A missing tool is a failure
/// (CI installs them: `.ci/run`), not a skip.
fn other_reader(program: &str, args: &[&str], zip: &Path) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .arg(zip)
        .output()
        .unwrap_or_else(|e| panic!("{program} (needed by this test; see .ci/run): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PYTHON_READER: &str = r#"
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    for info in z.infolist():
        data = z.read(info)
        print(info.filename, len(data), hashlib.sha256(data).hexdigest())
"#;

const JAVA_READER: &str = r#"
import java.io.*;
import java.security.MessageDigest;
import java.util.Enumeration;
import java.util.zip.*;

public class Read {
    static String line(String name, InputStream in) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[65536];
        long n = 0;
        int r;
        while ((r = in.read(buf)) > 0) { md.update(buf, 0, r); n += r; }
        StringBuilder hex = new StringBuilder();
        for (byte b : md.digest()) hex.append(String.format("%02x", b));
        return name + " " + n + " " + hex;
    }
    public static void main(String[] args) throws Exception {
        try (ZipInputStream z = new ZipInputStream(new FileInputStream(args[0]))) {
            ZipEntry e;
            while ((e = z.getNextEntry()) != null) System.out.println(line(e.getName(), z));
        }
        try (ZipFile f = new ZipFile(args[0])) {
            for (Enumeration<? extends ZipEntry> en = f.entries(); en.hasMoreElements();) {
                ZipEntry e = en.nextElement();
                try (InputStream in = f.getInputStream(e)) { System.out.println(line(e.getName(), in)); }
            }
        }
    }
}
"#;

#[tokio::test]
async fn big_incompressible_file_is_stored_with_its_crc_up_front() {
    use sha2::Digest;
    // Above the whole-file limit (4 MiB): one random (stored), one text (deflated, streamed).
    let random = random_bytes("big random", 6_000_000);
    let text: Vec<u8> = (0..120_000)
        .flat_map(|i| format!("exports.f{i} = function(x) {{ return x * {i}; }};\n").into_bytes())
        .collect();
    assert!(text.len() > 5 * 1024 * 1024);
    let files: [(&str, &[u8], u32); 3] = [
        ("a-random.bin", &random, 0o644),
        ("b-text.js", &text, 0o644),
        ("bootstrap", b"#!/bin/sh\nexec ./a-random.bin\n", 0o755),
    ];
    let fx = Fixture::new(&files);
    let (_, built, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let headers = local_headers(&bytes);
    let summary: Vec<(&str, u16, u16)> = headers
        .iter()
        .map(|(name, flags, method, ..)| (name.as_str(), flags & 8, *method))
        .collect();
    // Stored with no data descriptor (bit 3 clear); the text deflated with one.
    assert_eq!(
        summary,
        [
            ("a-random.bin", 0, 0),
            ("b-text.js", 8, 8),
            ("bootstrap", 0, 8)
        ]
    );
    let (_, _, _, crc, compressed, uncompressed) = &headers[0];
    assert_eq!((*compressed, *uncompressed), (6_000_000, 6_000_000));
    // The CRC in the local header is the content's (the zip crate checks it against the data).
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    assert_eq!(zip.by_index(0).unwrap().crc32(), *crc);
    assert!(bytes.len() < random.len() + text.len() / 4);
    assert!(
        read_zip(&bytes)
            .iter()
            .map(|e| &e.content[..])
            .eq(files.iter().map(|f| f.1))
    );

    // Other readers: Python's zipfile, Info-ZIP unzip, Java's ZipInputStream and ZipFile.
    let expected: String = files
        .iter()
        .map(|(name, content, _)| {
            let digest = sha2::Sha256::digest(content);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{name} {} {hex}\n", content.len())
        })
        .collect();
    assert_eq!(
        other_reader("python3", &["-c", PYTHON_READER], &built.path),
        expected
    );
    let unzip = other_reader("unzip", &["-t"], &built.path);
    assert!(unzip.contains("No errors detected"), "{unzip}");
    let java_dir = tempfile::tempdir().unwrap();
    let java = java_dir.path().join("Read.java");
    fs::write(&java, JAVA_READER).unwrap();
    assert_eq!(
        other_reader("java", &[java.to_str().unwrap()], &built.path),
        format!("{expected}{expected}")
    );

    // Deterministic, and pinned: the big text is deflated in independent 1 MiB blocks, so
    // its bytes do not depend on the number of threads (changing the block size, the backend
    // or its level means bumping KEY_FORMAT_VERSION).
    let (_, _, again) = scan_build(&fx.art(), &fx.policy()).await;
    assert!(again == bytes);
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        "4d9eda65957f5849b647975db8ae19e1a47907820ac85336b573143c4bb396c5"
    );

    // The deflated big file changed between scan and build, or shrank: an error.
    for now in [
        [&text[..5_000_000], b"X", &text[5_000_001..]].concat(),
        text[..5 * 1024 * 1024].to_vec(),
    ] {
        let source = fx.scan(&fx.art(), true).await.unwrap();
        fs::write(fx.art().join("b-text.js"), &now).unwrap();
        let temp = tempfile::tempdir().unwrap();
        match source.build(temp.path(), None).await {
            Err(ArchiveError::Changed { path }) => assert!(path.ends_with("b-text.js"), "{path:?}"),
            other => panic!("expected Changed, got {other:?}"),
        }
        assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
        fs::write(fx.art().join("b-text.js"), &text).unwrap();
    }

    // Changed between scan and build (same size): an error, not a zip with a wrong CRC.
    let source = fx.scan(&fx.art(), true).await.unwrap();
    let mut changed = random.clone();
    changed[5_000_000] ^= 1;
    fs::write(fx.art().join("a-random.bin"), &changed).unwrap();
    let temp = tempfile::tempdir().unwrap();
    match source.build(temp.path(), None).await {
        Err(ArchiveError::Changed { path }) => assert!(path.ends_with("a-random.bin"), "{path:?}"),
        other => panic!("expected Changed, got {other:?}"),
    }
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
    // Grown.
    let source = fx.scan(&fx.art(), true).await.unwrap();
    changed.push(0);
    fs::write(fx.art().join("a-random.bin"), &changed).unwrap();
    assert!(matches!(
        source.build(temp.path(), None).await,
        Err(ArchiveError::Changed { .. })
    ));
}

// ---------------------------------------------------------------- determinism and key

#[tokio::test]
async fn two_builds_are_identical() {
    let fx = Fixture::new(&sample_files());
    let (a, _, bytes_a) = scan_build(&fx.art(), &fx.policy()).await;
    let (b, _, bytes_b) = scan_build(&fx.art(), &fx.policy()).await;
    assert_eq!(a.key, b.key);
    assert_eq!(bytes_a, bytes_b);
}

#[tokio::test]
async fn mtimes_do_not_matter() {
    let fx = Fixture::new(&sample_files());
    let (a, _, bytes_a) = scan_build(&fx.art(), &fx.policy()).await;
    touch_all(&fx.art(), SystemTime::now() + Duration::from_secs(3600));
    let (b, _, bytes_b) = scan_build(&fx.art(), &fx.policy()).await;
    touch_all(&fx.art(), SystemTime::UNIX_EPOCH + Duration::from_secs(100)); // before 1980
    let (c, _, bytes_c) = scan_build(&fx.art(), &fx.policy()).await;
    assert_eq!(a.key, b.key);
    assert_eq!(a.key, c.key);
    assert_eq!(bytes_a, bytes_b);
    assert_eq!(bytes_a, bytes_c);
}

#[tokio::test]
async fn copy_elsewhere_has_same_key_and_bytes() {
    let fx = Fixture::new(&sample_files());
    let (a, _, bytes_a) = scan_build(&fx.art(), &fx.policy()).await;
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("somewhere/else");
    copy_tree(&fx.art(), &copy);
    let (b, _, bytes_b) = scan_build(
        &copy,
        &Policy {
            boundary: other.path().to_path_buf(),
            ignore_file: None,
        },
    )
    .await;
    assert_eq!(a.key, b.key);
    assert_eq!(bytes_a, bytes_b);
}

#[tokio::test]
async fn key_changes_with_content_name_and_mode() {
    let fx = Fixture::new(&sample_files());
    let base = fx.scan(&fx.art(), true).await.unwrap().key;
    assert_eq!(base.len(), 64);
    assert!(
        base.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    // One changed byte (same size).
    fs::write(fx.art().join("lib/util.js"), b"module.exports = 43;\n").unwrap();
    let changed = fx.scan(&fx.art(), true).await.unwrap().key;
    assert_ne!(changed, base);
    fs::write(fx.art().join("lib/util.js"), b"module.exports = 42;\n").unwrap();
    assert_eq!(fx.scan(&fx.art(), true).await.unwrap().key, base);

    // Renamed file.
    fs::rename(fx.art().join("lib/util.js"), fx.art().join("lib/utils.js")).unwrap();
    assert_ne!(fx.scan(&fx.art(), true).await.unwrap().key, base);
    fs::rename(fx.art().join("lib/utils.js"), fx.art().join("lib/util.js")).unwrap();
    assert_eq!(fx.scan(&fx.art(), true).await.unwrap().key, base);

    // chmod +x.
    fs::set_permissions(fx.art().join("index.js"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(fx.scan(&fx.art(), true).await.unwrap().key, base);
    // 0644 and 0600 normalize to the same mode.
    fs::set_permissions(fx.art().join("index.js"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(fx.scan(&fx.art(), true).await.unwrap().key, base);
}

#[tokio::test]
async fn moving_bytes_between_files_changes_the_key() {
    let a = Fixture::new(&[("a", b"xy", 0o644), ("b", b"", 0o644)]);
    let b = Fixture::new(&[("a", b"x", 0o644), ("b", b"y", 0o644)]);
    assert_ne!(
        a.scan(&a.art(), true).await.unwrap().key,
        b.scan(&b.art(), true).await.unwrap().key
    );
}

/// Pinned values: a change here changes every key (or every zip) users have uploaded.
/// Bump KEY_FORMAT_VERSION when the key inputs change on purpose.
#[tokio::test]
async fn key_and_zip_test_vectors() {
    assert_eq!(KEY_FORMAT_VERSION, 5);
    let fx = Fixture::new(&[
        (
            "index.js",
            b"exports.handler = function(event, context) {}",
            0o644,
        ),
        ("bin/run", b"#!/bin/sh\n", 0o755),
    ]);
    let (source, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    // The documented layout, spelled out: u32 version, str kind, then per entry in byte order
    // of names: str name, u32 mode, u64 length, BLAKE3(content). (str = u64 length + bytes.)
    let mut stream = Vec::new();
    stream.extend_from_slice(&5u32.to_le_bytes());
    stream.extend_from_slice(&3u64.to_le_bytes());
    stream.extend_from_slice(b"zip");
    let files: [(&str, u32, &[u8]); 2] = [
        ("bin/run", 0o100755, b"#!/bin/sh\n"),
        (
            "index.js",
            0o100644,
            b"exports.handler = function(event, context) {}",
        ),
    ];
    for (name, mode, content) in files {
        stream.extend_from_slice(&(name.len() as u64).to_le_bytes());
        stream.extend_from_slice(name.as_bytes());
        stream.extend_from_slice(&mode.to_le_bytes());
        stream.extend_from_slice(&(content.len() as u64).to_le_bytes());
        stream.extend_from_slice(blake3::hash(content).as_bytes());
    }
    assert_eq!(source.key, blake3::hash(&stream).to_hex().as_str());
    assert_eq!(
        source.key,
        "cbfca712e30ef08fad5f8285336a69246fa7130321ba8f16272df04c4564caf9"
    );
    // The zip bytes themselves are pinned too: catches a change of DEFLATE backend or of its
    // version (libdeflate's output changes between versions; flate2 switched to a C zlib by
    // feature unification) or of the header layout. (These
    // files are too small for the level to matter: the pinned zip of
    // `incompressible_small_files_are_stored_the_rest_deflated` catches a level change.)
    assert_eq!(
        blake3::hash(&bytes).to_hex().as_str(),
        "238edf0d0f0466e23918946f4febb235e1a48e119343481718a08739101cc583"
    );

    // Raw: version, "raw", length, content.
    let file = fx.art().join("index.js");
    let raw = fx.scan(&file, false).await.unwrap();
    assert_eq!(raw.packing, Packing::Raw);
    let content = b"exports.handler = function(event, context) {}";
    let mut stream = Vec::new();
    stream.extend_from_slice(&5u32.to_le_bytes());
    stream.extend_from_slice(&3u64.to_le_bytes());
    stream.extend_from_slice(b"raw");
    stream.extend_from_slice(&(content.len() as u64).to_le_bytes());
    stream.extend_from_slice(content);
    assert_eq!(raw.key, blake3::hash(&stream).to_hex().as_str());
    assert_eq!(
        raw.key,
        "84ab9b59e0b3e2415183b44f33b96b5693c4092681cbbebb33917b1c90ab1b6e"
    );
}

// ---------------------------------------------------------------- single files

#[tokio::test]
async fn force_zip_single_file_uses_base_name_and_keeps_mode() {
    let fx = Fixture::new(&[("handler.py", b"def handler(e, c):\n    pass\n", 0o750)]);
    let file = fx.art().join("handler.py");
    let (source, built, bytes) = scan_build(&file, &fx.policy()).await;
    assert_eq!(source.packing, Packing::Zip);
    assert_eq!(built.content_type, "application/zip");
    assert_eq!(
        read_zip(&bytes),
        vec![ReadEntry {
            name: "handler.py".into(),
            mode: 0o100754,
            content: b"def handler(e, c):\n    pass\n".to_vec()
        }]
    );
    // The key does not depend on where the file lives.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("handler.py");
    fs::copy(&file, &copy).unwrap();
    let copied = Source::scan(
        &copy,
        true,
        &Policy {
            boundary: other.path().to_path_buf(),
            ignore_file: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(copied.key, source.key);
}

#[tokio::test]
async fn existing_zip_under_force_zip_is_raw() {
    let fx = Fixture::new(&sample_files());
    let (_, built, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let jar = fx.ws.path().join("code.jar");
    fs::copy(&built.path, &jar).unwrap();
    let source = fx.scan(&jar, true).await.unwrap();
    assert_eq!(source.packing, Packing::Raw);
    assert_eq!(source.content_bytes, bytes.len() as u64);
    let raw = source
        .build(Path::new("/nonexistent-temp-dir"), None)
        .await
        .unwrap();
    assert_eq!(raw.path, jar);
    assert_eq!(raw.size, bytes.len() as u64);
    assert_eq!(raw.content_type, "application/zip");
    drop(raw);
    assert!(jar.exists(), "a raw artifact is never deleted");

    // PK magic without a central directory is not a zip: it gets wrapped.
    let fake = fx.ws.path().join("fake.zip");
    fs::write(&fake, b"PK\x03\x04 not really a zip archive, no end record").unwrap();
    assert_eq!(fx.scan(&fake, true).await.unwrap().packing, Packing::Zip);
}

#[tokio::test]
async fn plain_file_without_force_zip_is_raw() {
    let fx = Fixture::new(&[
        ("template.yaml", b"Resources: {}\n", 0o644),
        ("data.json", b"{}", 0o600),
    ]);
    let yaml = fx.art().join("template.yaml");
    let source = fx.scan(&yaml, false).await.unwrap();
    assert_eq!(source.packing, Packing::Raw);
    assert_eq!(source.content_bytes, 14);
    let built = source
        .build(Path::new("/nonexistent-temp-dir"), None)
        .await
        .unwrap();
    assert_eq!(
        (built.path.as_path(), built.size, built.content_type),
        (yaml.as_path(), 14, "application/x-yaml")
    );
    let json = fx.scan(&fx.art().join("data.json"), false).await.unwrap();
    assert_eq!(
        json.build(Path::new("/"), None).await.unwrap().content_type,
        "application/json"
    );

    // Raw keys ignore name and mode, only the uploaded bytes matter.
    let other = fx.ws.path().join("other.bin");
    fs::write(&other, b"Resources: {}\n").unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).unwrap();
    let other = fx.scan(&other, false).await.unwrap();
    assert_eq!(other.key, source.key);
    assert_eq!(
        other
            .build(Path::new("/"), None)
            .await
            .unwrap()
            .content_type,
        "application/octet-stream"
    );
    // And a raw file's key differs from the zip of the same file.
    assert_ne!(fx.scan(&yaml, true).await.unwrap().key, source.key);
}

// ---------------------------------------------------------------- changes between scan and build

#[tokio::test]
async fn build_fails_when_a_file_changed_since_scan() {
    let fx = Fixture::new(&sample_files());
    let source = fx.scan(&fx.art(), true).await.unwrap();
    // Same size, different content.
    fs::write(fx.art().join("lib/util.js"), b"module.exports = 43;\n").unwrap();
    match source.build(&std::env::temp_dir(), None).await {
        Err(ArchiveError::Changed { path }) => assert!(path.ends_with("lib/util.js"), "{path:?}"),
        other => panic!("expected Changed, got {other:?}"),
    }
    // Different size.
    let source = fx.scan(&fx.art(), true).await.unwrap();
    fs::write(fx.art().join("index.js"), b"shorter").unwrap();
    assert!(matches!(
        source.build(&std::env::temp_dir(), None).await,
        Err(ArchiveError::Changed { .. })
    ));
    // Raw file: size checked.
    let file = fx.art().join("lib/util.js");
    let raw = fx.scan(&file, false).await.unwrap();
    fs::write(&file, b"longer than before, surely").unwrap();
    assert!(matches!(
        raw.build(Path::new("/"), None).await,
        Err(ArchiveError::Changed { .. })
    ));
}

#[tokio::test]
async fn failed_build_leaves_no_temp_file() {
    let fx = Fixture::new(&sample_files());
    let temp = tempfile::tempdir().unwrap();
    let source = fx.scan(&fx.art(), true).await.unwrap();
    fs::write(fx.art().join("lib/util.js"), b"module.exports = 43;\n").unwrap();
    assert!(source.build(temp.path(), None).await.is_err());
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------- symlinks and special files

#[tokio::test]
async fn symlinked_file_inside_boundary_is_stored_as_content() {
    let fx = Fixture::new(&[("real.txt", b"real content", 0o755)]);
    fs::write(fx.ws.path().join("shared.txt"), b"shared").unwrap(); // outside art, inside ws
    symlink("real.txt", fx.art().join("alias.txt")).unwrap();
    symlink("../shared.txt", fx.art().join("shared.txt")).unwrap();
    let (source, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let entries = read_zip(&bytes);
    assert_eq!(
        entries,
        vec![
            ReadEntry {
                name: "alias.txt".into(),
                mode: 0o100755,
                content: b"real content".to_vec()
            },
            ReadEntry {
                name: "real.txt".into(),
                mode: 0o100755,
                content: b"real content".to_vec()
            },
            ReadEntry {
                name: "shared.txt".into(),
                mode: 0o100644,
                content: b"shared".to_vec()
            },
        ]
    );
    // Entry paths are resolved.
    let shared = source
        .entries
        .iter()
        .find(|e| e.name == "shared.txt")
        .unwrap();
    assert_eq!(
        shared.path,
        fs::canonicalize(fx.ws.path().join("shared.txt")).unwrap()
    );
}

#[tokio::test]
async fn symlinked_folder_inside_boundary_is_followed() {
    let fx = Fixture::new(&[("main.py", b"import lib", 0o644)]);
    write_tree(
        &fx.ws.path().join("common"),
        &[
            ("lib/__init__.py", b"x = 1", 0o644),
            ("README", b"r", 0o644),
        ],
    );
    symlink(fx.ws.path().join("common"), fx.art().join("vendor")).unwrap();
    let (_, _, bytes) = scan_build(&fx.art(), &fx.policy()).await;
    let names: Vec<_> = read_zip(&bytes)
        .into_iter()
        .map(|e| (e.name, e.content))
        .collect();
    assert_eq!(
        names,
        vec![
            ("main.py".into(), b"import lib".to_vec()),
            ("vendor/README".into(), b"r".to_vec()),
            ("vendor/lib/__init__.py".into(), b"x = 1".to_vec()),
        ]
    );
}

#[tokio::test]
async fn symlinked_root_is_followed_and_keeps_its_name() {
    let fx = Fixture::new(&[("build/out.py", b"print(1)", 0o644)]);
    let link = fx.art().join("handler.py");
    symlink("build/out.py", &link).unwrap();
    let (_, _, bytes) = scan_build(&link, &fx.policy()).await;
    assert_eq!(read_zip(&bytes)[0].name, "handler.py");
}

#[tokio::test]
async fn symlink_leaving_the_boundary_is_an_error() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("passwd"), b"secret").unwrap();
    let fx = Fixture::new(&[("ok.txt", b"ok", 0o644)]);
    let link = fx.art().join("escape");
    symlink(outside.path().join("passwd"), &link).unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::SymlinkEscapes {
            link: l,
            target,
            boundary,
        }) => {
            assert_eq!(l, link);
            assert_eq!(
                target,
                fs::canonicalize(outside.path().join("passwd")).unwrap()
            );
            assert_eq!(boundary, fx.ws.path());
        }
        other => panic!("expected SymlinkEscapes, got {other:?}"),
    }
    // A directory link leaving it, and a root that is such a link, too.
    fs::remove_file(&link).unwrap();
    symlink(outside.path(), &link).unwrap();
    assert!(matches!(
        fx.scan(&fx.art(), true).await,
        Err(ArchiveError::SymlinkEscapes { .. })
    ));
    assert!(matches!(
        fx.scan(&link, true).await,
        Err(ArchiveError::SymlinkEscapes { .. })
    ));
    // Error message names the link.
    let message = fx.scan(&fx.art(), true).await.unwrap_err().to_string();
    assert!(message.contains(&link.display().to_string()), "{message}");
}

#[tokio::test]
async fn symlink_loops_are_errors() {
    // A directory link to an ancestor.
    let fx = Fixture::new(&[("sub/a.txt", b"a", 0o644)]);
    let link = fx.art().join("sub/up");
    symlink("..", &link).unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::SymlinkLoop { link: l }) => assert_eq!(l, link),
        other => panic!("expected SymlinkLoop, got {other:?}"),
    }
    // Links pointing at each other.
    let fx = Fixture::new(&[("a.txt", b"a", 0o644)]);
    symlink("y", fx.art().join("x")).unwrap();
    symlink("x", fx.art().join("y")).unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::SymlinkLoop { link }) => assert_eq!(link, fx.art().join("x")),
        other => panic!("expected SymlinkLoop, got {other:?}"),
    }
    assert!(matches!(
        fx.scan(&fx.art().join("y"), false).await,
        Err(ArchiveError::SymlinkLoop { .. })
    ));
}

/// The system refuses a chain of more than 40 links with the same error as a loop: a long chain
/// that ends at a file is reported as a chain, not as a loop.
#[tokio::test]
async fn a_long_chain_of_links_is_not_called_a_loop() {
    let fx = Fixture::new(&[("a.txt", b"a", 0o644)]);
    symlink("a.txt", fx.art().join("l0")).unwrap();
    for i in 1..50 {
        symlink(format!("./l{}", i - 1), fx.art().join(format!("l{i}"))).unwrap();
    }
    match fx.scan(&fx.art().join("l49"), false).await {
        Err(e @ ArchiveError::SymlinkChain { links: 50, .. }) => {
            assert!(
                e.to_string().contains("a chain of 50 symbolic links"),
                "{e}"
            );
        }
        other => panic!("expected SymlinkChain of 50 links, got {other:?}"),
    }
    // A loop through `./` spellings is still a loop.
    let fx = Fixture::new(&[("a.txt", b"a", 0o644)]);
    symlink("./q", fx.art().join("p")).unwrap();
    symlink("./p", fx.art().join("q")).unwrap();
    assert!(matches!(
        fx.scan(&fx.art().join("p"), false).await,
        Err(ArchiveError::SymlinkLoop { .. })
    ));
}

#[tokio::test]
async fn fifo_is_a_special_file() {
    let fx = Fixture::new(&[("a.txt", b"a", 0o644)]);
    let fifo = fx.art().join("pipe");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: c_path is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::SpecialFile { path, kind }) => {
            assert_eq!(path, fifo);
            assert_eq!(kind, "FIFO");
        }
        other => panic!("expected SpecialFile, got {other:?}"),
    }
    assert!(matches!(
        fx.scan(&fifo, false).await,
        Err(ArchiveError::SpecialFile { .. })
    ));

    // A socket inside a folder, a device as the artifact itself.
    let fx = Fixture::new(&[("a.txt", b"a", 0o644)]);
    let socket = fx.art().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::SpecialFile { path, kind }) => {
            assert_eq!((path, kind), (socket, "socket"))
        }
        other => panic!("expected SpecialFile, got {other:?}"),
    }
    match fx.scan(Path::new("/dev/null"), true).await {
        Err(ArchiveError::SpecialFile { kind, .. }) => assert_eq!(kind, "character device"),
        other => panic!("expected SpecialFile, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_folder_is_an_error() {
    let fx = Fixture::new(&[]);
    fs::create_dir_all(fx.art().join("only/empty/dirs")).unwrap();
    match fx.scan(&fx.art(), true).await {
        Err(ArchiveError::EmptyFolder { path }) => assert_eq!(path, fx.art()),
        other => panic!("expected EmptyFolder, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_path_is_not_found() {
    let fx = Fixture::new(&[]);
    let missing = fx.art().join("nope");
    match fx.scan(&missing, true).await {
        Err(ArchiveError::NotFound { path }) => assert_eq!(path, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // A dangling link names the link.
    let dangling = fx.art().join("dangling");
    symlink("nope", &dangling).unwrap();
    match fx.scan(&dangling, true).await {
        Err(ArchiveError::NotFound { path }) => assert_eq!(path, dangling),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn the_zip_can_be_read_while_it_is_written() {
    // A stored file and a big deflated one: several MiB, so several reports.
    let random: Vec<Vec<u8>> = (0..5)
        .map(|i| random_bytes(&format!("reported {i}"), 1_100_000))
        .collect();
    let text: Vec<u8> = (0..300_000)
        .flat_map(|i| format!("exports.g{i} = () => {};\n", i % 13).into_bytes())
        .collect();
    assert!(text.len() as u64 > archive::WHOLE_LIMIT);
    let names: Vec<String> = (0..5).map(|i| format!("a{i}.bin")).collect();
    let mut files: Vec<(&str, &[u8], u32)> = names
        .iter()
        .zip(&random)
        .map(|(name, bytes)| (name.as_str(), &bytes[..], 0o644))
        .collect();
    files.push(("b.js", &text, 0o644));
    let fx = Fixture::new(&files);
    let source = fx.scan(&fx.art(), true).await.unwrap();
    // What each report said was written for good, read back at that moment.
    type Seen = Vec<(PathBuf, u64, blake3::Hash)>;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::new()));
    let progress: archive::Progress = {
        let seen = std::sync::Arc::clone(&seen);
        Box::new(move |path, ready| {
            let bytes = fs::read(path).unwrap();
            assert!(bytes.len() as u64 >= ready, "{} < {ready}", bytes.len());
            let prefix = blake3::hash(&bytes[..ready as usize]);
            seen.lock()
                .unwrap()
                .push((path.to_path_buf(), ready, prefix));
        })
    };
    let temp = tempfile::tempdir().unwrap();
    let built = source
        .build_reporting(temp.path(), None, Some(progress))
        .await
        .unwrap();
    let zip = fs::read(&built.path).unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.len() >= 3,
        "{} reports for {} bytes",
        seen.len(),
        zip.len()
    );
    let mut last = 0;
    for (path, ready, prefix) in seen.iter() {
        assert_eq!(path, &built.path);
        assert!(*ready > last, "reports grow");
        // What was reported never changed afterwards.
        assert_eq!(blake3::hash(&zip[..*ready as usize]), *prefix);
        last = *ready;
    }
    assert!(last < zip.len() as u64, "the end is the build's result");
    assert!(source.zip_size_bound() >= zip.len() as u64);
    // The same zip as a build without reports.
    let (_, _, plain) = scan_build(&fx.art(), &fx.policy()).await;
    assert!(plain == zip);
}
