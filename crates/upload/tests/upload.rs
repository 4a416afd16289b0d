//! Uploads against the in-process S3 server (`test_support::s3`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use test_support::s3::{Fault, TestS3};
use upload::{Connection, Options, Sse, UploadError, Uploaded, Uploader};

const MIB: usize = 1024 * 1024;
const BUCKET: &str = "artifacts";

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn server() -> TestS3 {
    init_tracing();
    let s3 = TestS3::start().await;
    s3.create_bucket(BUCKET).await;
    s3
}

/// An uploader for `bucket` on the test server, built as the cli builds one: from the
/// command's SDK config.
async fn uploader_for(s3: &TestS3, bucket: &str, options: Options) -> Uploader {
    let conn = Connection {
        sdk: Some(s3.sdk_config()),
        ..Connection::default()
    };
    Uploader::connect(&conn, bucket, options).await.unwrap()
}

async fn uploader(s3: &TestS3, options: Options) -> Uploader {
    uploader_for(s3, BUCKET, options).await
}

/// Deterministic, non-repeating-ish content.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The `x-amz-checksum-crc32c` value of `bytes` (base64 of the big-endian CRC), computed with
/// another implementation than the uploader's.
fn crc32c(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(crc32c::crc32c(bytes).to_be_bytes())
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn multipart_options() -> Options {
    Options {
        multipart_threshold: 5 * MIB as u64,
        part_size: 5 * MIB as u64,
        ..Options::default()
    }
}

#[tokio::test]
async fn small_file_is_uploaded_with_one_put() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(100_000);
    let path = write_file(dir.path(), "a.zip", &data);
    let up = uploader(&s3, Options::default()).await;

    let res = up
        .put_file("assets/abc.zip", &path, "application/zip")
        .await
        .unwrap();

    assert_eq!(res, Uploaded::Sent { bytes: 100_000 });
    assert_eq!(up.bytes_sent(), 100_000);
    assert_eq!(s3.object(BUCKET, "assets/abc.zip").unwrap(), data);
    assert_eq!(
        s3.count_operation("HeadObject"),
        0,
        "a put never checks first"
    );
    assert_eq!(s3.count_operation("PutObject"), 1);
    assert_eq!(s3.write_requests(), 1);
    let put = s3
        .requests()
        .into_iter()
        .find(|r| r.operation == "PutObject")
        .unwrap();
    assert_eq!(put.status, 200);
    assert_eq!(put.header("content-type"), Some("application/zip"));
    assert_eq!(put.header("x-amz-acl"), Some("bucket-owner-full-control"));
    // The CRC32C of the bytes, as a plain header: no aws-chunked body with a trailer (which
    // LocalStack and other S3 implementations refuse).
    assert_eq!(
        put.header("x-amz-checksum-crc32c"),
        Some(crc32c(&data).as_str()),
        "{:?}",
        put.headers
    );
    assert_eq!(put.header("x-amz-trailer"), None, "{:?}", put.headers);
    assert!(
        !put.header("content-encoding")
            .unwrap_or("")
            .contains("aws-chunked"),
        "{:?}",
        put.headers
    );
    assert_eq!(put.header("content-length"), Some("100000"));
    assert_eq!(up.size("assets/abc.zip").await.unwrap(), Some(100_000));
}

#[tokio::test]
async fn size_is_the_stored_object_size_or_none() {
    let s3 = server().await;
    s3.put_object_blocking(BUCKET, "k/present.zip", &[7u8; 1234]);
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.size("k/present.zip").await.unwrap(), Some(1234));
    assert_eq!(up.size("k/absent.zip").await.unwrap(), None);
    assert_eq!(s3.count_operation("HeadObject"), 2);
}

#[tokio::test]
async fn put_replaces_an_existing_object_without_asking() {
    // Whether to skip a present key is the caller's decision (packager's existence check):
    // a put always sends, and never checks first.
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    s3.put_object_blocking(BUCKET, "k/a.zip", b"old");
    let path = write_file(dir.path(), "a.zip", b"new bytes");
    let up = uploader(&s3, Options::default()).await;

    let res = up
        .put_file("k/a.zip", &path, "application/zip")
        .await
        .unwrap();

    assert_eq!(res, Uploaded::Sent { bytes: 9 });
    assert_eq!(s3.object(BUCKET, "k/a.zip").unwrap(), b"new bytes");
    assert_eq!(s3.count_operation("HeadObject"), 0);
    assert_eq!(s3.count_operation("PutObject"), 1);
}

#[tokio::test]
async fn large_file_uses_multipart() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(20 * MIB + 12_345);
    let path = write_file(dir.path(), "big.zip", &data);
    let mut meta = BTreeMap::new();
    meta.insert("team".to_owned(), "platform".to_owned());
    let up = uploader(
        &s3,
        Options {
            metadata: meta,
            ..multipart_options()
        },
    )
    .await;

    let res = up
        .put_file("big/x.zip", &path, "application/zip")
        .await
        .unwrap();
    assert_eq!(
        up.bytes_sent(),
        data.len() as u64,
        "every part counted once"
    );

    assert_eq!(
        res,
        Uploaded::Sent {
            bytes: data.len() as u64
        }
    );
    assert!(
        s3.object(BUCKET, "big/x.zip").unwrap() == data,
        "object bytes differ"
    );
    assert_eq!(s3.count_operation("CreateMultipartUpload"), 1);
    assert_eq!(s3.count_operation("UploadPart"), 5); // 4 full parts + a short one
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 1);
    assert_eq!(s3.count_operation("PutObject"), 0);
    assert_eq!(s3.count_operation("AbortMultipartUpload"), 0);
    assert_eq!(s3.open_multipart_uploads(), 0);
    let reqs = s3.requests();
    assert!(
        reqs.iter()
            .filter(|r| r.operation != "HeadObject")
            .all(|r| r.status == 200),
        "{reqs:?}"
    );
    let create = reqs
        .iter()
        .find(|r| r.operation == "CreateMultipartUpload")
        .unwrap();
    assert_eq!(create.header("x-amz-checksum-algorithm"), Some("CRC32C"));
    let mut part_numbers: Vec<u32> = reqs
        .iter()
        .filter(|r| r.operation == "UploadPart")
        .map(|r| {
            r.query
                .split('&')
                .find_map(|p| p.strip_prefix("partNumber="))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    part_numbers.sort_unstable();
    assert_eq!(part_numbers, vec![1, 2, 3, 4, 5]);
    // Each part carries the CRC32C of its own bytes as a plain header.
    for part in reqs.iter().filter(|r| r.operation == "UploadPart") {
        let n: usize = part
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("partNumber="))
            .unwrap()
            .parse()
            .unwrap();
        let bytes = &data[(n - 1) * 5 * MIB..(n * 5 * MIB).min(data.len())];
        assert_eq!(
            part.header("x-amz-checksum-crc32c"),
            Some(crc32c(bytes).as_str()),
            "part {n}: {:?}",
            part.headers
        );
        assert_eq!(part.header("x-amz-trailer"), None, "part {n}");
    }

    let head = s3
        .client()
        .head_object()
        .bucket(BUCKET)
        .key("big/x.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/zip"));
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(
        head.metadata().unwrap().get("team").map(String::as_str),
        Some("platform")
    );
}

#[tokio::test]
async fn file_at_threshold_is_single_put() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(5 * MIB);
    let path = write_file(dir.path(), "edge.zip", &data);
    let up = uploader(&s3, multipart_options()).await;
    up.put_file("edge.zip", &path, "application/zip")
        .await
        .unwrap();
    assert_eq!(s3.count_operation("PutObject"), 1);
    assert_eq!(s3.count_operation("CreateMultipartUpload"), 0);
    assert!(s3.object(BUCKET, "edge.zip").unwrap() == data);
}

#[tokio::test]
async fn metadata_content_type_and_options_are_sent() {
    let s3 = server().await;
    let mut meta = BTreeMap::new();
    meta.insert("source".to_owned(), "copilot-lite".to_owned());
    meta.insert("svc".to_owned(), "api".to_owned());
    let up = uploader(
        &s3,
        Options {
            metadata: meta,
            sse: Some(Sse::Aes256),
            owner_full_control_acl: false,
            ..Options::default()
        },
    )
    .await;

    let res = up
        .put_bytes(
            "manual/addons/api/t.yml",
            b"Resources: {}\n".to_vec(),
            "application/x-yaml",
        )
        .await
        .unwrap();

    assert_eq!(res, Uploaded::Sent { bytes: 14 });
    assert_eq!(
        s3.object(BUCKET, "manual/addons/api/t.yml").unwrap(),
        b"Resources: {}\n"
    );
    let put = s3
        .requests()
        .into_iter()
        .find(|r| r.operation == "PutObject")
        .unwrap();
    assert_eq!(put.header("x-amz-server-side-encryption"), Some("AES256"));
    assert_eq!(put.header("x-amz-acl"), None);
    assert_eq!(put.header("x-amz-meta-source"), Some("copilot-lite"));
    let head = s3
        .client()
        .head_object()
        .bucket(BUCKET)
        .key("manual/addons/api/t.yml")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-yaml"));
    let m = head.metadata().unwrap();
    assert_eq!(m.get("source").map(String::as_str), Some("copilot-lite"));
    assert_eq!(m.get("svc").map(String::as_str), Some("api"));
}

#[tokio::test]
async fn kms_and_expected_owner_headers() {
    let s3 = server().await;
    let up = uploader(
        &s3,
        Options {
            sse: Some(Sse::Kms {
                key_id: Some("alias/app".to_owned()),
            }),
            expected_owner: Some("123456789012".to_owned()),
            ..Options::default()
        },
    )
    .await;
    up.put_bytes("t.yml", b"x".to_vec(), "application/x-yaml")
        .await
        .unwrap();
    let put = s3
        .requests()
        .into_iter()
        .find(|r| r.operation == "PutObject")
        .unwrap();
    assert_eq!(put.header("x-amz-server-side-encryption"), Some("aws:kms"));
    assert_eq!(
        put.header("x-amz-server-side-encryption-aws-kms-key-id"),
        Some("alias/app")
    );
    assert_eq!(
        put.header("x-amz-expected-bucket-owner"),
        Some("123456789012")
    );
}

#[tokio::test]
async fn missing_bucket_is_a_friendly_error() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "a.zip", b"data");
    let up = uploader_for(&s3, "no-such-bucket", Options::default()).await;

    let err = up
        .put_file("a.zip", &path, "application/zip")
        .await
        .unwrap_err();

    match &err {
        UploadError::NoSuchBucket { bucket, region } => {
            assert_eq!(bucket, "no-such-bucket");
            assert_eq!(region, "us-east-1");
        }
        other => panic!("expected NoSuchBucket, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "bucket no-such-bucket does not exist (or is not in region us-east-1)"
    );
    assert!(s3.keys("no-such-bucket").is_empty());
}

#[tokio::test]
async fn head_forbidden_counts_as_absent_and_uploads() {
    let s3 = server().await;
    s3.put_object_blocking(BUCKET, "k.zip", b"old");
    s3.inject_fault(Fault::always("HeadObject", 403, "AccessDenied"));
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.size("k.zip").await.unwrap(), None);
    let res = up
        .put_bytes("k.zip", b"new".to_vec(), "application/zip")
        .await
        .unwrap();
    assert_eq!(res, Uploaded::Sent { bytes: 3 });
    assert_eq!(s3.object(BUCKET, "k.zip").unwrap(), b"new");
}

#[tokio::test]
async fn put_denied_is_access_denied() {
    let s3 = server().await;
    s3.inject_fault(Fault::always("PutObject", 403, "AccessDenied"));
    let up = uploader(&s3, Options::default()).await;
    let err = up
        .put_bytes("k.zip", b"x".to_vec(), "application/zip")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UploadError::AccessDenied { bucket, key, .. } if bucket == BUCKET && key == "k.zip"),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_errors_name_operation_bucket_and_key() {
    let s3 = server().await;
    s3.inject_fault(Fault::always("HeadObject", 400, "InvalidArgument"));
    let up = uploader(&s3, Options::default()).await;
    let err = up.size("some/key").await.unwrap_err();
    match &err {
        UploadError::S3 {
            op, bucket, key, ..
        } => {
            assert_eq!(*op, "HeadObject");
            assert_eq!(bucket, BUCKET);
            assert_eq!(key, "some/key");
        }
        other => panic!("expected S3 error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("HeadObject s3://artifacts/some/key: "),
        "{err}"
    );
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let s3 = server().await;
    s3.inject_fault(Fault::nth("PutObject", 0, 503, "SlowDown"));
    let up = uploader(&s3, Options::default()).await;
    let res = up
        .put_bytes("r.yml", b"retry me".to_vec(), "application/x-yaml")
        .await
        .unwrap();
    assert_eq!(res, Uploaded::Sent { bytes: 8 });
    assert_eq!(s3.count_operation("PutObject"), 2);
    assert_eq!(s3.object(BUCKET, "r.yml").unwrap(), b"retry me");
}

#[tokio::test]
async fn failed_part_aborts_the_multipart_upload() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(20 * MIB);
    let path = write_file(dir.path(), "big.zip", &data);
    // The third part to arrive is refused (non-retryable).
    s3.inject_fault(Fault::nth("UploadPart", 2, 403, "AccessDenied"));
    let up = uploader(&s3, multipart_options()).await;

    let err = up
        .put_file("big/fail.zip", &path, "application/zip")
        .await
        .unwrap_err();

    assert!(matches!(err, UploadError::AccessDenied { .. }), "{err:?}");
    assert_eq!(s3.count_operation("CreateMultipartUpload"), 1);
    assert_eq!(s3.count_operation("AbortMultipartUpload"), 1);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
    let abort = s3
        .requests()
        .into_iter()
        .find(|r| r.operation == "AbortMultipartUpload")
        .unwrap();
    assert_eq!(abort.status, 204, "{abort:?}");
    assert_eq!(s3.open_multipart_uploads(), 0);
    assert_eq!(s3.object(BUCKET, "big/fail.zip"), None);
}

#[tokio::test]
async fn file_shrinking_during_upload_aborts() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(12 * MIB);
    let path = write_file(dir.path(), "shrinks.zip", &data);
    let hook_path = path.clone();
    // Once the upload is created (size already measured), the file loses its tail.
    s3.on_request(move |req| {
        if req.operation == "CreateMultipartUpload" {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&hook_path)
                .unwrap()
                .set_len(1024)
                .unwrap();
        }
    });
    let up = uploader(&s3, multipart_options()).await;

    let err = up
        .put_file("big/shrunk.zip", &path, "application/zip")
        .await
        .unwrap_err();

    match &err {
        UploadError::Io { path: p, .. } => assert_eq!(p, &path),
        other => panic!("expected Io error, got {other:?}"),
    }
    assert_eq!(s3.count_operation("AbortMultipartUpload"), 1);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
    assert_eq!(s3.open_multipart_uploads(), 0);
    assert_eq!(s3.object(BUCKET, "big/shrunk.zip"), None);
}

#[tokio::test]
async fn upload_bytes_above_threshold_uses_multipart() {
    let s3 = server().await;
    let data = pattern(11 * MIB);
    let up = uploader(&s3, multipart_options()).await;
    let res = up
        .put_bytes("mem.bin", data.clone(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(
        res,
        Uploaded::Sent {
            bytes: data.len() as u64
        }
    );
    assert_eq!(s3.count_operation("UploadPart"), 3);
    assert!(s3.object(BUCKET, "mem.bin").unwrap() == data);
}

#[tokio::test]
async fn missing_file_is_io_error_naming_the_path() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.zip");
    let up = uploader(&s3, Options::default()).await;
    let err = up
        .put_file("a.zip", &path, "application/zip")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UploadError::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("absent.zip"));
    assert!(s3.requests().is_empty());
}

#[tokio::test]
async fn connect_with_endpoint_override() {
    let s3 = server().await;
    let conn = Connection {
        region: Some("eu-central-1".to_owned()),
        endpoint: Some(format!("{}/", s3.endpoint)),
        ..Connection::default()
    };
    let up = Uploader::connect(&conn, BUCKET, Options::default())
        .await
        .unwrap();
    assert_eq!(up.region(), "eu-central-1");
    assert_eq!(up.endpoint(), Some(s3.endpoint.as_str()));
    assert_eq!(
        up.https_url("a/b.yml"),
        format!("{}/{BUCKET}/a/b.yml", s3.endpoint)
    );
    assert_eq!(up.s3_uri("a/b.yml"), "s3://artifacts/a/b.yml");
}

#[tokio::test]
async fn connect_on_aws_builds_virtual_hosted_url() {
    let conn = Connection {
        region: Some("cn-northwest-1".to_owned()),
        endpoint: None,
        ..Connection::default()
    };
    let up = Uploader::connect(&conn, "b", Options::default())
        .await
        .unwrap();
    // Only meaningful when no endpoint comes from the environment.
    if up.endpoint().is_none() {
        assert_eq!(
            up.https_url("k.yml"),
            "https://b.s3.cn-northwest-1.amazonaws.com.cn/k.yml"
        );
    }
}

// ---------------------------------------------------------------- existence by listing

fn keys_in(folder: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{folder}{i:03}.zip")).collect()
}

fn refs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn existing_lists_each_folder_once() {
    let s3 = server().await;
    // 61 keys: a budget of four pages for three folders.
    let mut keys = keys_in("a/assets/", 40);
    keys.extend(keys_in("b/", 20));
    keys.push("top.zip".to_owned());
    for key in keys.iter().step_by(3) {
        s3.put_object_blocking(BUCKET, key, b"x");
    }
    // Not asked about: in a subfolder, or another name in the folder.
    s3.put_object_blocking(BUCKET, "a/assets/deeper/000.zip", b"x");
    s3.put_object_blocking(BUCKET, "a/assets/other.zip", b"x");
    let up = uploader(
        &s3,
        Options {
            expected_owner: Some("123456789012".to_owned()),
            ..Options::default()
        },
    )
    .await;

    let found = up.existing(&refs(&keys)).await.unwrap().expect("listed");

    let expected: std::collections::HashMap<String, u64> =
        keys.iter().step_by(3).map(|k| (k.clone(), 1)).collect();
    assert_eq!(
        found, expected,
        "the keys asked about that exist, with their sizes"
    );
    let requests = s3.requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| r.operation == "ListObjectsV2")
        .collect();
    assert_eq!(
        lists.len(),
        3,
        "one listing per folder: a/assets/, b/, the root"
    );
    assert_eq!(requests.len(), 3, "nothing but the listings");
    for list in lists {
        assert_eq!(
            list.headers
                .get("x-amz-expected-bucket-owner")
                .map(String::as_str),
            Some("123456789012")
        );
        assert!(list.query.contains("delimiter=%2F"), "{}", list.query);
    }
}

#[tokio::test]
async fn existing_leaves_few_keys_to_head_object() {
    let s3 = server().await;
    let keys = keys_in("assets/", upload::LIST_MIN_KEYS - 1);
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.existing(&refs(&keys)).await.unwrap(), None);
    assert!(s3.requests().is_empty());
}

#[tokio::test]
async fn existing_gives_up_when_listing_is_refused() {
    let s3 = server().await;
    s3.inject_fault(Fault::always("ListObjectsV2", 403, "AccessDenied"));
    let keys = keys_in("assets/", 30);
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.existing(&refs(&keys)).await.unwrap(), None);
    // A refusal is not retried.
    assert_eq!(s3.count_operation("ListObjectsV2"), 1);
}

#[tokio::test]
async fn existing_gives_up_on_a_crowded_folder() {
    let s3 = server().await;
    // 40 keys allow two pages; the folder holds 2,100 other objects (three pages).
    let keys = keys_in("assets/", 40);
    for i in 0..2_100 {
        s3.put_object_blocking(BUCKET, &format!("assets/old-{i:05}.zip"), b"");
    }
    s3.put_object_blocking(BUCKET, &keys[0], b"x");
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.existing(&refs(&keys)).await.unwrap(), None);
    assert_eq!(s3.count_operation("ListObjectsV2"), 3);
    // Within budget, the same folder is listed to the end.
    let many = keys_in("assets/", 200);
    let found = up.existing(&refs(&many)).await.unwrap().expect("listed");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        [(keys[0].clone(), 1)]
    );
}

#[tokio::test]
async fn existing_in_a_missing_bucket_is_no_such_bucket() {
    let s3 = server().await;
    let up = uploader_for(&s3, "no-such-bucket", Options::default()).await;
    let keys = keys_in("assets/", 20);
    let err = up.existing(&refs(&keys)).await.unwrap_err();
    assert!(matches!(err, UploadError::NoSuchBucket { .. }), "{err:?}");
}

#[tokio::test]
async fn existing_does_not_list_many_small_folders() {
    let s3 = server().await;
    // 20 keys in 20 folders: listing would cost as much as checking each key.
    let keys: Vec<String> = (0..20).map(|i| format!("f{i}/a.zip")).collect();
    let up = uploader(&s3, Options::default()).await;
    assert_eq!(up.existing(&refs(&keys)).await.unwrap(), None);
    assert!(s3.requests().is_empty());
}

// ---------------------------------------------------------------- files uploaded while written

/// Waits (a bounded time) until `up` has sent at least `bytes`.
async fn until_sent(up: &Uploader, bytes: u64) {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while up.bytes_sent() < bytes {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "only {} of {bytes} bytes sent before the file was complete",
        up.bytes_sent()
    );
}

fn growing(path: &Path, ready: usize, complete: bool) -> upload::Growing {
    upload::Growing {
        path: Some(path.to_path_buf()),
        ready: ready as u64,
        complete,
    }
}

#[tokio::test]
async fn a_growing_file_is_sent_while_it_is_written() {
    use std::io::Write;
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(17 * MIB + 321);
    let path = dir.path().join("growing.zip");
    let up = uploader(&s3, multipart_options()).await;
    let (tell, file) = tokio::sync::watch::channel(upload::Growing::default());
    let writer = async {
        let mut out = std::fs::File::create(&path).unwrap();
        out.write_all(&data[..11 * MIB]).unwrap();
        tell.send_replace(growing(&path, 11 * MIB, false));
        // The two parts below 11 MiB go out before the rest is written: the upload does not
        // wait for the end of the file (it would wait forever here).
        until_sent(&up, 10 * MIB as u64).await;
        assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
        out.write_all(&data[11 * MIB..]).unwrap();
        tell.send_replace(growing(&path, data.len(), true));
    };
    let bound = 2 * data.len() as u64;
    let upload = up.put_growing("big/growing.zip", "application/zip", bound, file);
    let ((), res) = tokio::join!(writer, upload);
    assert_eq!(
        res.unwrap(),
        Uploaded::Sent {
            bytes: data.len() as u64
        }
    );
    assert!(s3.object(BUCKET, "big/growing.zip").unwrap() == data);
    assert_eq!(up.bytes_sent(), data.len() as u64);
    assert_eq!(s3.count_operation("UploadPart"), 4); // 3 parts of 5 MiB and the rest
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 1);
    assert_eq!(s3.count_operation("PutObject"), 0);
    assert_eq!(s3.open_multipart_uploads(), 0);
}

#[tokio::test]
async fn a_growing_file_never_completed_stores_nothing() {
    use std::io::Write;
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(12 * MIB);
    let path = dir.path().join("failed.zip");
    let up = uploader(&s3, multipart_options()).await;
    let (tell, file) = tokio::sync::watch::channel(upload::Growing::default());
    let writer = async {
        let mut out = std::fs::File::create(&path).unwrap();
        out.write_all(&data).unwrap();
        tell.send_replace(growing(&path, data.len(), false));
        until_sent(&up, 10 * MIB as u64).await;
        // The writer fails: it goes away without completing the file.
        drop(tell);
    };
    let upload = up.put_growing("big/failed.zip", "application/zip", 1 << 30, file);
    let ((), res) = tokio::join!(writer, upload);
    match res {
        Err(UploadError::Incomplete { bucket, key }) => {
            assert_eq!((bucket.as_str(), key.as_str()), (BUCKET, "big/failed.zip"))
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert_eq!(s3.count_operation("AbortMultipartUpload"), 1);
    assert_eq!(s3.count_operation("CompleteMultipartUpload"), 0);
    assert_eq!(s3.open_multipart_uploads(), 0);
    assert_eq!(s3.object(BUCKET, "big/failed.zip"), None);
}

#[tokio::test]
async fn a_growing_file_done_below_the_threshold_is_one_put() {
    let s3 = server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(3 * MIB);
    let path = write_file(dir.path(), "small.zip", &data);
    let up = uploader(&s3, multipart_options()).await;
    let (tell, file) = tokio::sync::watch::channel(growing(&path, MIB, false));
    let writer = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tell.send_replace(growing(&path, data.len(), true));
    };
    let upload = up.put_growing("small.zip", "application/zip", 1 << 30, file);
    let ((), res) = tokio::join!(writer, upload);
    assert_eq!(
        res.unwrap(),
        Uploaded::Sent {
            bytes: data.len() as u64
        }
    );
    assert!(s3.object(BUCKET, "small.zip").unwrap() == data);
    assert_eq!(s3.count_operation("PutObject"), 1);
    assert_eq!(s3.count_operation("CreateMultipartUpload"), 0);
    // Never completed, nothing written: nothing sent.
    let (tell, file) = tokio::sync::watch::channel(upload::Growing::default());
    drop(tell);
    assert!(matches!(
        up.put_growing("never.zip", "application/zip", 1 << 30, file)
            .await,
        Err(UploadError::Incomplete { .. })
    ));
    assert_eq!(s3.object(BUCKET, "never.zip"), None);
    assert_eq!(s3.count_operation("PutObject"), 1);
}
