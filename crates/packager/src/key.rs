//! Object keys in the bucket, written once: `[prefix/]<hex><extension>`. Artifact keys take
//! their hex from the archive's content key ([`archive`] owns that derivation); template keys
//! hash the rendered text, so a template's key is known before (or without) uploading it.

use cfn_yaml::Format;
use upload::Uploaded;

use crate::Error;
use crate::store::Store;

/// `[prefix/]<hex><extension>`, with exactly one `/` after a non-empty prefix.
pub(crate) fn object_key(prefix: &str, hex: &str, extension: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("{hex}{extension}")
    } else {
        format!("{prefix}/{hex}{extension}")
    }
}

/// The extension and content type of a template object.
pub(crate) fn template_kind(format: Format) -> (&'static str, &'static str) {
    match format {
        Format::Json => (".json", "application/json"),
        Format::Yaml => (".yml", "application/x-yaml"),
    }
}

/// The content-addressed key of a template: `[prefix/]<hex>.yml` (`.json`). Known without
/// uploading (e.g. to show what a deploy would change).
pub fn template_key(prefix: &str, text: &str, format: Format) -> String {
    object_key(
        prefix,
        blake3::hash(text.as_bytes()).to_hex().as_str(),
        template_kind(format).0,
    )
}

/// Stores a generated or packaged template under [`template_key`]: skipped when an object is
/// already there, unless `force`. Returns the key and what happened.
pub async fn upload_template(
    store: &impl Store,
    prefix: &str,
    text: &str,
    format: Format,
    force: bool,
) -> Result<(String, Uploaded), Error> {
    let (_, content_type) = template_kind(format);
    let key = template_key(prefix, text, format);
    if !force && store.size(&key).await?.is_some() {
        return Ok((key, Uploaded::Skipped));
    }
    let outcome = store
        .put_bytes(&key, text.as_bytes().to_vec(), content_type)
        .await?;
    Ok((key, outcome))
}

#[cfg(test)]
mod tests {
    #[test]
    fn object_keys_have_one_separator() {
        assert_eq!(super::object_key("", "ab", ""), "ab");
        assert_eq!(super::object_key("a/b/", "ab", ".json"), "a/b/ab.json");
        assert_eq!(super::object_key("/a", "ab", ".yml"), "a/ab.yml");
    }
}
