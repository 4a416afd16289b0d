//! Whose the environment stack `<app>-<env>` is, and the one edit copilot-lite makes to a
//! Copilot environment stack: its `AddonsStack` resource.
//!
//! Copilot renders an environment's addons into the environment template itself
//! (`AddonsStack.Properties.TemplateURL: <url>`, parameters `App` and `Env`), and only when
//! there are addons; so adding, updating or removing the addons edits `Resources`, and
//! nothing else: every other byte of the deployed template stays as deployed, every
//! parameter is passed with `UsePreviousValue`, the tags as they are, and the change set may
//! touch `AddonsStack` alone (the guard).

use cfn_yaml::{Format, Node, NodeKind, Template};
use copilot_workspace::AddonParameter;

use crate::names::{
    ADDONS_STACK, ENV_ADDONS_STACK_PARAMETERS, EnvTarget, MANAGED_TAG, PARAM_ENV_APP,
    PARAM_ENV_NAME, TAG_APPLICATION, TAG_ENVIRONMENT, TAG_SERVICE,
};
use crate::ownership::{DeployedStack, Read, Refusal, is_ref, refusal_for_status};

/// The `Description` of every Copilot environment template.
const COPILOT_ENV_DESCRIPTION: &str =
    "CloudFormation environment template for infrastructure shared among Copilot workloads.";

/// Whose the environment stack is, and so what copilot-lite may do with it.
#[derive(Debug, Clone)]
pub enum EnvOwnership {
    /// No stack of that name: copilot-lite creates its own (marked as its own).
    Absent,
    /// copilot-lite's own environment stack: full update, or deletion.
    Own,
    /// Copilot's environment stack: copilot-lite changes its `AddonsStack` only.
    Copilot(Box<CopilotEnvStack>),
    /// Not copilot-lite's to change; the reason says why.
    Refused(Refusal),
}

/// Decides the ownership of `deployed`, the stack named [`EnvTarget::stack_name`] (`None`: no
/// such stack). Pure: the caller reads the stack.
pub fn classify_env(target: &EnvTarget, deployed: Option<&DeployedStack>) -> EnvOwnership {
    let stack = target.stack_name();
    let refuse = |reason: String| {
        EnvOwnership::Refused(Refusal {
            stack: stack.clone(),
            reason,
        })
    };
    let Some(d) = deployed.filter(|d| d.status != "DELETE_COMPLETE") else {
        return EnvOwnership::Absent;
    };
    let read = Read::new(&stack, d);
    let tag = |key: &str| read.tag(key);
    let tags_match = target
        .copilot_tags()
        .iter()
        .all(|(k, v)| tag(k) == Some(*v))
        && tag(TAG_SERVICE).is_none();
    let tagged_for = || {
        format!(
            "{TAG_APPLICATION}={}, {TAG_ENVIRONMENT}={}{}",
            tag(TAG_APPLICATION).unwrap_or("(none)"),
            tag(TAG_ENVIRONMENT).unwrap_or("(none)"),
            tag(TAG_SERVICE).map_or(String::new(), |s| format!(", {TAG_SERVICE}={s}")),
        )
    };
    if read.marked() {
        return if tags_match {
            EnvOwnership::Own
        } else {
            refuse(format!(
                "is copilot-lite's but tagged for another stack ({}), not environment {} of application {}",
                tagged_for(),
                target.env,
                target.app
            ))
        };
    }
    if tag(TAG_APPLICATION).is_none() && tag(TAG_ENVIRONMENT).is_none() {
        return refuse(format!(
            "was created neither by Copilot nor by copilot-lite (no {MANAGED_TAG} tag, no copilot-* tags): copilot-lite changes nothing it does not own; use another environment name"
        ));
    }
    if !tags_match {
        return refuse(format!(
            "is not the Copilot environment stack of environment {} of application {} (its tags: {})",
            target.env,
            target.app,
            tagged_for()
        ));
    }
    if let Some(reason) = refusal_for_status(&d.status, "copilot env deploy") {
        return refuse(reason);
    }
    let shape = read.template().and_then(|t| CopilotEnvStack::new(t, d));
    match shape {
        Ok(s) => EnvOwnership::Copilot(Box::new(s)),
        Err(reason) => refuse(format!(
            "is tagged as Copilot's environment stack, but its template is not of the shape copilot-lite knows how to edit safely ({reason}); it is left as it is"
        )),
    }
}

/// A Copilot environment stack whose addons copilot-lite may change.
#[derive(Debug, Clone)]
pub struct CopilotEnvStack {
    text: String,
    tags: Vec<(String, String)>,
    parameters: Vec<String>,
    /// Indentation (in spaces) of the entries of `Resources`.
    indent: usize,
    /// Byte range of the deployed `AddonsStack` entry (whole lines), if there is one.
    addons: Option<(usize, usize)>,
    /// Where a new `AddonsStack` entry goes: after the last line of the last resource.
    insert_at: usize,
}

/// The byte just past the end of the line holding the last content byte before `end`
/// (past its `\n`; the text's length when it has none).
fn end_of_line(text: &str, end: usize) -> usize {
    let last = text[..end].trim_end_matches([' ', '\t', '\n', '\r']).len();
    match text[last..].find('\n') {
        Some(i) => last + i + 1,
        None => text.len(),
    }
}

/// The byte where the line holding `at` starts.
fn start_of_line(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

impl CopilotEnvStack {
    fn new(t: &Template, d: &DeployedStack) -> Result<CopilotEnvStack, String> {
        let text = t.source();
        if t.format() != Format::Yaml || t.has_aliases() {
            return Err("it is not YAML as Copilot writes it".to_owned());
        }
        let root = t.root();
        if root.get("Description").and_then(Node::as_scalar) != Some(COPILOT_ENV_DESCRIPTION) {
            return Err(format!(
                "its Description is not {COPILOT_ENV_DESCRIPTION:?}"
            ));
        }
        if root.get_path(&["Metadata", "Version"]).is_none()
            && root.get_path(&["Metadata", "Manifest"]).is_none()
        {
            return Err("its Metadata has neither Version nor Manifest".to_owned());
        }
        for p in [PARAM_ENV_APP, PARAM_ENV_NAME] {
            if root.get_path(&["Parameters", p]).is_none() || !d.parameters.iter().any(|k| k == p) {
                return Err(format!("it has no parameter {p}"));
            }
        }
        let resources = root
            .get("Resources")
            .filter(|r| matches!(r.kind, NodeKind::Mapping(_)) && !r.flow && r.tag.is_none())
            .ok_or("its Resources are not a block mapping")?;
        let entries = resources.entries();
        let Some((_, last)) = entries.last() else {
            return Err("it has no resources".to_owned());
        };
        let indent = entries[0].0.span.start.col.saturating_sub(1);
        if entries
            .iter()
            .any(|(k, _)| k.span.start.col.saturating_sub(1) != indent || k.as_scalar().is_none())
        {
            return Err("its resources are not all at one indentation".to_owned());
        }
        let mut addons = None;
        if let Some((k, v)) = entries
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(ADDONS_STACK))
        {
            if v.get("Type").and_then(Node::as_scalar) != Some("AWS::CloudFormation::Stack") {
                return Err(format!(
                    "its {ADDONS_STACK} is not an AWS::CloudFormation::Stack"
                ));
            }
            let params = v.get_path(&["Properties", "Parameters"]).map(Node::entries);
            let copilots =
                ENV_ADDONS_STACK_PARAMETERS
                    .iter()
                    .enumerate()
                    .all(|(i, (key, target))| {
                        params
                            .and_then(|p| p.get(i))
                            .is_some_and(|(k, v)| k.as_scalar() == Some(key) && is_ref(v, target))
                    });
            if !copilots || v.flow {
                return Err(format!(
                    "its {ADDONS_STACK} does not pass App and Env as Copilot renders them"
                ));
            }
            addons = Some((
                start_of_line(text, k.span.start.byte),
                end_of_line(text, v.span.end.byte),
            ));
        }
        Ok(CopilotEnvStack {
            text: text.to_owned(),
            tags: d.tags.clone(),
            parameters: d.parameters.clone(),
            indent,
            addons,
            insert_at: end_of_line(text, last.span.end.byte),
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

    /// Every parameter of the stack: all passed with `UsePreviousValue`.
    pub fn kept_parameters(&self) -> Vec<String> {
        self.parameters.clone()
    }

    /// Whether the deployed template has an `AddonsStack`.
    pub fn has_addons(&self) -> bool {
        self.addons.is_some()
    }

    /// The resources a change set of this stack may add, modify, replace or remove: the
    /// addons stack alone (the change-set guard).
    pub fn allowed_changes() -> Vec<String> {
        vec![ADDONS_STACK.to_owned()]
    }

    /// The deployed template with its `AddonsStack` set to the addons at `url` with the extra
    /// parameters `params` (the entries of `addons.parameters.yml`), rendered as Copilot
    /// renders it, or removed (`None`); every other byte as deployed.
    pub fn with_addons(&self, addons: Option<(&str, &[AddonParameter])>) -> String {
        let entry = addons.map_or(String::new(), |(url, params)| self.render(url, params));
        match self.addons {
            Some((start, end)) => {
                format!("{}{entry}{}", &self.text[..start], &self.text[end..])
            }
            None if entry.is_empty() => self.text.clone(),
            None => {
                let at = self.insert_at;
                let newline = if self.text[..at].ends_with('\n') {
                    ""
                } else {
                    "\n"
                };
                format!("{}{newline}{entry}{}", &self.text[..at], &self.text[at..])
            }
        }
    }

    fn render(&self, url: &str, params: &[AddonParameter]) -> String {
        let p = " ".repeat(self.indent);
        let mut t = format!(
            "{p}{ADDONS_STACK}:\n\
             {p}  Metadata:\n\
             {p}    'aws:copilot:description': 'A CloudFormation nested stack for your additional AWS resources'\n\
             {p}  Type: AWS::CloudFormation::Stack\n\
             {p}  Properties:\n\
             {p}    Parameters:\n"
        );
        for (key, target) in ENV_ADDONS_STACK_PARAMETERS {
            t.push_str(&format!("{p}      {key}: !Ref {target}\n"));
        }
        for param in params {
            for line in param.entry.trim_end_matches(['\n', '\r']).split('\n') {
                if !line.is_empty() && line != "\r" {
                    t.push_str(&format!("{p}      "));
                    t.push_str(line);
                }
                t.push('\n');
            }
        }
        let plain = !url.is_empty()
            && url
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:/?=&%+".contains(c));
        let url = if plain {
            url.to_owned()
        } else {
            serde_json::Value::String(url.to_owned()).to_string()
        };
        t.push_str(&format!("{p}    TemplateURL: {url}\n"));
        t
    }
}
