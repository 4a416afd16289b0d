//! Zip entry names are never absolute and never climb out of the extraction folder, whatever
//! the file names in the packaged folder (issue 7, security).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use archive::{ArchiveError, Policy, Source};

fn policy(boundary: &Path) -> Policy {
    Policy {
        boundary: boundary.canonicalize().unwrap(),
        ignore_file: None,
    }
}

/// Every entry name of the zip, as stored in the central directory.
fn entry_names(bytes: &[u8]) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    zip.file_names().map(|n| n.unwrap().into_owned()).collect()
}

/// What an extractor treating both `/` and `\` as separators would do with `name`.
fn is_safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.starts_with('\\')
        && name
            .split(['/', '\\'])
            .all(|part| !part.is_empty() && part != "..")
}

#[tokio::test]
async fn odd_but_legal_names_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fn");
    let files = [
        "..hidden",
        "a..b",
        "...",
        ".env",
        "trailing..",
        " leading space",
        "ünïcödé/ñ.txt",
        "deep/er/still/file.js",
        "back\\slash",
        "dots/.../x",
    ];
    for name in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, name.as_bytes()).unwrap();
    }
    // A link inside the folder pointing at a sibling: stored under the link's own name.
    symlink("a..b", root.join("link-to-sibling")).unwrap();

    let source = Source::scan(&root, true, &policy(dir.path()))
        .await
        .unwrap();
    let built = source.build(dir.path(), None).await.unwrap();
    let names = entry_names(&fs::read(&built.path).unwrap());
    assert_eq!(names.len(), files.len() + 1, "{names:?}");
    for name in &names {
        assert!(is_safe(name), "unsafe entry name {name:?}");
    }
    for name in files {
        assert!(
            names.iter().any(|n| n == name),
            "{name:?} missing: {names:?}"
        );
    }
}

#[tokio::test]
async fn names_windows_would_read_as_climbing_or_absolute_are_refused() {
    for hostile in [
        "..\\..\\evil.sh",
        "x\\..\\..\\y",
        "ok/..\\up",
        "C:\\x.txt",
        "c:x.txt",
        "\\\\abs.txt",
        "\\abs.txt",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("fn");
        let path = root.join(hostile);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"#!/bin/sh\n").unwrap();
        fs::write(root.join("index.js"), b"ok").unwrap();
        let err = Source::scan(&root, true, &policy(dir.path()))
            .await
            .expect_err(hostile);
        match &err {
            ArchiveError::UnsafeName { path: named } => assert_eq!(named, &path),
            other => panic!("{hostile:?}: unexpected error {other:?}"),
        }
        assert!(err.to_string().contains("climb out"), "{err}");
    }
    // A `\` that neither leads nor climbs, and a drive-like part below the top, are names.
    for fine in ["x\\y.txt", "sub/C:x", "ab:c"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("fn");
        let path = root.join(fine);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"ok").unwrap();
        let source = Source::scan(&root, true, &policy(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{fine:?}: {e}"));
        let built = source.build(dir.path(), None).await.unwrap();
        assert_eq!(
            entry_names(&fs::read(&built.path).unwrap()),
            vec![fine.to_owned()]
        );
    }
}

#[tokio::test]
async fn single_file_zip_is_named_after_the_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("a/b");
    fs::create_dir_all(&sub).unwrap();
    let file = sub.join("handler.py");
    fs::write(&file, b"def handler(e, c): pass\n").unwrap();
    // Reached through `..`: the entry is still the base name, never the path.
    let indirect = dir.path().join("a/b/../b/handler.py");
    let source = Source::scan(&indirect, true, &policy(dir.path()))
        .await
        .unwrap();
    let built = source.build(dir.path(), None).await.unwrap();
    assert_eq!(
        entry_names(&fs::read(&built.path).unwrap()),
        vec!["handler.py".to_owned()]
    );

    // A single file whose name would climb out on Windows is refused too.
    let hostile = dir.path().join("..\\evil.py");
    fs::write(&hostile, b"x").unwrap();
    let err = Source::scan(&hostile, true, &policy(dir.path()))
        .await
        .expect_err("backslash name");
    assert!(matches!(err, ArchiveError::UnsafeName { .. }), "{err:?}");
}
