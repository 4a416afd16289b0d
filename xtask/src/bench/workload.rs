//! The workloads W1–W5, generated deterministically (a seeded PRNG; no time or random input)
//! under `target/bench/<name>/`, and the "touch" of every file (new mtime, same content).
//!
//! A workload is a folder holding `template.yaml` (one `AWS::Lambda::Function` per function,
//! `Code: fnNNN`) and one folder per function. `.stamp` records the [`Plan::fingerprint`]
//! of the last complete generation: a folder with the same stamp is reused as it is.

use std::ffi::CString;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Bump when the generator's output changes, so old folders are regenerated.
const GENERATOR_VERSION: u32 = 1;

/// One of the issue's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    W1,
    W2,
    W3,
    W4,
    W5,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W4 => "W4",
            Workload::W5 => "W5",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1 => "5 functions x 20 small text files",
            Workload::W2 => {
                "10 functions x 1,500 files, ~40 MB each (node_modules-like, 20% of files incompressible)"
            }
            Workload::W3 => "200 functions x 3 small files",
            Workload::W4 => {
                "2 functions x one 150 MB incompressible file + an executable `bootstrap`"
            }
            Workload::W5 => {
                "2 functions x one 60 MB compressible machine-code-like file + an executable `bootstrap`"
            }
        }
    }

    /// `w2`, `W2` or `2`.
    pub fn parse(s: &str) -> Option<Workload> {
        let s = s.trim();
        let digits = s.strip_prefix(['w', 'W']).unwrap_or(s);
        match digits {
            "1" => Some(Workload::W1),
            "2" => Some(Workload::W2),
            "3" => Some(Workload::W3),
            "4" => Some(Workload::W4),
            "5" => Some(Workload::W5),
            _ => None,
        }
    }

    /// What to generate. Pure: the same plan every time.
    pub fn plan(self) -> Plan {
        let mut rng = SplitMix64::new(0x00c0_9117_be9c_0000 + self as u64);
        let mut files = Vec::new();
        let functions: usize = match self {
            Workload::W1 => 5,
            Workload::W2 => 10,
            Workload::W3 => 200,
            Workload::W4 | Workload::W5 => 2,
        };
        for f in 0..functions {
            let dir = function_dir(f);
            match self {
                Workload::W1 => {
                    for i in 0..20 {
                        let size = rng.range(512, 4096);
                        files.push(text(format!("{dir}/src/file-{i:02}.js"), size, &mut rng));
                    }
                }
                Workload::W2 => {
                    files.push(text(format!("{dir}/index.js"), 2048, &mut rng));
                    // 30 packages x 50 files = 1,500 files; sizes uniform in [1, 52) KiB
                    // (mean ~26.5 KiB, ~40 MB per function); every 5th file is random bytes.
                    for p in 0..30 {
                        for i in 0..50 {
                            let size = rng.range(1024, 52 * 1024);
                            let path = if i % 5 == 0 {
                                format!("{dir}/node_modules/pkg-{p:02}/assets/blob-{i:02}.bin")
                            } else {
                                format!("{dir}/node_modules/pkg-{p:02}/lib/mod-{i:02}.js")
                            };
                            if i % 5 == 0 {
                                files.push(FileSpec {
                                    path,
                                    size,
                                    content: Content::Random,
                                    seed: rng.next_u64(),
                                });
                            } else {
                                files.push(text(path, size, &mut rng));
                            }
                        }
                    }
                    // 1,501 with index.js: drop one module so the count is exactly 1,500.
                    files.pop();
                }
                Workload::W3 => {
                    let index = rng.range(512, 2048);
                    files.push(text(format!("{dir}/index.js"), index, &mut rng));
                    let manifest = rng.range(200, 400);
                    files.push(text(format!("{dir}/package.json"), manifest, &mut rng));
                    let util = rng.range(512, 2048);
                    files.push(text(format!("{dir}/lib/util.js"), util, &mut rng));
                }
                Workload::W4 | Workload::W5 => {
                    let (size, content) = match self {
                        Workload::W4 => (150_000_000, Content::Random),
                        _ => (60_000_000, Content::Code),
                    };
                    files.push(FileSpec {
                        path: format!("{dir}/data.bin"),
                        size,
                        content,
                        seed: rng.next_u64(),
                    });
                    let script = bootstrap_script(f);
                    files.push(FileSpec {
                        path: format!("{dir}/bootstrap"),
                        size: script.len() as u64,
                        content: Content::Script,
                        seed: f as u64,
                    });
                }
            }
        }
        Plan {
            workload: self,
            functions: (0..functions).map(function_dir).collect(),
            files,
        }
    }
}

fn function_dir(index: usize) -> String {
    format!("fn{index:03}")
}

fn text(path: String, size: u64, rng: &mut SplitMix64) -> FileSpec {
    FileSpec {
        path,
        size,
        content: Content::Text,
        seed: rng.next_u64(),
    }
}

fn bootstrap_script(function: usize) -> String {
    format!("#!/bin/sh\n# bench bootstrap of function {function}\nexec ./data.bin \"$@\"\n")
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// JavaScript-like text (compresses about 3-4x).
    Text,
    /// PRNG bytes: incompressible.
    Random,
    /// Machine-code-like bytes: a skewed mix of short opcode patterns and small immediates
    /// (DEFLATE takes it to about half).
    Code,
    /// The executable `bootstrap` (mode 0755).
    Script,
}

/// One file of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Relative to the workload folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub content: Content,
    pub seed: u64,
}

/// Every file of a workload, and its functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub workload: Workload,
    /// Function folder names, each a `Code:` of the template.
    pub functions: Vec<String>,
    pub files: Vec<FileSpec>,
}

impl Plan {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The template to package: one Lambda function per function folder.
    pub fn template(&self) -> String {
        let mut t = String::from("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n");
        for (i, dir) in self.functions.iter().enumerate() {
            t.push_str(&format!(
                "  Fn{i:03}:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
                 Handler: index.handler\n      Runtime: nodejs20.x\n      \
                 Role: arn:aws:iam::123456789012:role/bench\n      Code: {dir}\n"
            ));
        }
        t
    }

    /// Identifies the generated content: generator version, counts and a digest of every
    /// file spec.
    pub fn fingerprint(&self) -> String {
        let mut h = Fnv::new();
        for f in &self.files {
            h.write(f.path.as_bytes());
            h.write(&f.size.to_le_bytes());
            h.write(&[f.content as u8]);
            h.write(&f.seed.to_le_bytes());
        }
        h.write(self.template().as_bytes());
        format!(
            "generator v{GENERATOR_VERSION} {} files={} bytes={} digest={:016x}\n",
            self.workload.name(),
            self.files.len(),
            self.total_bytes(),
            h.finish()
        )
    }

    /// Writes the workload into `dir` unless `dir/.stamp` says it is already there. Returns
    /// whether it generated anything.
    pub fn ensure(&self, dir: &Path) -> Result<bool> {
        let stamp = dir.join(".stamp");
        if fs::read_to_string(&stamp).ok().as_deref() == Some(self.fingerprint().as_str()) {
            return Ok(false);
        }
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        self.generate(dir)?;
        fs::write(&stamp, self.fingerprint())
            .with_context(|| format!("writing {}", stamp.display()))?;
        Ok(true)
    }

    /// Writes every file and the template into `dir` (created).
    pub fn generate(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut buf = Vec::new();
        for f in &self.files {
            let path = dir.join(&f.path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let file =
                fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            write_content(f, &mut buf, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", path.display()))?;
            if f.content == Content::Script {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("chmod {}", path.display()))?;
            }
        }
        let template = dir.join("template.yaml");
        fs::write(&template, self.template())
            .with_context(|| format!("writing {}", template.display()))?;
        Ok(())
    }
}

/// Streams the content of `f` into `out` (`buf` is scratch space).
fn write_content(f: &FileSpec, buf: &mut Vec<u8>, out: &mut impl Write) -> std::io::Result<()> {
    let mut rng = SplitMix64::new(f.seed);
    match f.content {
        Content::Random => {
            let mut left = f.size;
            while left > 0 {
                let n = left.min(1 << 16) as usize;
                buf.clear();
                while buf.len() < n {
                    buf.extend_from_slice(&rng.next_u64().to_le_bytes());
                }
                out.write_all(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Content::Code => {
            // 256 opcode-like patterns of 1-6 bytes, per file.
            let patterns: Vec<Vec<u8>> = (0..256)
                .map(|_| {
                    let r = rng.next_u64();
                    let len = 1 + (r % 6) as usize;
                    r.to_le_bytes()[1..=len].to_vec()
                })
                .collect();
            let mut left = f.size;
            while left > 0 {
                let n = left.min(1 << 16) as usize;
                buf.clear();
                while buf.len() < n {
                    code_token(&mut rng, &patterns, buf);
                }
                out.write_all(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Content::Text => {
            buf.clear();
            fill_text(&mut rng, f.size as usize, buf);
            out.write_all(buf)
        }
        Content::Script => {
            let script = bootstrap_script(f.seed as usize);
            out.write_all(script.as_bytes())
        }
    }
}

const WORDS: [&str; 48] = [
    "const",
    "function",
    "return",
    "require",
    "module",
    "exports",
    "value",
    "options",
    "buffer",
    "length",
    "index",
    "result",
    "callback",
    "error",
    "undefined",
    "this",
    "prototype",
    "object",
    "string",
    "number",
    "array",
    "push",
    "map",
    "filter",
    "reduce",
    "async",
    "await",
    "promise",
    "resolve",
    "reject",
    "default",
    "config",
    "handler",
    "event",
    "context",
    "stream",
    "data",
    "encoding",
    "utf8",
    "parse",
    "stringify",
    "keys",
    "assign",
    "create",
    "define",
    "get",
    "set",
    "has",
];
const PUNCT: [&str; 8] = [" = ", "(", "); ", ".", ", ", " => { ", " }\n", ";\n"];

/// JavaScript-looking text of exactly `size` bytes.
fn fill_text(rng: &mut SplitMix64, size: usize, out: &mut Vec<u8>) {
    while out.len() < size {
        let r = rng.next_u64();
        out.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
        if (r >> 8).is_multiple_of(3) {
            // an identifier suffix: makes the text less repetitive
            out.extend_from_slice(format!("{}", (r >> 16) % 100).as_bytes());
        }
        out.extend_from_slice(PUNCT[((r >> 32) % PUNCT.len() as u64) as usize].as_bytes());
    }
    out.truncate(size);
}

/// One instruction-like token: a pattern (the low-numbered ones far more frequent, as a few
/// opcodes dominate real code), a quarter of the time followed by a 32-bit immediate that is
/// mostly small (one random byte, then zeros or sign bits) and sometimes any value.
fn code_token(rng: &mut SplitMix64, patterns: &[Vec<u8>], out: &mut Vec<u8>) {
    let r = rng.next_u64();
    let index = ((r & 0xFF) * ((r >> 8) & 0xFF)) >> 8;
    out.extend_from_slice(&patterns[index as usize]);
    if (r >> 16).is_multiple_of(4) {
        let low = (r >> 24) as u8;
        let immediate = match (r >> 32) % 8 {
            0 => ((r >> 40) as u32).to_le_bytes(),
            1 => [low, 0xFF, 0xFF, 0xFF],
            _ => [low, 0, 0, 0],
        };
        out.extend_from_slice(&immediate);
    }
}

/// Every regular file below `dir` except the stamp, sorted.
pub fn files_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && entry.file_name() != ".stamp" {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A file changed by [`edit`], put back by [`Edit::restore`].
pub struct Edit {
    pub path: PathBuf,
    original: Vec<u8>,
}

/// The "edit" of the bench: one line appended to the first file (in path order) of the first
/// function folder, so one artifact changes by one file.
pub fn edit(dir: &Path) -> Result<Edit> {
    let path = files_below(dir)?
        .into_iter()
        .find(|p| {
            p.strip_prefix(dir)
                .is_ok_and(|r| r.components().count() > 1)
        })
        .context("no function file to edit")?;
    let original = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut edited = original.clone();
    edited.extend_from_slice(b"\n// edited by cargo xtask bench\n");
    fs::write(&path, edited).with_context(|| format!("writing {}", path.display()))?;
    Ok(Edit { path, original })
}

impl Edit {
    pub fn restore(self) -> Result<()> {
        fs::write(&self.path, &self.original)
            .with_context(|| format!("restoring {}", self.path.display()))
    }
}

/// Sets the modification (and access) time of every file of the function folders below `dir`
/// to `seconds` since the epoch; the content is unchanged. Returns how many files.
pub fn touch(dir: &Path, seconds: i64) -> Result<usize> {
    let files = files_below(dir)?;
    let times = [
        libc::timespec {
            tv_sec: seconds as libc::time_t,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: seconds as libc::time_t,
            tv_nsec: 0,
        },
    ];
    let mut touched = 0;
    for path in &files {
        if path.file_name().is_some_and(|n| n == "template.yaml") {
            continue;
        }
        touched += 1;
        let c = CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path and a two-element timespec array.
        let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
        if rc != 0 {
            bail!(
                "setting the mtime of {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(touched)
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and plenty for test data.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `[low, high)` (modulo bias is irrelevant here).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low)
    }
}

/// FNV-1a 64, for the stamp digest.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-bench-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn read_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
        files_below(dir)
            .unwrap()
            .into_iter()
            .map(|p| {
                let mut bytes = Vec::new();
                fs::File::open(&p).unwrap().read_to_end(&mut bytes).unwrap();
                let mode = fs::metadata(&p).unwrap().mode() & 0o777;
                (p.strip_prefix(dir).unwrap().to_path_buf(), bytes, mode)
            })
            .collect()
    }

    #[test]
    fn plans_are_deterministic_and_match_the_issue() {
        for w in Workload::ALL {
            assert_eq!(w.plan(), w.plan(), "{}", w.name());
            assert_eq!(w.plan().fingerprint(), w.plan().fingerprint());
        }
        let w1 = Workload::W1.plan();
        assert_eq!((w1.functions.len(), w1.files.len()), (5, 100));
        let w2 = Workload::W2.plan();
        assert_eq!((w2.functions.len(), w2.files.len()), (10, 15_000));
        for dir in &w2.functions {
            let prefix = format!("{dir}/");
            let files: Vec<_> = w2
                .files
                .iter()
                .filter(|f| f.path.starts_with(&prefix))
                .collect();
            assert_eq!(files.len(), 1500);
            let bytes: u64 = files.iter().map(|f| f.size).sum();
            assert!((37_000_000..43_000_000).contains(&bytes), "{dir}: {bytes}");
            let random = files
                .iter()
                .filter(|f| f.content == Content::Random)
                .count();
            assert_eq!(random, 300, "20% of the files incompressible");
        }
        let w3 = Workload::W3.plan();
        assert_eq!((w3.functions.len(), w3.files.len()), (200, 600));
        let w4 = Workload::W4.plan();
        assert_eq!(w4.functions.len(), 2);
        let big: Vec<_> = w4.files.iter().filter(|f| f.size == 150_000_000).collect();
        assert_eq!(big.len(), 2);
        assert!(big.iter().all(|f| f.content == Content::Random));
        assert_eq!(
            w4.files
                .iter()
                .filter(|f| f.content == Content::Script)
                .count(),
            2
        );
        let w5 = Workload::W5.plan();
        assert_eq!((w5.functions.len(), w5.files.len()), (2, 4));
        let big: Vec<_> = w5.files.iter().filter(|f| f.size == 60_000_000).collect();
        assert_eq!(big.len(), 2);
        assert!(big.iter().all(|f| f.content == Content::Code));
        // Different workloads differ.
        assert_ne!(w1.fingerprint(), w3.fingerprint());
    }

    #[test]
    fn generation_is_byte_for_byte_reproducible() {
        let (a, b) = (scratch("gen-a"), scratch("gen-b"));
        let plan = Workload::W1.plan();
        plan.generate(&a).unwrap();
        plan.generate(&b).unwrap();
        let (ta, tb) = (read_tree(&a), read_tree(&b));
        assert_eq!(ta.len(), 101, "100 files and the template");
        assert_eq!(ta, tb);
        for f in &plan.files {
            assert_eq!(fs::metadata(a.join(&f.path)).unwrap().len(), f.size);
        }
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn content_kinds() {
        let mut text = Vec::new();
        fill_text(&mut SplitMix64::new(7), 10_000, &mut text);
        assert_eq!(text.len(), 10_000);
        assert!(std::str::from_utf8(&text).is_ok());
        let mut other = Vec::new();
        fill_text(&mut SplitMix64::new(8), 10_000, &mut other);
        assert_ne!(text, other, "seeds matter");

        let spec = FileSpec {
            path: "x".into(),
            size: 100_003,
            content: Content::Random,
            seed: 1,
        };
        let (mut out, mut buf) = (Vec::new(), Vec::new());
        write_content(&spec, &mut buf, &mut out).unwrap();
        assert_eq!(out.len(), 100_003);
        // Random bytes: every byte value shows up, no long runs of text.
        let mut seen = [false; 256];
        out.iter().for_each(|b| seen[*b as usize] = true);
        assert!(seen.iter().all(|s| *s));

        // Machine-code-like bytes: DEFLATE (zlib-rs at copilot-lite's level for big files)
        // takes them to between a third and two thirds, and not to a few percent.
        let spec = FileSpec {
            content: Content::Code,
            ..spec
        };
        let (mut code, mut buf) = (Vec::new(), Vec::new());
        write_content(&spec, &mut buf, &mut code).unwrap();
        assert_eq!(code.len(), 100_003);
        let level = flate2::Compression::new(archive::DEFLATE_LEVEL_STREAMED);
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), level);
        encoder.write_all(&code).unwrap();
        let deflated = encoder.finish().unwrap().len();
        assert!(
            (code.len() / 3..code.len() * 2 / 3).contains(&deflated),
            "{deflated} of {}",
            code.len()
        );
    }

    #[test]
    fn ensure_reuses_a_stamped_folder_and_touch_keeps_content() {
        let dir = scratch("ensure");
        let plan = Workload::W3.plan();
        assert!(plan.ensure(&dir).unwrap(), "first time: generated");
        assert!(!plan.ensure(&dir).unwrap(), "stamped: reused");
        let before = read_tree(&dir);
        let touched = touch(&dir, 1_000_000_000).unwrap();
        assert_eq!(touched, 600);
        let after = read_tree(&dir);
        assert_eq!(before, after, "content unchanged");
        let f = dir.join(&plan.files[0].path);
        assert_eq!(fs::metadata(&f).unwrap().mtime(), 1_000_000_000);
        // A stale stamp makes it regenerate.
        fs::write(dir.join(".stamp"), "old").unwrap();
        assert!(plan.ensure(&dir).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parse_names() {
        assert_eq!(Workload::parse("w2"), Some(Workload::W2));
        assert_eq!(Workload::parse("W4"), Some(Workload::W4));
        assert_eq!(Workload::parse("3"), Some(Workload::W3));
        assert_eq!(Workload::parse("W5"), Some(Workload::W5));
        assert_eq!(Workload::parse("W6"), None);
    }
}
