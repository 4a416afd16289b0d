//! Who owns the stack of a target's name, decided from what is deployed before anything is
//! uploaded or changed, and the one edit copilot-lite makes to a Copilot stack.
//!
//! The rules (README, "Ownership"):
//! - no stack: copilot-lite creates its own, marked as its own ([`Ownership::Absent`]);
//! - copilot-lite's mark (the [`MANAGED_TAG`] tag or the `Metadata` entry), for this very
//!   service: full update ([`Ownership::Own`]);
//! - Copilot's stack for this service (Copilot's tags for the app, environment and service,
//!   and a template of Copilot's shape): only the addons change ([`Ownership::Copilot`]);
//! - anything else, or a Copilot stack whose shape is not the one expected: refused, never
//!   guessed ([`Ownership::Refused`]).

use std::path::Path;

use cfn_yaml::{Format, Node, NodeKind, Template};
use copilot_workspace::AddonParameter;

use crate::names::{
    ADDONS_STACK, ADDONS_STACK_PARAMETERS, HAS_ADDONS, MANAGED_METADATA, MANAGED_TAG,
    MANAGED_VALUE, PARAM_ADDONS_URL, TAG_APPLICATION, TAG_ENVIRONMENT, TAG_SERVICE, Target,
};

/// The `Description` of the workload stacks copilot-lite deployed before it marked them
/// (recognised as its own when the tags match too, and marked at the next deploy).
const LEGACY_DESCRIPTION: &str = "copilot-lite workload stack with the service's addons.";
/// How every Copilot workload template's `Description` starts.
const COPILOT_DESCRIPTION: &str = "CloudFormation template that represents ";

/// What CloudFormation says of the deployed stack of the target's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployedStack {
    /// `CREATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...
    pub status: String,
    /// The stack's tags, as listed.
    pub tags: Vec<(String, String)>,
    /// The keys of the stack's parameters.
    pub parameters: Vec<String>,
    /// The deployed template (`GetTemplate`, stage `Original`); `None` when there is none
    /// (`REVIEW_IN_PROGRESS`).
    pub template: Option<String>,
}

/// Whose the stack of a target's name is, and so what copilot-lite may do with it.
#[derive(Debug, Clone)]
pub enum Ownership {
    /// No stack of that name: copilot-lite creates its own (marked as its own).
    Absent,
    /// copilot-lite's own stack for this service: full update, or deletion.
    Own,
    /// Copilot's stack for this service: copilot-lite changes its addons only.
    Copilot(Box<CopilotStack>),
    /// Not copilot-lite's to change; the reason says why.
    Refused(Refusal),
}

/// Why copilot-lite will not touch a stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stack {stack} {reason}")]
pub struct Refusal {
    pub stack: String,
    pub reason: String,
}

/// Decides the ownership of `deployed`, the stack named [`Target::stack_name`] (`None`: no
/// such stack). Pure: the caller reads the stack.
pub fn classify(target: &Target, deployed: Option<&DeployedStack>) -> Ownership {
    let stack = target.stack_name();
    let refuse = |reason: String| {
        Ownership::Refused(Refusal {
            stack: stack.clone(),
            reason,
        })
    };
    let Some(d) = deployed else {
        return Ownership::Absent;
    };
    if d.status == "DELETE_COMPLETE" {
        return Ownership::Absent;
    }
    let read = Read::new(&stack, d);
    let tag = |key: &str| read.tag(key);
    let root = read.root();
    let scalar = |path: &[&str]| {
        root.and_then(|r| r.get_path(path))
            .and_then(Node::as_scalar)
    };

    let tags_match = target
        .copilot_tags()
        .iter()
        .all(|(k, v)| tag(k) == Some(*v));
    let tagged_for = || {
        format!(
            "{TAG_APPLICATION}={}, {TAG_ENVIRONMENT}={}, {TAG_SERVICE}={}",
            tag(TAG_APPLICATION).unwrap_or("(none)"),
            tag(TAG_ENVIRONMENT).unwrap_or("(none)"),
            tag(TAG_SERVICE).unwrap_or("(none)"),
        )
    };
    let marked = read.marked()
        || (scalar(&["Description"]) == Some(LEGACY_DESCRIPTION)
            && root
                .and_then(|r| r.get("Resources"))
                .is_some_and(|r| keys(r) == [ADDONS_STACK]));
    if marked {
        return if tags_match {
            Ownership::Own
        } else {
            refuse(format!(
                "is copilot-lite's but tagged for another service ({}), not {} of environment {} of application {}",
                tagged_for(),
                target.svc,
                target.env,
                target.app
            ))
        };
    }
    if tag(TAG_APPLICATION).is_none() && tag(TAG_SERVICE).is_none() {
        return refuse(format!(
            "was created neither by Copilot nor by copilot-lite (no {MANAGED_TAG} tag, no copilot-* tags): copilot-lite changes nothing it does not own; use another service or environment name"
        ));
    }
    if !tags_match {
        return refuse(format!(
            "belongs to another Copilot workload ({}), not {} of environment {} of application {}",
            tagged_for(),
            target.svc,
            target.env,
            target.app
        ));
    }
    if let Some(reason) = refusal_for_status(&d.status, "copilot svc deploy") {
        return refuse(reason);
    }
    if d.template.is_none() {
        return refuse("is tagged as Copilot's but has no deployed template".to_owned());
    }
    let shape = read.template().and_then(|t| CopilotStack::new(t, d));
    match shape {
        Ok(s) => Ownership::Copilot(Box::new(s)),
        Err(reason) => refuse(format!(
            "is tagged as Copilot's, but its template is not of the shape copilot-lite knows how to edit safely ({reason}); it is left as it is"
        )),
    }
}

/// What the ownership rules read of a deployed stack: its tags, and its template parsed once.
pub(crate) struct Read<'d> {
    deployed: &'d DeployedStack,
    /// The parsed template, or why there is none: no template, or the parser's message.
    template: Result<Template, String>,
}

impl<'d> Read<'d> {
    /// `name` is the stack's name (the origin in parse messages).
    pub(crate) fn new(name: &str, deployed: &'d DeployedStack) -> Read<'d> {
        let template = match deployed.template.as_deref() {
            None => Err("it has no deployed template".to_owned()),
            Some(text) => Template::parse(Path::new(name), text.to_owned())
                .map_err(|e| format!("it does not parse: {}", e.message)),
        };
        Read { deployed, template }
    }

    /// The value of tag `key`.
    pub(crate) fn tag(&self, key: &str) -> Option<&'d str> {
        self.deployed
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The template's root, when it parses.
    pub(crate) fn root(&self) -> Option<&Node> {
        self.template.as_ref().ok().map(Template::root)
    }

    /// The parsed template, or why there is none.
    pub(crate) fn template(&self) -> Result<&Template, String> {
        self.template.as_ref().map_err(Clone::clone)
    }

    /// copilot-lite's mark: the [`MANAGED_TAG`] tag, or the `Metadata` entry.
    pub(crate) fn marked(&self) -> bool {
        self.tag(MANAGED_TAG) == Some(MANAGED_VALUE)
            || self
                .root()
                .and_then(|r| r.get_path(&["Metadata", MANAGED_METADATA, "Managed"]))
                .and_then(Node::as_scalar)
                == Some(MANAGED_VALUE)
    }
}

/// Why a Copilot stack in `status` cannot be changed now (busy, or only deletable), if so;
/// `copilot` is the Copilot command that can deal with it.
pub(crate) fn refusal_for_status(status: &str, copilot: &str) -> Option<String> {
    if status.ends_with("_IN_PROGRESS") {
        return Some(format!(
            "is Copilot's and is busy ({status}): wait for the operation to end"
        ));
    }
    if matches!(
        status,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "DELETE_FAILED"
    ) {
        return Some(format!(
            "is Copilot's and is {status}: it can only be deleted or re-created, which is Copilot's to do (`{copilot}`)"
        ));
    }
    None
}

fn keys(n: &Node) -> Vec<&str> {
    n.entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect()
}

/// `!Ref name`, or `{Ref: name}`.
pub(crate) fn is_ref(n: &Node, name: &str) -> bool {
    if n.tag.as_deref() == Some("!Ref") {
        return n.as_scalar() == Some(name);
    }
    match n.entries() {
        [(k, v)] => k.as_scalar() == Some("Ref") && v.tag.is_none() && v.as_scalar() == Some(name),
        _ => false,
    }
}

/// A Copilot workload stack whose addons copilot-lite may change: its deployed template, tags
/// and parameters, and where the `AddonsStack` parameters are in the template.
#[derive(Debug, Clone)]
pub struct CopilotStack {
    text: String,
    tags: Vec<(String, String)>,
    parameters: Vec<String>,
    /// Byte range of the addons stack's parameters after `App`, `Env`, `Name` (from the end
    /// of `Name`'s value to the end of the last entry's value): the only bytes ever replaced.
    extra: (usize, usize),
    /// Indentation (in spaces) of the entries of `AddonsStack.Properties.Parameters`.
    indent: usize,
    /// Keys of the deployed extra parameters.
    extra_keys: Vec<String>,
}

impl CopilotStack {
    fn new(t: &Template, d: &DeployedStack) -> Result<CopilotStack, String> {
        let text = t.source();
        if t.format() != Format::Yaml {
            return Err("it is JSON, Copilot writes YAML".to_owned());
        }
        let root = t.root();
        let scalar = |path: &[&str]| root.get_path(path).and_then(Node::as_scalar);
        if !scalar(&["Description"]).is_some_and(|d| d.starts_with(COPILOT_DESCRIPTION)) {
            return Err(format!(
                "its Description does not start with {COPILOT_DESCRIPTION:?}"
            ));
        }
        if scalar(&["Metadata", "Version"]).is_none() {
            return Err("it has no Metadata.Version".to_owned());
        }
        for (_, p) in ADDONS_STACK_PARAMETERS {
            if root.get_path(&["Parameters", p]).is_none() {
                return Err(format!("it declares no parameter {p}"));
            }
        }
        if root.get_path(&["Parameters", PARAM_ADDONS_URL]).is_none()
            || !d.parameters.iter().any(|p| p == PARAM_ADDONS_URL)
        {
            return Err(format!("it has no parameter {PARAM_ADDONS_URL}"));
        }
        if root.get_path(&["Conditions", HAS_ADDONS]).is_none() {
            return Err(format!("it has no condition {HAS_ADDONS}"));
        }
        let Some(addons) = root.get_path(&["Resources", ADDONS_STACK]) else {
            return Err(format!("it has no resource {ADDONS_STACK}"));
        };
        if addons.get("Type").and_then(Node::as_scalar) != Some("AWS::CloudFormation::Stack") {
            return Err(format!(
                "{ADDONS_STACK} is not an AWS::CloudFormation::Stack"
            ));
        }
        if addons.get("Condition").and_then(Node::as_scalar) != Some(HAS_ADDONS) {
            return Err(format!("{ADDONS_STACK} is not conditioned on {HAS_ADDONS}"));
        }
        if !addons
            .get_path(&["Properties", "TemplateURL"])
            .is_some_and(|u| is_ref(u, PARAM_ADDONS_URL))
        {
            return Err(format!(
                "{ADDONS_STACK}.Properties.TemplateURL is not a Ref to {PARAM_ADDONS_URL}"
            ));
        }
        let params = addons
            .get_path(&["Properties", "Parameters"])
            .filter(|p| matches!(p.kind, NodeKind::Mapping(_)) && !p.flow && p.tag.is_none())
            .ok_or_else(|| {
                format!("{ADDONS_STACK}.Properties.Parameters is not a block mapping")
            })?;
        let entries = params.entries();
        for (i, (key, target)) in ADDONS_STACK_PARAMETERS.iter().enumerate() {
            match entries.get(i) {
                Some((k, v)) if k.as_scalar() == Some(key) && is_ref(v, target) => {}
                _ => {
                    return Err(format!(
                        "{ADDONS_STACK}.Properties.Parameters does not start with App, Env and Name referring to AppName, EnvName and WorkloadName"
                    ));
                }
            }
        }
        let first_extra = ADDONS_STACK_PARAMETERS.len();
        let start = entries[first_extra - 1].1.span.end.byte;
        let end = entries
            .last()
            .map_or(start, |(_, v)| v.span.end.byte)
            .max(start);
        let indent = entries[0].0.span.start.col.saturating_sub(1);
        Ok(CopilotStack {
            text: text.to_owned(),
            tags: d.tags.clone(),
            parameters: d.parameters.clone(),
            extra: (start, end),
            indent,
            extra_keys: entries[first_extra..]
                .iter()
                .filter_map(|(k, _)| k.as_scalar().map(str::to_owned))
                .collect(),
        })
    }

    /// The deployed template, as deployed.
    pub fn template(&self) -> &str {
        &self.text
    }

    /// The stack's tags, to be passed back exactly (Copilot's and the user's).
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// Every parameter but [`PARAM_ADDONS_URL`]: passed with `UsePreviousValue`.
    pub fn kept_parameters(&self) -> Vec<String> {
        self.parameters
            .iter()
            .filter(|p| *p != PARAM_ADDONS_URL)
            .cloned()
            .collect()
    }

    /// The resources a change set of this stack may add, modify, replace or remove: the
    /// addons stack alone (the change-set guard).
    pub fn allowed_changes() -> Vec<String> {
        vec![ADDONS_STACK.to_owned()]
    }

    /// The deployed template with the addons stack's parameters after `App`, `Env` and `Name`
    /// set to `params` (the entries of `addons.parameters.yml`, as Copilot renders them);
    /// every other byte as deployed. Equal to [`CopilotStack::template`] when the deployed
    /// template already has exactly these entries.
    pub fn with_addons(&self, params: &[AddonParameter]) -> String {
        let (start, end) = self.extra;
        let pad = " ".repeat(self.indent);
        let mut entries = String::new();
        for p in params {
            entries.push('\n');
            for (i, line) in p
                .entry
                .trim_end_matches(['\n', '\r'])
                .split('\n')
                .enumerate()
            {
                if i > 0 {
                    entries.push('\n');
                }
                if !line.is_empty() && line != "\r" {
                    entries.push_str(&pad);
                }
                entries.push_str(line);
            }
        }
        let old = &self.text[start..end];
        if old == entries {
            return self.text.clone();
        }
        format!("{}{entries}{}", &self.text[..start], &self.text[end..])
    }

    /// Keys of the addons stack's parameters after `App`, `Env`, `Name` in the deployed
    /// template.
    pub fn deployed_extra_parameters(&self) -> &[String] {
        &self.extra_keys
    }
}
