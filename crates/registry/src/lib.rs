//! The packageable-property registry.
//!
//! Owns: the one data table ([`RULES`]) of which resource properties may point at local
//! artifacts and how each is rewritten (SPEC A3, B §1); finding those property nodes in a parsed
//! template ([`candidates`]): resources, `Fn::ForEach::` entries, `AWS::Include` transforms in
//! long form and as `!Transform`, ServerlessRepo metadata; the local-path rule (SPEC A4,
//! [`classify`]) and where such a path points, lexically, with the workspace confinement
//! ([`resolve`]).
//!
//! Must not know about: the file system, zips, S3, or the terminal. It answers "which nodes,
//! and what kind of value is there", nothing more.

use cfn_yaml::{Node, NodeKind, ScalarStyle, Template};

mod path;
pub use path::{PathError, normalize, resolve};

/// How a rewritten property is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The string `s3://bucket/key`.
    Uri,
    /// A mapping `{<bucket>: bucket, <key>: key}`; `version` names the object-version key
    /// the property accepts, filled only from a user-written `s3://b/k?versionId=v` (uploads
    /// never produce a version).
    Map {
        bucket: &'static str,
        key: &'static str,
        version: Option<&'static str>,
    },
    /// An https URL (what CloudFormation accepts for a template location).
    Https,
}

impl Form {
    /// The mapping a user-written `s3://bucket/key[?versionId=v]` becomes on a property of
    /// this form (as `aws cloudformation package` writes it): bucket and key, then the version
    /// when the URL has one and the form has a version key (else it is dropped). `None` for
    /// string forms, where the URL stays as written.
    pub fn s3_entries(&self, url: &S3Url) -> Option<Vec<(String, String)>> {
        let Form::Map {
            bucket,
            key,
            version,
        } = *self
        else {
            return None;
        };
        let mut entries = vec![
            (bucket.to_string(), url.bucket.clone()),
            (key.to_string(), url.key.clone()),
        ];
        if let (Some(name), Some(v)) = (version, &url.version) {
            entries.push((name.to_string(), v.clone()));
        }
        Some(entries)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Resource type, e.g. `AWS::Lambda::Function`; [`INCLUDE`] and [`SERVERLESS_REPO`] for the
    /// two template-wide sites.
    pub resource_type: &'static str,
    /// Dotted property path under `Properties`; `*` matches any key
    /// (e.g. `Resolvers.*.*.CodeUri`).
    pub property: &'static str,
    pub form: Form,
    /// A single file must be zipped (unless it already is a zip archive).
    pub force_zip: bool,
    /// The artifact is a CloudFormation template, packaged recursively before upload.
    pub recursive: bool,
    /// Only a file is valid here: a folder is an error.
    pub file_only: bool,
}

/// Pseudo resource type of `AWS::Include` transform rows.
pub const INCLUDE: &str = "AWS::Include";
/// Pseudo resource type of the ServerlessRepo metadata rows.
pub const SERVERLESS_REPO: &str = "AWS::ServerlessRepo::Application";

const fn map(bucket: &'static str, key: &'static str, version: &'static str) -> Form {
    Form::Map {
        bucket,
        key,
        version: Some(version),
    }
}
/// `{S3Bucket, S3Key, S3ObjectVersion}` (Lambda).
const S3_BUCKET_KEY: Form = map("S3Bucket", "S3Key", "S3ObjectVersion");
/// `{Bucket, Key, Version}` (API Gateway, Step Functions).
const BUCKET_KEY: Form = map("Bucket", "Key", "Version");

const fn row(resource_type: &'static str, property: &'static str, form: Form) -> Rule {
    Rule {
        resource_type,
        property,
        form,
        force_zip: false,
        recursive: false,
        file_only: false,
    }
}
const fn zip(rule: Rule) -> Rule {
    Rule {
        force_zip: true,
        ..rule
    }
}
const fn file(rule: Rule) -> Rule {
    Rule {
        file_only: true,
        ..rule
    }
}
const fn template(rule: Rule) -> Rule {
    Rule {
        recursive: true,
        file_only: true,
        ..rule
    }
}

/// The table (SPEC B §1; row numbers in comments). Adding a packageable property is adding a
/// row. Image rows (2, 5) are out of scope.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    /* 1 */ zip(row("AWS::Lambda::Function", "Code", S3_BUCKET_KEY)),
    /* 3 */ zip(row("AWS::Lambda::LayerVersion", "Content", S3_BUCKET_KEY)),
    /* 4 */ zip(row("AWS::Serverless::Function", "CodeUri", Form::Uri)),
    /* 6 */ zip(row("AWS::Serverless::LayerVersion", "ContentUri", Form::Uri)),
    /* 7 */ row("AWS::Serverless::Api", "DefinitionUri", Form::Uri),
    /* 8 */ row("AWS::Serverless::HttpApi", "DefinitionUri", Form::Uri),
    /* 9 */ row("AWS::Serverless::StateMachine", "DefinitionUri", BUCKET_KEY),
    /* 10 */ template(row("AWS::Serverless::Application", "Location", Form::Https)),
    /* 11 */ row("AWS::Serverless::GraphQLApi", "SchemaUri", Form::Uri),
    /* 11 */ row("AWS::Serverless::GraphQLApi", "Resolvers.*.*.CodeUri", Form::Uri),
    /* 11 */ row("AWS::Serverless::GraphQLApi", "Functions.*.CodeUri", Form::Uri),
    /* 12 */ row("AWS::ApiGateway::RestApi", "BodyS3Location", BUCKET_KEY),
    /* 13 */ row("AWS::ApiGatewayV2::Api", "BodyS3Location", BUCKET_KEY),
    /* 14 */ row("AWS::AppSync::GraphQLSchema", "DefinitionS3Location", Form::Uri),
    /* 15 */ row("AWS::AppSync::Resolver", "RequestMappingTemplateS3Location", Form::Uri),
    /* 15 */ row("AWS::AppSync::Resolver", "ResponseMappingTemplateS3Location", Form::Uri),
    /* 16 */ row("AWS::AppSync::Resolver", "CodeS3Location", Form::Uri),
    /* 17 */ row("AWS::AppSync::FunctionConfiguration", "RequestMappingTemplateS3Location", Form::Uri),
    /* 17 */ row("AWS::AppSync::FunctionConfiguration", "ResponseMappingTemplateS3Location", Form::Uri),
    /* 18 */ row("AWS::AppSync::FunctionConfiguration", "CodeS3Location", Form::Uri),
    /* 19 */ row("AWS::ElasticBeanstalk::ApplicationVersion", "SourceBundle", Form::Map { bucket: "S3Bucket", key: "S3Key", version: None }),
    /* 20 */ template(row("AWS::CloudFormation::Stack", "TemplateURL", Form::Https)),
    /* 21 */ file(row("AWS::CloudFormation::StackSet", "TemplateURL", Form::Https)),
    /* 22 */ row("AWS::Glue::Job", "Command.ScriptLocation", Form::Uri),
    /* 23 */ row("AWS::StepFunctions::StateMachine", "DefinitionS3Location", BUCKET_KEY),
    /* 24 */ zip(row("AWS::CodeCommit::Repository", "Code.S3", map("Bucket", "Key", "ObjectVersion"))),
    /* 25 */ row("AWS::CloudFormation::ModuleVersion", "ModulePackage", Form::Uri),
    /* 26 */ row("AWS::CloudFormation::ResourceVersion", "SchemaHandlerPackage", Form::Uri),
    /* 27 */ file(row(INCLUDE, "Location", Form::Uri)),
    /* 28 */ file(row(SERVERLESS_REPO, "LicenseUrl", Form::Uri)),
    /* 28 */ file(row(SERVERLESS_REPO, "ReadmeUrl", Form::Uri)),
];

/// Where a candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site<'t> {
    /// A resource property: `Resources.<logical_id>.Properties.<property>`.
    Resource {
        logical_id: &'t str,
        resource_type: &'t str,
    },
    /// `Parameters.Location` of an `AWS::Include` transform; `within` is the logical ID of the
    /// resource (or the top-level section) that contains it.
    Include { within: &'t str },
    /// `Metadata.AWS::ServerlessRepo::Application.<property>`.
    ServerlessRepo,
}

impl Site<'_> {
    /// The name to show in messages: the logical ID, or the template-wide site.
    pub fn name(&self) -> &str {
        match self {
            Site::Resource { logical_id, .. } => logical_id,
            Site::Include { within } => within,
            Site::ServerlessRepo => SERVERLESS_REPO,
        }
    }
}

/// What a candidate value is (SPEC A4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'t> {
    /// A local path to package (the decoded string as written).
    Local(&'t str),
    /// Not ours to touch: tagged, an alias, a mapping or sequence, empty or null, or a
    /// `scheme://...` location.
    Skip,
    /// A number or boolean where a path is expected.
    NotAPath { found: &'static str },
    /// An `s3://bucket/key[?versionId=v]` string on a property whose rule writes a mapping
    /// ([`Form::Map`]): nothing to upload, but the string must become that mapping
    /// (as `aws cloudformation package` does).
    S3(S3Url),
    /// An `s3://` string on a [`Form::Map`] property that names no bucket or no key.
    BadS3Url { reason: &'static str },
}

/// A parsed `s3://bucket/key[?versionId=v]` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
    /// The `versionId` query parameter, when there is exactly one with a non-empty value.
    pub version: Option<String>,
}

/// A property node that may hold a local artifact.
#[derive(Debug, Clone)]
pub struct Candidate<'t> {
    pub site: Site<'t>,
    /// Dotted path of the property with concrete keys, e.g. `Code`, `Command.ScriptLocation`,
    /// `Resolvers.Query.getPost.CodeUri`, or `Fn::Transform.Parameters.Location`.
    pub property: String,
    pub rule: &'static Rule,
    pub node: &'t Node,
    pub value: Value<'t>,
}

/// Rules for a resource type, in table order.
pub fn rules_for(resource_type: &str) -> impl Iterator<Item = &'static Rule> + '_ {
    RULES
        .iter()
        .filter(move |r| r.resource_type == resource_type)
}

/// Every candidate of `template`, in document order.
pub fn candidates(template: &Template) -> Vec<Candidate<'_>> {
    let root = template.root();
    let mut out = Vec::new();
    if let Some(resources) = root.get("Resources") {
        resource_candidates(resources, &mut out);
    }
    for (key, value) in root.entries() {
        let Some(section) = key.as_scalar() else {
            continue;
        };
        if section != "Parameters" {
            include_candidates(value, section, &mut out);
        }
    }
    if let Some(meta) = root.get_path(&["Metadata", SERVERLESS_REPO]) {
        for rule in rules_for(SERVERLESS_REPO) {
            if let Some(node) = meta.get(rule.property) {
                out.push(candidate(
                    Site::ServerlessRepo,
                    rule.property.into(),
                    rule,
                    node,
                ));
            }
        }
    }
    out.sort_by_key(|c| c.node.span.start.byte);
    out
}

/// A `Fn::ForEach::<Name>` entry of `Resources` (or of a loop's output map) whose value is not
/// `[identifier, collection, {output map}]`: CloudFormation (and `aws cloudformation package`)
/// refuse it.
#[derive(Debug, Clone)]
pub struct MalformedLoop<'t> {
    /// The whole key, e.g. `Fn::ForEach::Topics`.
    pub name: &'t str,
    /// The offending node: the loop's value, or its third entry.
    pub node: &'t Node,
    pub message: String,
}

/// Every malformed `Fn::ForEach::` loop among the resources of `template` (nested loops
/// too), in document order.
pub fn malformed_loops(template: &Template) -> Vec<MalformedLoop<'_>> {
    let mut out = Vec::new();
    if let Some(resources) = template.root().get("Resources") {
        check_loops(resources, &mut out);
    }
    out
}

fn check_loops<'t>(resources: &'t Node, out: &mut Vec<MalformedLoop<'t>>) {
    for (key, value) in resources.entries() {
        let Some(name) = key.as_scalar().filter(|k| k.starts_with("Fn::ForEach::")) else {
            continue;
        };
        let mut problem = |node: &'t Node, message: String| {
            out.push(MalformedLoop {
                name,
                node,
                message,
            });
        };
        let items = match &value.kind {
            NodeKind::Sequence(items) if untagged_collection(value) => items,
            _ => {
                problem(
                    value,
                    format!(
                        "invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found {}",
                        describe(value)
                    ),
                );
                continue;
            }
        };
        let [_, _, fragment] = items.as_slice() else {
            problem(
                value,
                format!(
                    "invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found {} entr{}",
                    items.len(),
                    if items.len() == 1 { "y" } else { "ies" }
                ),
            );
            continue;
        };
        if matches!(fragment.kind, NodeKind::Mapping(_)) && untagged_collection(fragment) {
            check_loops(fragment, out);
        } else {
            problem(
                fragment,
                format!(
                    "invalid \"Fn::ForEach::\" loop: its third entry (the output map) must be a mapping, found {}",
                    describe(fragment)
                ),
            );
        }
    }
}

/// What a node is, for messages: `a string`, `a mapping`, `!Ref X`...
fn describe(node: &Node) -> String {
    if let Some(tag) = node.tag.as_deref().filter(|t| !t.starts_with("!!")) {
        return format!("a {tag} value");
    }
    match &node.kind {
        NodeKind::Mapping(_) => "a mapping".into(),
        NodeKind::Sequence(_) => "a list".into(),
        NodeKind::Alias(_) => "an alias".into(),
        NodeKind::Scalar { .. } => match classify(node) {
            Value::Skip if is_null_scalar(node) => "nothing (null)".into(),
            Value::NotAPath { found } => found.into(),
            _ => "a string".into(),
        },
    }
}

/// No tag, or the standard one of its kind (`!!seq`, `!!map`).
fn untagged_collection(node: &Node) -> bool {
    matches!(
        node.tag.as_deref(),
        None | Some("!!seq" | "!!map" | "tag:yaml.org,2002:seq" | "tag:yaml.org,2002:map")
    )
}

fn is_null_scalar(node: &Node) -> bool {
    matches!(
        &node.kind,
        NodeKind::Scalar { value, style: ScalarStyle::Plain }
            if node.tag.is_none() && matches!(core_schema_type(value), PlainType::Null)
    )
}

fn resource_candidates<'t>(resources: &'t Node, out: &mut Vec<Candidate<'t>>) {
    for (key, resource) in resources.entries() {
        let Some(logical_id) = key.as_scalar() else {
            continue;
        };
        if logical_id.starts_with("Fn::ForEach::") {
            // [identifier, collection, {template fragment}]; recurse into the fragment. Any
            // other shape is CloudFormation's to reject: nothing of ours is in it.
            if let NodeKind::Sequence(items) = &resource.kind
                && let [_, _, fragment] = items.as_slice()
            {
                resource_candidates(fragment, out);
            }
            continue;
        }
        let Some(resource_type) = resource.get("Type").and_then(Node::as_scalar) else {
            continue;
        };
        let Some(properties) = resource.get("Properties") else {
            continue;
        };
        if resource_type == "AWS::Serverless::Function" && properties.get("InlineCode").is_some() {
            continue;
        }
        let site = Site::Resource {
            logical_id,
            resource_type,
        };
        for rule in rules_for(resource_type) {
            let pattern: Vec<&str> = rule.property.split('.').collect();
            find_matches(properties, &pattern, &mut Vec::new(), &mut |path, node| {
                out.push(candidate(site, path.join("."), rule, node));
            });
        }
    }
}

/// Calls `found` for every node under `node` matching `pattern` (`*` = any key).
fn find_matches<'t>(
    node: &'t Node,
    pattern: &[&str],
    path: &mut Vec<&'t str>,
    found: &mut impl FnMut(&[&'t str], &'t Node),
) {
    let Some((first, rest)) = pattern.split_first() else {
        found(path, node);
        return;
    };
    for (key, value) in node.entries() {
        let Some(k) = key.as_scalar() else { continue };
        if *first == "*" || *first == k {
            path.push(k);
            find_matches(value, rest, path, found);
            path.pop();
        }
    }
}

/// Finds `AWS::Include` transforms anywhere under `node` (long form `Fn::Transform: {...}` and
/// short form `!Transform {...}`).
fn include_candidates<'t>(node: &'t Node, within: &'t str, out: &mut Vec<Candidate<'t>>) {
    let include_rule = rules_for(INCLUDE).next();
    let visit = |transform: &'t Node, prefix: &str, out: &mut Vec<Candidate<'t>>| {
        if transform.get("Name").and_then(Node::as_scalar) != Some(INCLUDE) {
            return;
        }
        if let (Some(rule), Some(location)) = (
            include_rule,
            transform.get_path(&["Parameters", "Location"]),
        ) {
            let property = format!("{prefix}Parameters.Location");
            out.push(candidate(
                Site::Include { within },
                property,
                rule,
                location,
            ));
        }
    };
    if node.tag.as_deref() == Some("!Transform") {
        visit(node, "!Transform.", out);
    }
    match &node.kind {
        NodeKind::Mapping(entries) => {
            for (key, value) in entries {
                let within = match (within, key.as_scalar()) {
                    ("Resources", Some(id)) => id,
                    _ => within,
                };
                if key.as_scalar() == Some("Fn::Transform") {
                    visit(value, "Fn::Transform.", out);
                }
                include_candidates(value, within, out);
            }
        }
        NodeKind::Sequence(items) => {
            for item in items {
                include_candidates(item, within, out);
            }
        }
        NodeKind::Scalar { .. } | NodeKind::Alias(_) => {}
    }
}

fn candidate<'t>(
    site: Site<'t>,
    property: String,
    rule: &'static Rule,
    node: &'t Node,
) -> Candidate<'t> {
    Candidate {
        site,
        property,
        rule,
        node,
        value: classify_for(rule, node),
    }
}

/// [`classify`] for a property of `rule`: on a [`Form::Map`] property, a string
/// `s3://...` is [`Value::S3`] (or [`Value::BadS3Url`]) instead of [`Value::Skip`].
pub fn classify_for<'n>(rule: &Rule, node: &'n Node) -> Value<'n> {
    let value = classify(node);
    if value != Value::Skip || !matches!(rule.form, Form::Map { .. }) {
        return value;
    }
    let NodeKind::Scalar { value: text, .. } = &node.kind else {
        return value;
    };
    if !matches!(
        node.tag.as_deref(),
        None | Some("!!str" | "tag:yaml.org,2002:str")
    ) || !text.starts_with("s3://")
    {
        return value;
    }
    match parse_s3_url(text) {
        Ok(url) => Value::S3(url),
        Err(reason) => Value::BadS3Url { reason },
    }
}

/// Parses `s3://bucket/key[?query][#fragment]` the way `aws cloudformation package` does: the
/// bucket is what comes before the first `/`, `?` or `#`; the key is the path with its leading
/// slashes removed, without the query, the fragment and `;parameters` after the last `/`
/// (Python's `urlparse`), not percent-decoded; the version is the `versionId` query
/// parameter when exactly one has a non-empty value (query names and values are decoded, `+`
/// is a space). Unlike aws-cli, an empty key (`s3://bucket/`) is refused: CloudFormation
/// would refuse it later.
pub fn parse_s3_url(url: &str) -> Result<S3Url, &'static str> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err("not an s3:// URL");
    };
    let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (bucket, rest) = rest.split_at(authority_end);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // urlparse's `;params` of the last path segment.
    let last_slash = path.rfind('/').unwrap_or(0);
    let path = match path[last_slash..].find(';') {
        Some(i) => &path[..last_slash + i],
        None => path,
    };
    let key = path.trim_start_matches('/');
    if bucket.is_empty() {
        return Err("the S3 URL names no bucket (expected s3://bucket/key)");
    }
    if key.is_empty() {
        return Err("the S3 URL names no object key (expected s3://bucket/key)");
    }
    let versions: Vec<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && query_decode(name) == "versionId")
        .map(|(_, value)| query_decode(value))
        .collect();
    let version = match versions.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    };
    Ok(S3Url {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version,
    })
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; invalid UTF-8
/// becomes U+FFFD, a `%` not followed by two hex digits stays as written.
fn query_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The local-path rule (SPEC A4): a plain or quoted string scalar with no tag (or `!!str`),
/// not empty, not `scheme://...`, is a local path. Tagged nodes, aliases, mappings and
/// sequences are skipped; numbers and booleans are not paths.
pub fn classify(node: &Node) -> Value<'_> {
    let NodeKind::Scalar { value, style } = &node.kind else {
        return Value::Skip;
    };
    let explicit_str = match node.tag.as_deref() {
        None => false,
        Some("!!str" | "tag:yaml.org,2002:str") => true,
        Some(_) => return Value::Skip,
    };
    if *style == ScalarStyle::Plain && !explicit_str {
        match core_schema_type(value) {
            PlainType::Null => return Value::Skip,
            PlainType::Bool => return Value::NotAPath { found: "a boolean" },
            PlainType::Number => return Value::NotAPath { found: "a number" },
            PlainType::String => {}
        }
    }
    if value.trim().is_empty() || has_scheme(value) {
        return Value::Skip;
    }
    Value::Local(value)
}

enum PlainType {
    Null,
    Bool,
    Number,
    String,
}

/// Resolves a plain scalar per the YAML 1.2 core schema.
fn core_schema_type(s: &str) -> PlainType {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return PlainType::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return PlainType::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return PlainType::Number,
        _ => {}
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let is_number = if let Some(hex) = s.strip_prefix("0x") {
        !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
    } else if let Some(oct) = s.strip_prefix("0o") {
        !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c))
    } else {
        is_decimal(digits)
    };
    if is_number {
        PlainType::Number
    } else {
        PlainType::String
    }
}

/// `[0-9]+`, `[0-9]*.[0-9]*` (with at least one digit), optionally with an exponent.
fn is_decimal(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// `scheme://...` per RFC 3986: a letter, then letters, digits, `+`, `-`, `.`.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests;
