//! Ignore files (`.copilotignore`): what they leave out of a folder artifact, its key and its
//! zip, and what the walk never touches.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use archive::{ArchiveError, Excluded, IGNORE_FILE, Policy, Source};

/// A workspace `ws` (the boundary) holding the artifact folder `ws/art`.
struct Fixture {
    ws: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let ws = tempfile::tempdir().unwrap();
        fs::create_dir(ws.path().join("art")).unwrap();
        let fx = Fixture { ws };
        for (name, content) in files {
            fx.write(name, content);
        }
        fx
    }
    fn ws(&self) -> &Path {
        self.ws.path()
    }
    fn art(&self) -> PathBuf {
        self.ws().join("art")
    }
    /// Writes `name` (relative to the workspace root).
    fn write(&self, name: &str, content: &str) {
        let path = self.ws().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    /// The workspace root's ignore file applies (whether it exists or not).
    fn policy(&self) -> Policy {
        Policy {
            boundary: self.ws().to_path_buf(),
            ignore_file: Some(self.ws().join(IGNORE_FILE)),
        }
    }
    async fn scan(&self) -> Result<Source, ArchiveError> {
        Source::scan(&self.art(), true, &self.policy()).await
    }
}

fn names(source: &Source) -> Vec<&str> {
    source.entries.iter().map(|e| e.name.as_str()).collect()
}

/// Entry names of a built zip, read back with the `zip` crate.
async fn zip_names(source: &Source) -> Vec<String> {
    let built = source.build(&std::env::temp_dir(), None).await.unwrap();
    let mut bytes = Vec::new();
    fs::File::open(&built.path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    zip.file_names().map(|n| n.unwrap().into_owned()).collect()
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: c_path is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
}

#[tokio::test]
async fn excluded_files_are_not_in_the_zip() {
    let fx = Fixture::new(&[
        (".copilotignore", "*.log\n/art/tmp/\n"),
        ("art/.copilotignore", "# tests\ntest/\n*.test.js\n"),
        ("art/index.js", "handler"),
        ("art/index.test.js", "test"),
        ("art/debug.log", "log"),
        ("art/lib/util.js", "util"),
        ("art/lib/more.log", "log"),
        ("art/test/a.js", "a"),
        ("art/test/b.js", "b"),
        ("art/tmp/x", "x"),
        // Only at the top of `art/`: `/art/tmp/` is anchored to the workspace root.
        ("art/lib/tmp/y", "y"),
    ]);
    let source = fx.scan().await.unwrap();
    let expected = ["index.js", "lib/tmp/y", "lib/util.js"];
    assert_eq!(names(&source), expected);
    assert_eq!(zip_names(&source).await, expected);
    assert_eq!(
        source.excluded,
        [
            Excluded {
                ignore_file: fx.ws().join(IGNORE_FILE),
                files: 2,
                folders: 1,
            },
            Excluded {
                ignore_file: fx.art().join(IGNORE_FILE),
                files: 1,
                folders: 1,
            },
        ]
    );
}

#[tokio::test]
async fn the_folders_own_file_decides_first_and_excluded_folders_stay_excluded() {
    let fx = Fixture::new(&[
        (".copilotignore", "*.log\n"),
        ("art/.copilotignore", "!keep.log\ncache/\n!cache/wanted\n"),
        ("art/a.log", "a"),
        ("art/keep.log", "kept"),
        ("art/cache/wanted", "inside an excluded folder"),
        ("art/main.py", "main"),
    ]);
    let source = fx.scan().await.unwrap();
    assert_eq!(names(&source), ["keep.log", "main.py"]);
}

#[tokio::test]
async fn touching_an_ignored_file_keeps_the_key_and_the_zip() {
    let fx = Fixture::new(&[
        ("art/.copilotignore", "node_modules/\n*.tmp\n"),
        ("art/index.js", "handler"),
        ("art/scratch.tmp", "before"),
        ("art/node_modules/dep/index.js", "dep"),
    ]);
    let before = fx.scan().await.unwrap();
    fx.write("art/scratch.tmp", "after, and longer");
    fx.write("art/node_modules/dep/index.js", "changed");
    fx.write("art/node_modules/new.js", "new");
    let after = fx.scan().await.unwrap();
    assert_eq!(before.key, after.key);
    // Changing an ignored file between scan and build is no change either: build zips the
    // scanned entries only.
    fx.write("art/scratch.tmp", "again");
    let built = after.build(&std::env::temp_dir(), None).await.unwrap();
    let rebuilt = before.build(&std::env::temp_dir(), None).await.unwrap();
    assert_eq!(
        fs::read(&built.path).unwrap(),
        fs::read(&rebuilt.path).unwrap()
    );
    // The same file, not ignored, changes the key.
    fx.write("art/.copilotignore", "node_modules/\n");
    assert_ne!(fx.scan().await.unwrap().key, after.key);
}

#[tokio::test]
async fn rules_change_the_key_when_they_change_the_zip() {
    let fx = Fixture::new(&[("art/index.js", "handler"), ("art/notes.md", "notes")]);
    let none = fx.scan().await.unwrap();
    // A comment only: the zip is the same (the folder's own ignore file is not zipped).
    fx.write("art/.copilotignore", "# nothing yet\n");
    let comment = fx.scan().await.unwrap();
    assert_eq!(comment.key, none.key);
    fx.write("art/.copilotignore", "*.md\n");
    let no_md = fx.scan().await.unwrap();
    assert_ne!(no_md.key, none.key);
    assert_eq!(names(&no_md), ["index.js"]);
    // The same exclusion through the workspace root's file: the same zip, the same key.
    fs::remove_file(fx.art().join(IGNORE_FILE)).unwrap();
    fx.write(".copilotignore", "notes.md\n");
    assert_eq!(fx.scan().await.unwrap().key, no_md.key);
}

/// Without ignore files (or with a workspace ignore file that does not exist) keys are what
/// they were before ignore files: the pinned vector of `key_and_zip_test_vectors`.
#[tokio::test]
async fn without_ignore_files_keys_are_unchanged() {
    let fx = Fixture::new(&[
        (
            "art/index.js",
            "exports.handler = function(event, context) {}",
        ),
        ("art/bin/run", "#!/bin/sh\n"),
    ]);
    let mut perms = fs::metadata(fx.art().join("bin/run"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(fx.art().join("bin/run"), perms).unwrap();
    fs::set_permissions(
        fx.art().join("index.js"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    const PINNED: &str = "cbfca712e30ef08fad5f8285336a69246fa7130321ba8f16272df04c4564caf9";
    let source = fx.scan().await.unwrap();
    assert_eq!(source.key, PINNED);
    assert!(source.excluded.is_empty());
    let no_policy_file = Policy {
        boundary: fx.ws().to_path_buf(),
        ignore_file: None,
    };
    let source = Source::scan(&fx.art(), true, &no_policy_file)
        .await
        .unwrap();
    assert_eq!(source.key, PINNED);
    // Rules that exclude nothing: the same key, and each file is reported.
    fx.write(".copilotignore", "*.log\n");
    fx.write("art/.copilotignore", "*.tmp\n");
    let source = fx.scan().await.unwrap();
    assert_eq!(source.key, PINNED);
    assert_eq!(source.excluded.len(), 2);
    assert!(source.excluded.iter().all(|e| e.files + e.folders == 0));
}

/// What the scan would refuse, inside an excluded folder, proves the folder is not entered:
/// a FIFO (reading it would block), a link leaving the boundary, a dangling link, a link
/// loop, a name that is not UTF-8. The same tree without the rule fails.
#[tokio::test]
async fn an_excluded_folder_is_not_entered() {
    let fx = Fixture::new(&[("art/index.js", "handler"), ("art/big/a.bin", "a")]);
    let big = fx.art().join("big");
    mkfifo(&big.join("pipe"));
    symlink("/etc/passwd", big.join("escapes")).unwrap();
    symlink("nowhere", big.join("dangling")).unwrap();
    symlink(".", big.join("loop")).unwrap();
    fs::write(big.join(std::ffi::OsStr::from_bytes(b"bad\xff")), "x").unwrap();
    assert!(fx.scan().await.is_err(), "the tree itself is refused");

    fx.write("art/.copilotignore", "big/\n");
    // Listing a folder sets its access time (under `relatime` too, when it is this old); the
    // artifact root is the control: if its access time stays, the file system keeps none.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
    for dir in [fx.art(), big.clone()] {
        let times = fs::FileTimes::new().set_accessed(old).set_modified(old);
        fs::File::open(&dir).unwrap().set_times(times).unwrap();
    }
    let source = fx.scan().await.unwrap();
    let accessed = |dir: &Path| fs::metadata(dir).unwrap().accessed().unwrap();
    if accessed(&fx.art()) > old {
        assert_eq!(accessed(&big), old, "the excluded folder was listed");
    } else {
        eprintln!("no access times on this file system: listing not checked");
    }
    assert_eq!(names(&source), ["index.js"]);
    assert_eq!(
        (source.excluded[0].files, source.excluded[0].folders),
        (0, 1)
    );
}

/// Excluded entries that the walk cannot even stat are left out, not errors.
#[tokio::test]
async fn excluded_special_files_and_bad_links_are_left_out() {
    let fx = Fixture::new(&[("art/index.js", "handler")]);
    mkfifo(&fx.art().join("events.fifo"));
    symlink("/etc/passwd", fx.art().join("passwd.link")).unwrap();
    symlink("nowhere", fx.art().join("dangling.link")).unwrap();
    symlink(".", fx.art().join("loop.link")).unwrap();
    fx.write("art/.copilotignore", "*.fifo\n*.link\n");
    let source = fx.scan().await.unwrap();
    assert_eq!(names(&source), ["index.js"]);
    // The loop is a folder (excluded, not entered); the others are files.
    assert_eq!(
        (source.excluded[0].files, source.excluded[0].folders),
        (3, 1)
    );
}

#[tokio::test]
async fn a_single_file_is_never_filtered() {
    let fx = Fixture::new(&[
        (".copilotignore", "*.js\n"),
        ("art/.copilotignore", "*.js\n"),
        ("art/index.js", "handler"),
    ]);
    let file = fx.art().join("index.js");
    let source = Source::scan(&file, true, &fx.policy()).await.unwrap();
    assert_eq!(names(&source), ["index.js"]);
    assert!(source.excluded.is_empty());
}

#[tokio::test]
async fn everything_excluded_is_an_error() {
    let fx = Fixture::new(&[
        ("art/.copilotignore", "*\n"),
        ("art/a.txt", "a"),
        ("art/sub/b.txt", "b"),
    ]);
    match fx.scan().await {
        Err(ArchiveError::AllExcluded { path, ignore_files }) => {
            assert_eq!(path, fx.art());
            assert_eq!(ignore_files, [fx.art().join(IGNORE_FILE)]);
        }
        other => panic!("expected AllExcluded, got {other:?}"),
    }
    // A folder holding only its ignore file is empty, as before.
    let fx = Fixture::new(&[("art/.copilotignore", "*.log\n")]);
    assert!(matches!(
        fx.scan().await,
        Err(ArchiveError::EmptyFolder { .. })
    ));
}

#[tokio::test]
async fn a_bad_pattern_names_the_file_and_line() {
    let fx = Fixture::new(&[
        (".copilotignore", "*.log\n\nsrc/{a,b\n"),
        ("art/index.js", "handler"),
    ]);
    let error = fx.scan().await.unwrap_err();
    match &error {
        ArchiveError::IgnoreRule { path, line, .. } => {
            assert_eq!((path, *line), (&fx.ws().join(IGNORE_FILE), 3));
        }
        other => panic!("expected IgnoreRule, got {other:?}"),
    }
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("{}:3: ", fx.ws().join(IGNORE_FILE).display())),
        "{shown}"
    );
    assert!(shown.contains("src/{a,b"), "{shown}");
}

#[tokio::test]
async fn the_outer_file_applies_only_inside_its_folder() {
    let fx = Fixture::new(&[(".copilotignore", "*.log\n")]);
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("a.log"), "a").unwrap();
    fs::write(elsewhere.path().join("b.txt"), "b").unwrap();
    let policy = Policy {
        boundary: elsewhere.path().to_path_buf(),
        ignore_file: fx.policy().ignore_file,
    };
    let source = Source::scan(elsewhere.path(), true, &policy).await.unwrap();
    assert_eq!(names(&source), ["a.log", "b.txt"]);
    assert!(source.excluded.is_empty());
}

/// The workspace root as the artifact: its ignore file is one rule set, and not zipped.
#[tokio::test]
async fn the_workspace_root_as_artifact_reads_its_file_once() {
    let fx = Fixture::new(&[
        (".copilotignore", "*.log\n"),
        ("art/a.log", "a"),
        ("b", "b"),
    ]);
    let source = Source::scan(fx.ws(), true, &fx.policy()).await.unwrap();
    assert_eq!(names(&source), ["b"]);
    assert_eq!(
        source.excluded,
        [Excluded {
            ignore_file: fx.ws().join(IGNORE_FILE),
            files: 1,
            folders: 0,
        }]
    );
}

#[tokio::test]
async fn an_ignore_file_linking_out_of_the_boundary_is_refused() {
    let fx = Fixture::new(&[("art/index.js", "handler")]);
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("rules"), "*.js\n").unwrap();
    symlink(outside.path().join("rules"), fx.art().join(IGNORE_FILE)).unwrap();
    match fx.scan().await {
        Err(ArchiveError::SymlinkEscapes { link, .. }) => {
            assert_eq!(link, fx.art().join(IGNORE_FILE))
        }
        other => panic!("expected SymlinkEscapes, got {other:?}"),
    }
    // A folder named like an ignore file is refused too.
    let fx = Fixture::new(&[("art/index.js", "handler")]);
    fs::create_dir(fx.art().join(IGNORE_FILE)).unwrap();
    assert!(matches!(fx.scan().await, Err(ArchiveError::Io { .. })));
}
