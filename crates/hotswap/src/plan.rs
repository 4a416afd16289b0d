//! Whether the difference between a deployed template and a new one is Lambda code only.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

/// Where a function's new code is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
}

/// A function whose code location differs between the two templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChange {
    /// Its logical ID (the same in both templates).
    pub logical_id: String,
    /// `AWS::Lambda::Function` or `AWS::Serverless::Function`.
    pub resource_type: String,
    /// The new code.
    pub location: S3Location,
}

/// What a deploy of the new template would change, as far as a hotswap is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The two templates read the same (as CloudFormation reads them).
    Unchanged,
    /// Only the code locations of these functions differ.
    CodeOnly(Vec<CodeChange>),
    /// Something else differs: why a hotswap cannot do it (the first difference found).
    Other(String),
}

/// A template that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the {which} template: {message}")]
pub struct ReadError {
    pub which: &'static str,
    pub message: String,
}

/// The code property of each hotswappable resource type.
const CODE_PROPERTIES: [(&str, &str); 2] = [
    ("AWS::Lambda::Function", "Code"),
    ("AWS::Serverless::Function", "CodeUri"),
];

/// Compares the `deployed` template with the `new` one (YAML or JSON, read as CloudFormation
/// reads them: short tags as their long form, YAML 1.1 scalars, key order ignored).
pub fn compare(deployed: &str, new: &str) -> Result<Verdict, ReadError> {
    let old = read("deployed", deployed)?;
    let new = read("new", new)?;
    Ok(compare_values(&old, &new))
}

/// The S3 code location of every hotswappable function of `template` (functions whose code
/// is not a literal S3 location are left out).
pub fn code_locations(template: &str) -> Result<BTreeMap<String, S3Location>, ReadError> {
    let value = read("new", template)?;
    let mut found = BTreeMap::new();
    for (id, resource) in resources(&value) {
        if let Some((_, code)) = code_property(resource)
            && let Ok(location) = s3_location(resource_type(resource), code)
        {
            found.insert(id.clone(), location);
        }
    }
    Ok(found)
}

fn read(which: &'static str, text: &str) -> Result<Value, ReadError> {
    let err = |message: String| ReadError { which, message };
    let template = cfn_yaml::Template::parse(Path::new(which), text.to_owned())
        .map_err(|e| err(e.to_string()))?;
    let json = template
        .render_json(&cfn_yaml::Edits::new())
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&json).map_err(|e| err(e.to_string()))
}

fn compare_values(old: &Value, new: &Value) -> Verdict {
    let (Some(old_map), Some(new_map)) = (old.as_object(), new.as_object()) else {
        return Verdict::Other("a template is not a mapping".into());
    };
    // Every section but Resources must be equal.
    let sections = old_map.keys().chain(new_map.keys());
    for section in sections {
        if section != "Resources" && old_map.get(section) != new_map.get(section) {
            return Verdict::Other(format!("the template's {section} changed"));
        }
    }
    let empty = Map::new();
    let old_resources = old
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new_resources = new
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for id in old_resources.keys() {
        if !new_resources.contains_key(id) {
            return Verdict::Other(format!("resource {id} is removed"));
        }
    }
    let mut changes = Vec::new();
    for (id, new_resource) in new_resources {
        let Some(old_resource) = old_resources.get(id) else {
            return Verdict::Other(format!("resource {id} is added"));
        };
        if old_resource == new_resource {
            continue;
        }
        match code_only(id, old_resource, new_resource) {
            Ok(change) => changes.push(change),
            Err(why) => return Verdict::Other(why),
        }
    }
    if changes.is_empty() {
        Verdict::Unchanged
    } else {
        Verdict::CodeOnly(changes)
    }
}

/// A resource that differs: the change when only its code location does, else why not.
fn code_only(id: &str, old: &Value, new: &Value) -> Result<CodeChange, String> {
    let new_type = resource_type(new);
    if resource_type(old) != new_type {
        return Err(format!("resource {id} changes its type"));
    }
    let Some((property, new_code)) = code_property(new) else {
        return Err(format!(
            "resource {id} ({new_type}) changed{}",
            first_difference(old, new)
        ));
    };
    let (mut old_rest, mut new_rest) = (old.clone(), new.clone());
    remove_property(&mut old_rest, property);
    remove_property(&mut new_rest, property);
    if old_rest != new_rest {
        return Err(format!(
            "resource {id} ({new_type}) changed{}",
            first_difference(&old_rest, &new_rest)
        ));
    }
    let location = s3_location(new_type, new_code)
        .map_err(|why| format!("resource {id}: its new {property} {why}"))?;
    Ok(CodeChange {
        logical_id: id.to_owned(),
        resource_type: new_type.to_owned(),
        location,
    })
}

fn resources(template: &Value) -> impl Iterator<Item = (&String, &Value)> {
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn resource_type(resource: &Value) -> &str {
    resource.get("Type").and_then(Value::as_str).unwrap_or("")
}

/// The code property of a hotswappable resource, with its value.
fn code_property(resource: &Value) -> Option<(&'static str, &Value)> {
    let ty = resource_type(resource);
    let (_, property) = CODE_PROPERTIES.iter().find(|(t, _)| *t == ty)?;
    let value = resource.get("Properties")?.get(*property)?;
    Some((property, value))
}

fn remove_property(resource: &mut Value, property: &str) {
    if let Some(props) = resource
        .get_mut("Properties")
        .and_then(Value::as_object_mut)
    {
        props.remove(property);
    }
}

/// A literal S3 location: `Code: {S3Bucket, S3Key[, S3ObjectVersion]}` for
/// `AWS::Lambda::Function`; `CodeUri: s3://bucket/key` or `{Bucket, Key[, Version]}` for
/// `AWS::Serverless::Function`.
fn s3_location(resource_type: &str, code: &Value) -> Result<S3Location, String> {
    let literal = |map: &Map<String, Value>, key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("has a {key} that is not a literal string")),
        }
    };
    let (bucket_key, key_key, version_key) = if resource_type == "AWS::Serverless::Function" {
        if let Some(uri) = code.as_str() {
            return parse_s3_uri(uri).ok_or_else(|| format!("is not an s3:// URI ({uri})"));
        }
        ("Bucket", "Key", "Version")
    } else {
        ("S3Bucket", "S3Key", "S3ObjectVersion")
    };
    let Some(map) = code.as_object() else {
        return Err("is not an S3 location".into());
    };
    if let Some(other) = map
        .keys()
        .find(|k| ![bucket_key, key_key, version_key].contains(&k.as_str()))
    {
        return Err(format!("is not an S3 object (it has {other})"));
    }
    match (literal(map, bucket_key)?, literal(map, key_key)?) {
        (Some(bucket), Some(key)) => Ok(S3Location {
            bucket,
            key,
            version: literal(map, version_key)?,
        }),
        _ => Err(format!("lacks {bucket_key} or {key_key}")),
    }
}

fn parse_s3_uri(uri: &str) -> Option<S3Location> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| S3Location {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: None,
    })
}

/// `: property X` for the first top-level key of `Properties` (or of the resource) that
/// differs, for messages.
fn first_difference(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let props = |v: &'_ Value| -> Map<String, Value> {
        v.get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old_props, new_props) = (props(old), props(new));
    let keys = old_props.keys().chain(new_props.keys());
    for key in keys {
        if old_props.get(key) != new_props.get(key) {
            return format!(": property {key}");
        }
    }
    let (old_map, new_map) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    for key in old_map.keys().chain(new_map.keys()) {
        if old_map.get(key) != new_map.get(key) {
            return format!(": {key}");
        }
    }
    String::new()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
