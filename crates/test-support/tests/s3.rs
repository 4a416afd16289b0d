//! The in-process S3 server (`test_support::s3`) through the AWS SDK.

use aws_sdk_s3::primitives::ByteStream;
use test_support::s3::{Fault, TestS3};

#[tokio::test]
async fn put_get_and_log() {
    let s3 = TestS3::start().await;
    s3.create_bucket("bkt").await;
    let client = s3.client();
    client
        .put_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(s3.keys("bkt"), vec!["a/b/c.txt".to_owned()]);
    assert_eq!(
        s3.object("bkt", "a/b/c.txt").as_deref(),
        Some(&b"hello"[..])
    );
    let got = client
        .get_object()
        .bucket("bkt")
        .key("a/b/c.txt")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"hello");
    assert_eq!(s3.count_method("PUT"), 1);
    assert_eq!(s3.count_operation("PutObject"), 1);
    assert_eq!(s3.count_operation("GetObject"), 1);
    assert_eq!(s3.write_requests(), 1);
    assert!(
        s3.requests().iter().all(|r| r.status == 200),
        "{:?}",
        s3.requests()
    );
    s3.clear_requests();
    assert!(s3.requests().is_empty());
}

#[tokio::test]
async fn missing_bucket_is_no_such_bucket() {
    let s3 = TestS3::start().await;
    let err = s3
        .client()
        .put_object()
        .bucket("nope")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    let svc = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&svc),
        Some("NoSuchBucket")
    );
    assert!(s3.keys("nope").is_empty());
    assert!(!s3.root.join("nope").exists());
}

#[tokio::test]
async fn injected_fault() {
    let s3 = TestS3::start().await;
    s3.create_bucket("bkt").await;
    s3.inject_fault(Fault::nth("PutObject", 1, 403, "AccessDenied"));
    let client = s3.client();
    let put = |k: &'static str| {
        client
            .put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    put("one").await.unwrap();
    let err = put("two").await.unwrap_err().into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
    put("three").await.unwrap();
    assert_eq!(s3.keys("bkt"), vec!["one".to_owned(), "three".to_owned()]);
    let statuses: Vec<u16> = s3.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 403, 200]);
}

#[test]
fn usable_from_sync_code_and_stops_on_drop() {
    let s3 = TestS3::start_blocking();
    let addr = s3.addr;
    assert!(std::net::TcpStream::connect(addr).is_ok());
    assert!(
        s3.env()
            .iter()
            .any(|(k, v)| *k == "AWS_ENDPOINT_URL" && *v == s3.endpoint)
    );
    let root = s3.root.clone();
    drop(s3);
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert!(!root.exists());
}
