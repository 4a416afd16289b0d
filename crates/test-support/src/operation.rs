//! The one classifier of requests: names the AWS operation a request performs, for the S3
//! server's request log and fault rules and for the fault proxy's rules and log.
//!
//! [`of`] names any request the tests send: the query APIs' form `Action` (CloudFormation, STS:
//! `CreateChangeSet`, `GetCallerIdentity`, ...), Lambda's REST operations on functions (told
//! apart from S3 by the service the SigV4 signature is for), else the S3 operation of a
//! path-style request ([`s3`]: `PutObject`, `UploadPart`, `HeadObject`, ...; `Unknown` when
//! unsure).

use http::{Method, header};

/// The operation a request performs: the query APIs' `Action` (`CreateChangeSet`,
/// `GetCallerIdentity`, ...), the Lambda operation of a request signed for `lambda`
/// (`UpdateFunctionCode`, `GetFunctionConfiguration`, ...), else the S3 operation of a
/// path-style request ([`s3`]).
pub fn of(method: &Method, uri: &http::Uri, headers: &http::HeaderMap, body: &[u8]) -> String {
    if let Some(action) = form_action(headers, body) {
        return action;
    }
    if signed_for(headers) == Some("lambda") {
        return lambda(method, uri.path()).to_owned();
    }
    s3(method, uri.path(), uri.query().unwrap_or(""), headers).to_owned()
}

/// The `Action` of a query-API request (a form body, `application/x-www-form-urlencoded`).
pub(crate) fn form_action(headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .map(str::to_owned)
}

/// The service of a SigV4 signature's credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
pub(crate) fn signed_for(headers: &http::HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    scope.split('/').nth(3)
}

/// Lambda's REST operations on functions (`/2015-03-31/functions/<name>[/<what>]`);
/// `LambdaOther` for the rest.
fn lambda(method: &Method, path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/2015-03-31/functions/") else {
        return "LambdaOther";
    };
    let (name, what) = match rest.split_once('/') {
        Some((name, what)) => (name, Some(what.trim_end_matches('/'))),
        None => (rest, None),
    };
    if name.is_empty() {
        return "LambdaOther";
    }
    match (method.as_str(), what) {
        ("GET", None) => "GetFunction",
        ("PUT", Some("code")) => "UpdateFunctionCode",
        ("GET", Some("configuration")) => "GetFunctionConfiguration",
        ("PUT", Some("configuration")) => "UpdateFunctionConfiguration",
        _ => "LambdaOther",
    }
}

fn has_param(query: &str, name: &str) -> bool {
    query.split('&').any(|p| p.split('=').next() == Some(name))
}

/// The S3 operation of a path-style request (`/bucket/key`) from its method, path, raw query
/// and headers (`x-amz-copy-source` tells copies apart); `Unknown` when unsure.
pub fn s3(method: &Method, path: &str, query: &str, headers: &http::HeaderMap) -> &'static str {
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let has_key = !key.is_empty();
    let q = |n| has_param(query, n);
    let copy = headers.contains_key("x-amz-copy-source");
    match *method {
        Method::HEAD if has_key => "HeadObject",
        Method::HEAD => "HeadBucket",
        Method::GET if bucket.is_empty() => "ListBuckets",
        Method::GET if has_key && q("uploadId") => "ListParts",
        Method::GET if has_key => "GetObject",
        Method::GET if q("uploads") => "ListMultipartUploads",
        Method::GET if q("location") => "GetBucketLocation",
        Method::GET if q("list-type") => "ListObjectsV2",
        Method::GET => "ListObjects",
        Method::PUT if has_key && q("partNumber") && copy => "UploadPartCopy",
        Method::PUT if has_key && q("partNumber") => "UploadPart",
        Method::PUT if has_key && copy => "CopyObject",
        Method::PUT if has_key => "PutObject",
        Method::PUT => "CreateBucket",
        Method::POST if has_key && q("uploads") => "CreateMultipartUpload",
        Method::POST if has_key && q("uploadId") => "CompleteMultipartUpload",
        Method::POST if q("delete") => "DeleteObjects",
        Method::DELETE if has_key && q("uploadId") => "AbortMultipartUpload",
        Method::DELETE if has_key => "DeleteObject",
        Method::DELETE => "DeleteBucket",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// The S3 server's names (its request log and its `Fault` rules).
    #[test]
    fn classifies_operations() {
        let h = http::HeaderMap::new();
        assert_eq!(s3(&Method::PUT, "/b/k/x.zip", "", &h), "PutObject");
        assert_eq!(s3(&Method::PUT, "/b", "", &h), "CreateBucket");
        assert_eq!(
            s3(&Method::PUT, "/b/k", "partNumber=2&uploadId=u", &h),
            "UploadPart"
        );
        assert_eq!(
            s3(&Method::POST, "/b/k", "uploads", &h),
            "CreateMultipartUpload"
        );
        assert_eq!(
            s3(&Method::POST, "/b/k", "uploads=", &h),
            "CreateMultipartUpload"
        );
        assert_eq!(
            s3(&Method::POST, "/b/k", "uploadId=u", &h),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            s3(&Method::DELETE, "/b/k", "uploadId=u", &h),
            "AbortMultipartUpload"
        );
        assert_eq!(s3(&Method::HEAD, "/b/k", "", &h), "HeadObject");
        assert_eq!(s3(&Method::HEAD, "/b", "", &h), "HeadBucket");
        assert_eq!(s3(&Method::GET, "/", "", &h), "ListBuckets");
        assert_eq!(s3(&Method::GET, "/b", "list-type=2", &h), "ListObjectsV2");
        assert_eq!(s3(&Method::GET, "/b", "location", &h), "GetBucketLocation");
        let mut copy = http::HeaderMap::new();
        copy.insert("x-amz-copy-source", HeaderValue::from_static("/b/src"));
        assert_eq!(s3(&Method::PUT, "/b/k", "", &copy), "CopyObject");
        assert_eq!(
            s3(&Method::PUT, "/b/k", "partNumber=1&uploadId=u", &copy),
            "UploadPartCopy"
        );
    }

    /// The fault proxy's names (its rules and log): S3, the query APIs, Lambda.
    #[test]
    fn operations_are_named() {
        let h = http::HeaderMap::new();
        let op = |m: Method, uri: &str| of(&m, &uri.parse().unwrap(), &h, b"");
        assert_eq!(op(Method::POST, "/b/k?uploads"), "CreateMultipartUpload");
        assert_eq!(
            op(Method::POST, "/b/k?uploadId=1"),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            op(Method::PUT, "/b/k?partNumber=1&uploadId=1"),
            "UploadPart"
        );
        assert_eq!(op(Method::GET, "/b?uploads"), "ListMultipartUploads");
        assert_eq!(op(Method::PUT, "/b"), "CreateBucket");
        let mut form = http::HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert_eq!(
            of(
                &Method::POST,
                &"/".parse().unwrap(),
                &form,
                b"Version=2011-06-15&Action=GetCallerIdentity"
            ),
            "GetCallerIdentity"
        );
        // Lambda, told apart from S3 by the service its request is signed for (a bucket may be
        // called 2015-03-31).
        let signed = |service: &str| {
            let mut h = http::HeaderMap::new();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
            );
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
            h
        };
        let lambda = signed("lambda");
        let op = |m: Method, uri: &str, h: &http::HeaderMap| of(&m, &uri.parse().unwrap(), h, b"");
        assert_eq!(
            op(Method::PUT, "/2015-03-31/functions/f/code", &lambda),
            "UpdateFunctionCode"
        );
        assert_eq!(
            op(Method::GET, "/2015-03-31/functions/f", &lambda),
            "GetFunction"
        );
        assert_eq!(
            op(
                Method::GET,
                "/2015-03-31/functions/f/configuration",
                &lambda
            ),
            "GetFunctionConfiguration"
        );
        assert_eq!(
            op(Method::GET, "/2015-03-31/functions/", &lambda),
            "LambdaOther"
        );
        assert_eq!(
            op(Method::PUT, "/2015-03-31/functions/f/code", &signed("s3")),
            "PutObject"
        );
    }

    /// A request the S3 server sees is named the same by both entry points.
    #[test]
    fn both_entry_points_agree_on_s3() {
        let h = http::HeaderMap::new();
        for (method, uri) in [
            (Method::PUT, "/b/k"),
            (Method::GET, "/b?location"),
            (Method::GET, "/b?list-type=2&prefix=a"),
            (Method::DELETE, "/b/k?uploadId=u"),
            (Method::PATCH, "/b/k"),
        ] {
            let parsed: http::Uri = uri.parse().unwrap();
            assert_eq!(
                of(&method, &parsed, &h, b""),
                s3(&method, parsed.path(), parsed.query().unwrap_or(""), &h),
                "{method} {uri}"
            );
        }
    }
}
