//! `Uploader::connect` with the SDK's standard chain reading the environment. The only test in
//! this binary, because it changes process-wide environment variables.

use test_support::s3::TestS3;
use upload::{Connection, Options, UploadError, Uploaded, Uploader};

fn set(name: &str, value: &str) {
    // SAFETY: this binary has a single test; nothing else reads or writes the environment
    // concurrently (the server thread does not touch it).
    unsafe { std::env::set_var(name, value) };
}

fn unset(name: &str) {
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var(name) };
}

#[tokio::test]
async fn connect_reads_region_credentials_and_endpoints_from_env() {
    let s3 = TestS3::start().await;
    s3.create_bucket("envb").await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    for name in [
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ] {
        unset(name);
    }
    set("AWS_CONFIG_FILE", missing);
    set("AWS_SHARED_CREDENTIALS_FILE", missing);
    set("AWS_EC2_METADATA_DISABLED", "true");
    set("AWS_ACCESS_KEY_ID", test_support::s3::ACCESS_KEY);
    set("AWS_SECRET_ACCESS_KEY", test_support::s3::SECRET_KEY);

    // No region anywhere: a clear error.
    unset("AWS_REGION");
    let err = Uploader::connect(&Connection::default(), "envb", Options::default())
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::NoRegion), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no AWS region: pass --region or set AWS_REGION"
    );

    // Region and global endpoint from the environment: path-style requests to the server.
    set("AWS_REGION", "us-east-1");
    set("AWS_ENDPOINT_URL", &s3.endpoint);
    let up = Uploader::connect(&Connection::default(), "envb", Options::default())
        .await
        .unwrap();
    assert_eq!(up.region(), "us-east-1");
    assert_eq!(up.endpoint(), Some(s3.endpoint.as_str()));
    assert_eq!(up.https_url("t.yml"), format!("{}/envb/t.yml", s3.endpoint));
    let res = up
        .put_bytes("t.yml", b"a: 1\n".to_vec(), "application/x-yaml")
        .await
        .unwrap();
    assert_eq!(res, Uploaded::Sent { bytes: 5 });
    assert_eq!(s3.object("envb", "t.yml").unwrap(), b"a: 1\n");
    assert!(
        s3.requests().iter().all(|r| r.path.starts_with("/envb/")),
        "{:?}",
        s3.requests()
    );

    // The S3-specific endpoint wins over the global one.
    set("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    set("AWS_ENDPOINT_URL_S3", &format!("{}/", s3.endpoint));
    let up = Uploader::connect(&Connection::default(), "envb", Options::default())
        .await
        .unwrap();
    assert_eq!(up.endpoint(), Some(s3.endpoint.as_str()));
    assert_eq!(up.size("t.yml").await.unwrap(), Some(5));

    // --region overrides the environment.
    let conn = Connection {
        region: Some("eu-west-3".to_owned()),
        endpoint: None,
        ..Connection::default()
    };
    let up = Uploader::connect(&conn, "envb", Options::default())
        .await
        .unwrap();
    assert_eq!(up.region(), "eu-west-3");
}
