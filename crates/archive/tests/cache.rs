//! The compressed-entry cache: a build with it gives the zip of a build without it, copies
//! what the last build of the same root deflated, and never uses a damaged pack entry.

use std::fs;
use std::path::{Path, PathBuf};

use archive::{ArchiveError, Cache, Policy, Source};

/// Files of a small function: text (deflated, so cached) and noise (stored, never cached).
fn write_function(dir: &Path) {
    fs::create_dir_all(dir.join("lib")).unwrap();
    for i in 0..40 {
        let text: String = (0..200)
            .map(|line| format!("export const v{i}_{line} = require('./m{line}') + {i};\n"))
            .collect();
        fs::write(dir.join(format!("lib/m{i}.js")), text).unwrap();
    }
    let mut noise = vec![0u8; 8192];
    blake3::Hasher::new()
        .update(b"noise")
        .finalize_xof()
        .fill(&mut noise);
    fs::write(dir.join("lib/blob.bin"), noise).unwrap();
    fs::write(dir.join("index.js"), "exports.handler = async () => 1;\n").unwrap();
}

/// The deflated files of [`write_function`].
fn text_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.join("index.js")];
    files.extend((0..40).map(|i| dir.join(format!("lib/m{i}.js"))));
    files
}

struct Fixture {
    ws: tempfile::TempDir,
    cache: Cache,
}

impl Fixture {
    fn new() -> Fixture {
        let ws = tempfile::tempdir().unwrap();
        write_function(&ws.path().join("fn"));
        let cache = Cache {
            dir: ws.path().join("cache"),
            max_bytes: 1 << 30,
        };
        Fixture { ws, cache }
    }

    fn root(&self) -> PathBuf {
        self.ws.path().join("fn")
    }

    async fn scan(&self) -> Source {
        let policy = Policy {
            boundary: self.ws.path().to_path_buf(),
            ignore_file: None,
        };
        Source::scan(&self.root(), true, &policy).await.unwrap()
    }

    async fn build(&self, source: &Source, cache: bool) -> Result<Vec<u8>, ArchiveError> {
        let cache = cache.then_some(&self.cache);
        let built = source.build(self.ws.path(), cache).await?;
        Ok(fs::read(&built.path).unwrap())
    }

    fn packs(&self) -> Vec<PathBuf> {
        let Ok(items) = fs::read_dir(&self.cache.dir) else {
            return Vec::new();
        };
        let mut packs: Vec<PathBuf> = items
            .map(|i| i.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        packs.sort();
        packs
    }
}

/// Changes a file after the scan, keeping its size: a build that reads it fails
/// ([`ArchiveError::Changed`]); one that takes its deflated bytes from the cache does not.
fn change_behind_the_scan(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_build_with_the_cache_is_the_build_without_it() {
    let f = Fixture::new();
    let source = f.scan().await;
    let plain = f.build(&source, false).await.unwrap();
    assert!(f.packs().is_empty(), "no cache, no pack");
    // Cold cache: same bytes, and the deflated entries are kept.
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
    assert_eq!(f.packs().len(), 1);
    // Warm cache: same bytes again.
    assert_eq!(f.build(&source, true).await.unwrap(), plain);

    // One file edited: the rebuilt zip is the one built from scratch.
    fs::write(
        f.root().join("lib/m3.js"),
        "export const edited = 1;\n".repeat(50),
    )
    .unwrap();
    let edited = f.scan().await;
    assert_ne!(edited.key, source.key);
    let from_cache = f.build(&edited, true).await.unwrap();
    assert_eq!(from_cache, f.build(&edited, false).await.unwrap());
    assert_ne!(from_cache, plain);
    assert_eq!(f.packs().len(), 1, "one pack per root, replaced");
}

#[tokio::test]
async fn cached_entries_are_copied_not_deflated_again() {
    let f = Fixture::new();
    let source = f.scan().await;
    let plain = f.build(&source, false).await.unwrap();
    f.build(&source, true).await.unwrap();
    // A deflated (text) file changed behind the scan: without the cache the build notices;
    // with it the build copies the deflated bytes of the scanned content, so the zip still
    // carries exactly what the key names.
    change_behind_the_scan(&f.root().join("lib/m7.js"));
    assert!(matches!(
        f.build(&source, false).await,
        Err(ArchiveError::Changed { .. })
    ));
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
    // A stored file is not cached: it is read again, and the change is caught.
    change_behind_the_scan(&f.root().join("lib/blob.bin"));
    assert!(matches!(
        f.build(&source, true).await,
        Err(ArchiveError::Changed { .. })
    ));
}

#[tokio::test]
async fn a_damaged_pack_is_never_used() {
    let f = Fixture::new();
    let source = f.scan().await;
    let plain = f.build(&source, false).await.unwrap();
    f.build(&source, true).await.unwrap();
    let [pack] = f.packs().try_into().unwrap();
    let good = fs::read(&pack).unwrap();

    // A flipped byte in the data: that entry is deflated again from the file (here changed
    // behind the scan, so the build reading it fails), the others still come from the pack.
    let mut flipped = good.clone();
    flipped[10] ^= 0xff;
    fs::write(&pack, &flipped).unwrap();
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
    // (The build above rewrote the pack; damage it again, and change every text file.)
    fs::write(&pack, &flipped).unwrap();
    for file in text_files(&f.root()) {
        change_behind_the_scan(&file);
    }
    assert!(
        matches!(
            f.build(&source, true).await,
            Err(ArchiveError::Changed { .. })
        ),
        "the damaged entry was read from its file"
    );
    // Undo the changes (same content as scanned) for the cases below.
    for file in text_files(&f.root()) {
        change_behind_the_scan(&file);
    }

    // Truncated, or its index damaged: the whole pack is ignored.
    for damaged in [
        good[..good.len() - 1].to_vec(),
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        {
            let mut bad = good.clone();
            let at = bad.len() - 100;
            bad[at] ^= 1;
            bad
        },
    ] {
        fs::write(&pack, &damaged).unwrap();
        assert_eq!(f.build(&source, true).await.unwrap(), plain);
        assert_eq!(fs::read(&pack).unwrap(), good, "rewritten whole");
    }
}

#[tokio::test]
async fn the_cache_keeps_within_its_size_bound() {
    let mut f = Fixture::new();
    write_function(&f.ws.path().join("other"));
    let source = f.scan().await;
    f.build(&source, true).await.unwrap();
    let [first] = f.packs().try_into().unwrap();
    let size = fs::metadata(&first).unwrap().len();
    // Room for one pack: building another root evicts the older one.
    f.cache.max_bytes = size + size / 2;
    let policy = Policy {
        boundary: f.ws.path().to_path_buf(),
        ignore_file: None,
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    let other = Source::scan(&f.ws.path().join("other"), true, &policy)
        .await
        .unwrap();
    other.build(f.ws.path(), Some(&f.cache)).await.unwrap();
    let packs = f.packs();
    assert_eq!(packs.len(), 1);
    assert_ne!(packs[0], first, "the newest stays");
    // A bound below one pack keeps nothing; the build still succeeds.
    f.cache.max_bytes = 0;
    assert!(f.build(&source, true).await.is_ok());
    assert!(f.packs().is_empty());
}

#[tokio::test]
async fn an_unwritable_cache_folder_does_not_fail_the_build() {
    let f = Fixture::new();
    let source = f.scan().await;
    let plain = f.build(&source, false).await.unwrap();
    // A file where the folder should be.
    fs::write(&f.cache.dir, b"not a folder").unwrap();
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
}

/// Text above the whole-file limit: deflated in blocks, and cached like the small files.
fn big_text() -> Vec<u8> {
    let text: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("exports.f{i} = (x) => x * {i} + {};\n", i % 7).into_bytes())
        .collect();
    assert!(text.len() as u64 > archive::WHOLE_LIMIT);
    text
}

#[tokio::test]
async fn big_deflated_entries_are_cached_and_checked_before_use() {
    let f = Fixture::new();
    // Named to come first in the zip, so the first bytes of the pack are its data.
    let big = f.root().join("a-big.js");
    fs::write(&big, big_text()).unwrap();
    let source = f.scan().await;
    let plain = f.build(&source, false).await.unwrap();
    assert_eq!(f.build(&source, true).await.unwrap(), plain, "cold");
    assert_eq!(f.build(&source, true).await.unwrap(), plain, "warm");

    // Copied from the cache, not read: a change behind the scan goes unseen, and the zip is
    // the scanned content's; without the cache the build reads the file and notices.
    change_behind_the_scan(&big);
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
    assert!(matches!(
        f.build(&source, false).await,
        Err(ArchiveError::Changed { .. })
    ));

    // A flipped byte in the middle of the cached copy (after half of it would have been
    // copied): the copy is not used, the file is read (and the change caught).
    let [pack] = f.packs().try_into().unwrap();
    let good = fs::read(&pack).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x01;
    fs::write(&pack, &flipped).unwrap();
    match f.build(&source, true).await {
        Err(ArchiveError::Changed { path }) => assert!(path.ends_with("a-big.js"), "{path:?}"),
        other => panic!("expected Changed, got {:?}", other.map(|z| z.len())),
    }
    // The file as scanned again, the pack still damaged: deflated again, same zip.
    change_behind_the_scan(&big);
    fs::write(&pack, &flipped).unwrap();
    assert_eq!(f.build(&source, true).await.unwrap(), plain);
    assert_eq!(fs::read(&pack).unwrap(), good, "rewritten whole");

    // Another file edited: the big entry comes from the cache, the zip is the fresh one.
    fs::write(
        f.root().join("index.js"),
        "exports.handler = async () => 2;\n",
    )
    .unwrap();
    let edited = f.scan().await;
    let from_cache = f.build(&edited, true).await.unwrap();
    assert_eq!(from_cache, f.build(&edited, false).await.unwrap());
    assert_ne!(from_cache, plain);
}
