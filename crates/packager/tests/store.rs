//! The packager over an in-memory [`Store`] (no S3, no network): one upload per distinct
//! object, existing objects left alone, `force`, and templates rendered bottom-up (a nested
//! template's key is in its parent's text, and the nested object holds the rewritten text).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use packager::Store;
use upload::{UploadError, Uploaded};

const ROOT: &str = "\
Resources:
  First:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
  Second:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
  Nested:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: nested.yml
";

const NESTED: &str = "\
Resources:
  Inner:
    Type: AWS::Lambda::Function
    Properties:
      Code: src/
";

/// A bucket in memory that counts what it was asked.
#[derive(Default)]
struct Memory {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Keys put, in order.
    puts: Mutex<Vec<String>>,
    /// Calls of `existing` and `size`.
    checks: AtomicUsize,
    /// Answer `existing` with a listing (else `None`: key by key).
    lists: bool,
}

impl Memory {
    fn with(key: &str, bytes: &[u8]) -> Memory {
        let m = Memory::default();
        m.objects
            .lock()
            .unwrap()
            .insert(key.to_owned(), bytes.to_vec());
        m
    }
    fn store(&self, key: &str, bytes: Vec<u8>) -> Uploaded {
        let n = bytes.len() as u64;
        self.objects.lock().unwrap().insert(key.to_owned(), bytes);
        self.puts.lock().unwrap().push(key.to_owned());
        Uploaded::Sent { bytes: n }
    }
    fn puts(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }
}

impl Store for Memory {
    fn bucket(&self) -> &str {
        "mem"
    }
    fn s3_uri(&self, key: &str) -> String {
        format!("s3://mem/{key}")
    }
    fn https_url(&self, key: &str) -> String {
        format!("https://mem.example/{key}")
    }
    fn existing(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Option<HashMap<String, u64>>, UploadError>> + Send {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let objects = self.objects.lock().unwrap();
        let found = self.lists.then(|| {
            keys.iter()
                .filter_map(|k| objects.get(*k).map(|b| ((*k).to_owned(), b.len() as u64)))
                .collect()
        });
        async move { Ok(found) }
    }
    fn size(&self, key: &str) -> impl Future<Output = Result<Option<u64>, UploadError>> + Send {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let size = self
            .objects
            .lock()
            .unwrap()
            .get(key)
            .map(|b| b.len() as u64);
        async move { Ok(size) }
    }
    fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        let outcome = self.store(key, bytes);
        async move { Ok(outcome) }
    }
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &'static str,
    ) -> impl Future<Output = Result<Uploaded, UploadError>> + Send {
        let bytes = std::fs::read(path).expect("the zip to upload exists");
        let outcome = self.store(key, bytes);
        async move { Ok(outcome) }
    }
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("src/index.py"),
        "def handler(e, c):\n    return 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("template.yml"), ROOT).unwrap();
    std::fs::write(dir.path().join("nested.yml"), NESTED).unwrap();
    dir
}

async fn package(dir: &Path, store: &Memory, force: bool) -> packager::Packaged {
    let prepared = common::prepared(dir, ROOT, force).await;
    prepared.upload(store, &()).await.expect("uploaded")
}

/// The asset key and the nested template's key of a packaged run.
fn keys(packaged: &packager::Packaged) -> (String, String) {
    let key = |kind: packager::ReferenceKind| {
        packaged
            .references
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.key.clone())
            .expect("a reference of that kind")
    };
    (
        key(packager::ReferenceKind::Artifact),
        key(packager::ReferenceKind::Template),
    )
}

#[tokio::test]
async fn one_upload_per_object_and_templates_bottom_up() {
    let dir = workspace();
    let store = Memory::default();
    let packaged = package(dir.path(), &store, false).await;
    let (asset, nested) = keys(&packaged);

    // `src/` is named three times (twice in the root, once in the nested template): one zip.
    let puts = store.puts();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(puts.contains(&asset) && puts.contains(&nested), "{puts:?}");
    assert!(asset.starts_with("p/") && nested.starts_with("p/") && nested.ends_with(".yml"));
    let zip = store.object(&asset).unwrap();
    assert_eq!(&zip[..2], b"PK", "the asset is a zip");
    assert_eq!(packaged.references.len(), 4, "{:?}", packaged.references);

    // Bottom-up: the nested template was rendered (its Code rewritten to the asset) before the
    // root, which names the nested object by the hash of that text.
    let nested_text = String::from_utf8(store.object(&nested).unwrap()).unwrap();
    assert!(
        nested_text.contains(&format!("S3Key: {asset}")),
        "{nested_text}"
    );
    assert!(nested_text.contains("S3Bucket: mem"), "{nested_text}");
    assert_eq!(
        nested,
        packager::template_key("p", &nested_text, cfn_yaml::Format::Yaml),
        "the nested key is the hash of the text stored"
    );
    assert!(
        packaged
            .text
            .contains(&format!("TemplateURL: https://mem.example/{nested}")),
        "{}",
        packaged.text
    );
    assert_eq!(packaged.text.matches(&format!("S3Key: {asset}")).count(), 2);
}

#[tokio::test]
async fn objects_already_there_are_not_uploaded_again() {
    let dir = workspace();
    let first = Memory::default();
    let (asset, nested) = keys(&package(dir.path(), &first, false).await);

    // Key by key (no listing): the asset is there, the nested template is not.
    let store = Memory::with(&asset, b"old bytes");
    let packaged = package(dir.path(), &store, false).await;
    assert_eq!(store.puts(), vec![nested.clone()]);
    let report = packaged.uploads.iter().find(|u| u.key == asset).unwrap();
    assert_eq!(report.outcome, Uploaded::Skipped);
    assert_eq!(report.bytes, 9, "the size of the object found");
    assert_eq!(
        store.object(&asset).unwrap(),
        b"old bytes",
        "left as it was"
    );
    assert!(
        store.checks.load(Ordering::SeqCst) >= 2,
        "asked about each key"
    );

    // With a listing: the same answer.
    let listed = Memory {
        lists: true,
        ..Memory::with(&asset, b"old bytes")
    };
    package(dir.path(), &listed, false).await;
    assert_eq!(listed.puts(), vec![nested]);
}

#[tokio::test]
async fn force_uploads_everything_without_asking() {
    let dir = workspace();
    let first = Memory::default();
    let (asset, nested) = keys(&package(dir.path(), &first, false).await);

    let store = Memory::with(&asset, b"old bytes");
    let packaged = package(dir.path(), &store, true).await;
    let mut puts = store.puts();
    puts.sort();
    let mut want = vec![asset.clone(), nested];
    want.sort();
    assert_eq!(puts, want);
    assert_eq!(store.checks.load(Ordering::SeqCst), 0, "force asks nothing");
    assert_eq!(
        store.object(&asset),
        first.object(&asset),
        "the zip replaced the old bytes"
    );
    assert!(
        packaged
            .uploads
            .iter()
            .all(|u| matches!(u.outcome, Uploaded::Sent { .. }))
    );
}

#[tokio::test]
async fn a_template_already_there_is_skipped_unless_forced() {
    let text = "Resources: {}\n";
    let key = packager::template_key("t", text, cfn_yaml::Format::Yaml);
    let store = Memory::with(&key, b"stale bytes under the content key");

    let (got, outcome) =
        packager::upload_template(&store, "t", text, cfn_yaml::Format::Yaml, false)
            .await
            .unwrap();
    assert_eq!(got, key);
    assert_eq!(outcome, Uploaded::Skipped);
    assert!(
        store.puts().is_empty(),
        "nothing is put when the key exists"
    );

    let (_, outcome) = packager::upload_template(&store, "t", text, cfn_yaml::Format::Yaml, true)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Uploaded::Sent {
            bytes: text.len() as u64
        }
    );
    assert_eq!(store.puts(), vec![key.clone()]);
    assert_eq!(store.object(&key).unwrap(), text.as_bytes());

    let fresh = Memory::default();
    let (_, outcome) = packager::upload_template(&fresh, "t", text, cfn_yaml::Format::Yaml, false)
        .await
        .unwrap();
    assert!(matches!(outcome, Uploaded::Sent { .. }), "{outcome:?}");
    assert_eq!(fresh.puts(), vec![key]);
}
