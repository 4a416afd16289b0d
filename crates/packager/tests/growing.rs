//! A zip is uploaded while it is built (its parts go out as the build passes their end), against
//! the in-process S3 server: the object is the zip a build alone writes, and a build that fails
//! half-way leaves nothing in the bucket.

use std::path::Path;

mod common;

use packager::Error;
use test_support::s3::TestS3;
use upload::Uploader;

const BUCKET: &str = "artifacts";
const MIB: usize = 1024 * 1024;

const ROOT: &str = "\
Resources:
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
";

fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// `src/` with 20 MiB of stored (random) files first, then a text file last in the zip.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    for i in 0..5 {
        let path = dir.path().join(format!("src/a{i}.bin"));
        std::fs::write(path, noise(&format!("blob {i}"), 4 * MIB)).unwrap();
    }
    std::fs::write(dir.path().join("src/z.js"), "exports.z = 1;\n".repeat(1000)).unwrap();
    std::fs::write(dir.path().join("template.yml"), ROOT).unwrap();
    dir
}

async fn prepared(dir: &Path) -> packager::Prepared {
    common::prepared(dir, ROOT, false).await
}

async fn uploader(s3: &TestS3) -> Uploader {
    let conn = upload::Connection {
        sdk: Some(s3.sdk_config()),
        ..upload::Connection::default()
    };
    let options = upload::Options {
        multipart_threshold: 5 * MIB as u64,
        part_size: 5 * MIB as u64,
        ..upload::Options::default()
    };
    Uploader::connect(&conn, BUCKET, options).await.unwrap()
}

#[tokio::test]
async fn the_object_is_the_zip_a_build_writes() {
    let s3 = TestS3::start().await;
    s3.create_bucket(BUCKET).await;
    let dir = workspace();
    let packaged = prepared(dir.path())
        .await
        .upload(&uploader(&s3).await, &())
        .await
        .expect("uploaded");
    let [report] = &packaged.uploads[..] else {
        panic!("one upload: {:?}", packaged.uploads);
    };
    // The zip built on its own, by the same rules.
    let policy = archive::Policy {
        boundary: dir.path().to_path_buf(),
        ignore_file: None,
    };
    let source = archive::Source::scan(&dir.path().join("src"), true, &policy)
        .await
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let built = source.build(temp.path(), None).await.unwrap();
    let zip = std::fs::read(&built.path).unwrap();
    assert!(zip.len() > 20 * MIB);
    assert!(s3.object(BUCKET, &report.key).unwrap() == zip);
    assert_eq!(report.zip_sha256, built.sha256);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 1);
    assert_eq!(s3.count_operation("UploadPart"), 5);
}

#[tokio::test]
async fn a_build_that_fails_half_way_stores_nothing() {
    let s3 = TestS3::start().await;
    s3.create_bucket(BUCKET).await;
    let dir = workspace();
    let prepared = prepared(dir.path()).await;
    // Changed after the scan, same size: the build notices when it reaches the last file,
    // after 20 MiB of the zip were written (and parts of it perhaps sent).
    std::fs::write(dir.path().join("src/z.js"), "exports.z = 2;\n".repeat(1000)).unwrap();
    let result = prepared.upload(&uploader(&s3).await, &()).await;
    match result {
        Err(Error::Build { path, source }) => {
            assert!(path.ends_with("src"), "{path:?}");
            assert!(
                matches!(source, archive::ArchiveError::Changed { .. }),
                "{source:?}"
            );
        }
        Err(other) => panic!("expected the build's error, got {other:?}"),
        Ok(_) => panic!("expected the build's error, got an upload"),
    }
    upload::finish_aborts().await;
    assert_eq!(s3.keys(BUCKET), Vec::<String>::new());
    assert_eq!(s3.open_multipart_uploads(), 0);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
}
