//! Object URLs: `s3://` URIs and the HTTPS URLs CloudFormation accepts for nested templates.

use crate::Uploader;

impl Uploader {
    /// `s3://bucket/key`.
    pub fn s3_uri(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket(), key)
    }

    /// URL CloudFormation accepts for a nested template: with a custom endpoint
    /// `<endpoint>/<bucket>/<key>`, else `https://<bucket>.s3.<region>.amazonaws.com[.cn]/<key>`.
    pub fn https_url(&self, key: &str) -> String {
        https_url(self.endpoint.as_deref(), &self.bucket, &self.region, key)
    }
}

/// The URL form of [`Uploader::https_url`], without a client.
pub fn https_url(endpoint: Option<&str>, bucket: &str, region: &str, key: &str) -> String {
    let key = encode_key(key);
    match endpoint {
        Some(e) => format!("{}/{bucket}/{key}", e.trim_end_matches('/')),
        None => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{bucket}.s3.{region}.{suffix}/{key}")
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_uploader as uploader;

    #[test]
    fn https_url_on_aws() {
        let u = uploader(Some("eu-west-1"), None);
        assert_eq!(u.endpoint(), None);
        assert_eq!(
            u.https_url("manual/addons/api/abc.yml"),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/manual/addons/api/abc.yml"
        );
    }

    #[test]
    fn https_url_in_china() {
        let u = uploader(Some("cn-north-1"), None);
        assert_eq!(
            u.https_url("k/x.yml"),
            "https://my-bucket.s3.cn-north-1.amazonaws.com.cn/k/x.yml"
        );
    }

    #[test]
    fn https_url_with_endpoint() {
        let u = uploader(Some("us-east-1"), Some("http://127.0.0.1:9000/"));
        assert_eq!(u.endpoint(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            u.https_url("a/b.yml"),
            "http://127.0.0.1:9000/my-bucket/a/b.yml"
        );
    }

    #[test]
    fn https_url_percent_encodes() {
        assert_eq!(
            https_url(None, "b", "us-west-2", "a b/c+d~e_f.g-h%"),
            "https://b.s3.us-west-2.amazonaws.com/a%20b/c%2Bd~e_f.g-h%25"
        );
        assert_eq!(
            https_url(Some("http://h"), "b", "r", "é"),
            "http://h/b/%C3%A9"
        );
    }
}
