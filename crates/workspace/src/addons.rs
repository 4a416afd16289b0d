//! A service's addons: discovery in `addons/`, merge, parameters, outputs (SPEC A1, A2,
//! B §3.1–§3.3).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cfn_yaml::{Located, NodeKind, Pos, Span, Template};

use crate::error::{AddonsError, file_name};
use crate::merge::{Input, is_null, merge};
use crate::text::{Out, OutLine, Src, emit, is_blank, is_comment, mapping_regions};

const PARAMETER_FILES: [&str; 2] = ["addons.parameters.yml", "addons.parameters.yaml"];
/// The key of `addons.parameters.yml` that lists the environments the environment addons are
/// not deployed to (copilot-lite's; Copilot reads only `Parameters` and ignores it).
pub const EXCLUDED_ENVIRONMENTS: &str = "ExcludedEnvironments";

/// The reserved parameters every workload addons template declares (B §3.3).
pub const RESERVED_PARAMETERS: [&str; 3] = ["App", "Env", "Name"];
/// The reserved parameters every environment addons template declares (Copilot's
/// `envAddonsParameterReservedKeys`).
pub const ENV_RESERVED_PARAMETERS: [&str; 2] = ["App", "Env"];

/// Whose addons: a workload's (`copilot/<svc>/addons/`) or the environments'
/// (`copilot/environments/addons/`). They differ in their reserved parameters only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonsKind {
    Workload,
    Environment,
}

impl AddonsKind {
    /// The parameters the templates must declare and the parameters file must not set.
    pub fn reserved_parameters(self) -> &'static [&'static str] {
        match self {
            AddonsKind::Workload => &RESERVED_PARAMETERS,
            AddonsKind::Environment => &ENV_RESERVED_PARAMETERS,
        }
    }
}

/// One entry of `addons.parameters.yml`: a parameter of the addons stack whose value the
/// workload stack passes (it may use intrinsics that refer to the workload stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonParameter {
    /// The parameter's logical ID.
    pub key: String,
    /// The whole entry as written (`Key: value`, comments and tags kept), re-indented so that
    /// the key is at column 1; several lines when the value is.
    pub entry: String,
    /// Where the key is in the parameters file.
    pub location: Located,
}

/// The merged addons of a service, ready for packaging.
#[derive(Debug, Clone)]
pub struct Addons {
    kind: AddonsKind,
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// Their texts, in the same order (positions mapped back to a file carry its text).
    texts: Vec<Arc<str>>,
    template: Template,
    /// Per merged line (index = line - 1): origin file index, line, column shift.
    lines: Vec<OutLine>,
    parameters_file: Option<PathBuf>,
    parameters: Vec<AddonParameter>,
    excluded: Vec<String>,
    outputs: Vec<String>,
}

impl Addons {
    /// Reads, merges and validates a workload's addons in `dir` (`copilot/<svc>/addons`).
    /// `Ok(None)` when the folder does not exist or holds no template file.
    pub fn load(dir: &Path) -> Result<Option<Addons>, AddonsError> {
        Self::load_kind(dir, AddonsKind::Workload)
    }

    /// [`Addons::load`] for `kind`'s rules (`copilot/environments/addons` for environments).
    pub fn load_kind(dir: &Path, kind: AddonsKind) -> Result<Option<Addons>, AddonsError> {
        let io = |source| AddonsError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let read = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        };
        let mut names = Vec::new();
        for entry in read {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let name = entry.file_name();
            let lossy = name.to_string_lossy();
            let ours = PARAMETER_FILES.contains(&lossy.as_ref())
                || lossy.ends_with(".yml")
                || lossy.ends_with(".yaml");
            // Follows symlinks. A FIFO, a dangling link or a link loop named like a template is
            // an error (reading a FIFO would block), not something to skip silently.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => names.push(name),
                Ok(meta) if meta.is_dir() || !ours => {}
                Ok(meta) => {
                    return Err(AddonsError::NotAFile {
                        path,
                        kind: special_kind(&meta.file_type()),
                    });
                }
                Err(source) if ours => return Err(AddonsError::Io { path, source }),
                Err(_) => {}
            }
        }
        names.sort();
        let mut templates = Vec::new();
        let mut params = Vec::new();
        for name in names {
            let lossy = name.to_string_lossy();
            if PARAMETER_FILES.contains(&lossy.as_ref()) {
                params.push(dir.join(&name));
            } else if lossy.ends_with(".yml") || lossy.ends_with(".yaml") {
                templates.push(dir.join(&name));
            }
        }
        if templates.is_empty() {
            return Ok(None);
        }
        if params.len() > 1 {
            return Err(AddonsError::BothParameterFiles {
                dir: dir.to_path_buf(),
            });
        }
        let mut inputs = Vec::with_capacity(templates.len());
        for path in &templates {
            let text = read_text(path)?;
            let tpl = Template::parse(path, text)?;
            inputs.push(Input {
                path: path.clone(),
                tpl,
            });
        }
        let parameters_file = params.pop();
        let params_text = match &parameters_file {
            Some(p) => Some((p.clone(), read_text(p)?)),
            None => None,
        };
        Self::from_parsed(dir, inputs, params_text, kind).map(Some)
    }

    /// Merges already-read templates (`(path, text)`, in merge order) and an optional
    /// parameters file (`(path, text)`), as [`Addons::load`] does after reading `dir`.
    pub fn from_texts(
        dir: &Path,
        templates: Vec<(PathBuf, String)>,
        parameters: Option<(PathBuf, String)>,
    ) -> Result<Addons, AddonsError> {
        Self::from_texts_kind(dir, templates, parameters, AddonsKind::Workload)
    }

    /// [`Addons::from_texts`] for `kind`'s rules.
    pub fn from_texts_kind(
        dir: &Path,
        templates: Vec<(PathBuf, String)>,
        parameters: Option<(PathBuf, String)>,
        kind: AddonsKind,
    ) -> Result<Addons, AddonsError> {
        let mut inputs = Vec::with_capacity(templates.len());
        for (path, text) in templates {
            let tpl = Template::parse(&path, text)?;
            inputs.push(Input { path, tpl });
        }
        Self::from_parsed(dir, inputs, parameters, kind)
    }

    fn from_parsed(
        dir: &Path,
        mut inputs: Vec<Input>,
        parameters: Option<(PathBuf, String)>,
        kind: AddonsKind,
    ) -> Result<Addons, AddonsError> {
        let files: Vec<PathBuf> = inputs.iter().map(|i| i.path.clone()).collect();
        let texts: Vec<Arc<str>> = inputs.iter().map(|i| i.tpl.shared_source()).collect();
        let (template, lines) = if inputs.len() == 1 {
            // One file: the merged template is that file, unchanged.
            let only = inputs.remove(0);
            check_root(&only)?;
            let n = Src::new(only.tpl.source()).line_count();
            let lines = (1..=n)
                .map(|line| OutLine {
                    text: String::new(),
                    file: 0,
                    line,
                    shift: 0,
                })
                .collect();
            (only.tpl, lines)
        } else {
            let merged = merge(&inputs)?;
            let lines = merged.lines;
            let template = Template::parse(dir, merged.text).map_err(|e| {
                let at = locate_in(&files, &texts, &lines, e.at.span);
                AddonsError::MergedParse {
                    at,
                    message: e.message,
                }
            })?;
            (template, lines)
        };
        let mut addons = Addons {
            kind,
            dir: dir.to_path_buf(),
            files,
            texts,
            template,
            lines,
            parameters_file: parameters.as_ref().map(|(p, _)| p.clone()),
            parameters: Vec::new(),
            excluded: Vec::new(),
            outputs: Vec::new(),
        };
        addons.check_structure()?;
        addons.outputs = addons
            .template
            .root()
            .get("Outputs")
            .map(|o| {
                o.entries()
                    .iter()
                    .filter_map(|(k, _)| k.as_scalar().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        addons.parameters = addons.check_parameters(parameters)?;
        Ok(addons)
    }

    /// Whose addons these are.
    pub fn kind(&self) -> AddonsKind {
        self.kind
    }
    /// The addons folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The template files, in merge order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
    /// The merged template. Its origin is the file itself when there is one template, else
    /// the addons folder; map positions back to the original files with [`Addons::locate`].
    pub fn template(&self) -> &Template {
        &self.template
    }
    /// The merged template's text.
    pub fn text(&self) -> &str {
        self.template.source()
    }
    /// The parameters file, if any.
    pub fn parameters_file(&self) -> Option<&Path> {
        self.parameters_file.as_deref()
    }
    /// The entries of `addons.parameters.yml` (reserved ones excluded: they cannot be there).
    pub fn parameters(&self) -> &[AddonParameter] {
        &self.parameters
    }
    /// The environments that do not get these (environment) addons: `ExcludedEnvironments` of
    /// `addons.parameters.yml`, in order.
    pub fn excluded_environments(&self) -> &[String] {
        &self.excluded
    }
    /// Whether environment `env` is excluded ([`Addons::excluded_environments`]).
    pub fn excludes(&self, env: &str) -> bool {
        self.excluded.iter().any(|e| e == env)
    }
    /// The logical IDs of the merged template's outputs, in order.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }
    /// Maps a span of the merged text to the original file (with its text), line and column.
    pub fn locate(&self, merged: impl Into<Span>) -> Located {
        locate_in(&self.files, &self.texts, &self.lines, merged.into())
    }

    /// `at` in an original file: mapped back when it is in the merged text of several files,
    /// as it is otherwise.
    pub fn relocate(&self, at: Located) -> Located {
        if at.file != self.template.origin() || self.files.len() < 2 {
            return at;
        }
        let mapped = self.locate(at.span);
        if at.text.is_none() {
            mapped.without_text()
        } else {
            mapped
        }
    }

    /// What Copilot reads of the merged template (its `Outputs` parsing) must be well formed:
    /// `Resources` a mapping of mappings, each with a string `Type`; `Outputs` a mapping of
    /// mappings. `Fn::ForEach::` entries are the packager's to check.
    fn check_structure(&self) -> Result<(), AddonsError> {
        let root = self.template.root();
        let at = |pos: Pos| self.locate(pos);
        let section = |name: &'static str| {
            root.entries()
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(name))
        };
        let not_a_map = |name: &'static str, pos: Pos| {
            let l = at(pos);
            AddonsError::SectionNotAMap {
                section: name,
                at: l,
            }
        };
        let entries = |name: &'static str, value: &'_ cfn_yaml::Node| match &value.kind {
            NodeKind::Mapping(_) => Ok(()),
            _ => Err(not_a_map(name, value.span.start)),
        };
        // An absent `Resources` is left to CloudFormation (Copilot refuses it too, but a
        // template of only parameters or mappings merges fine with the others).
        for name in ["Resources", "Outputs"] {
            if let Some((_, value)) = section(name) {
                entries(name, value)?;
            }
        }
        let key_name = |k: &cfn_yaml::Node| {
            k.as_scalar().map(str::to_string).ok_or_else(|| {
                let l = at(k.span.start);
                AddonsError::InvalidKey { at: l }
            })
        };
        let resources = section("Resources")
            .map(|(_, r)| r.entries())
            .unwrap_or_default();
        for (k, resource) in resources {
            let logical_id = key_name(k)?;
            if logical_id.starts_with("Fn::ForEach::") {
                continue;
            }
            let problem = |reason: String, pos: Pos| {
                let l = at(pos);
                AddonsError::ResourceType {
                    logical_id: logical_id.clone(),
                    reason,
                    at: l,
                }
            };
            if !matches!(resource.kind, NodeKind::Mapping(_)) {
                return Err(problem(
                    format!("the resource is {}, not a mapping", describe(resource)),
                    resource.span.start,
                ));
            }
            match resource.get("Type") {
                None => {
                    return Err(problem("the resource has no \"Type\"".into(), k.span.start));
                }
                Some(t) if !is_string(t) => {
                    return Err(problem(
                        format!("\"Type\" must be a string, found {}", describe(t)),
                        t.span.start,
                    ));
                }
                Some(_) => {}
            }
        }
        let outputs = section("Outputs")
            .map(|(_, o)| o.entries())
            .unwrap_or_default();
        for (k, output) in outputs {
            let name = key_name(k)?;
            if name.starts_with("Fn::ForEach::") || matches!(output.kind, NodeKind::Mapping(_)) {
                continue;
            }
            let l = at(output.span.start);
            return Err(AddonsError::OutputNotAMap {
                reason: format!("the output is {}, not a mapping", describe(output)),
                name,
                at: l,
            });
        }
        Ok(())
    }

    /// B §3.3, in Copilot's order; returns the parameters file's entries.
    fn check_parameters(
        &mut self,
        file: Option<(PathBuf, String)>,
    ) -> Result<Vec<AddonParameter>, AddonsError> {
        let root = self.template.root();
        let tpl_params = root.get("Parameters");
        let tpl_entries = tpl_params.map(|p| p.entries()).unwrap_or_default();
        let in_template = |k: &str| tpl_entries.iter().any(|(tk, _)| tk.as_scalar() == Some(k));

        let custom = match file {
            Some((path, text)) => {
                let (custom, excluded) = parse_parameters_file(&path, text, self.kind)?;
                self.excluded = excluded;
                custom
            }
            None => Vec::new(),
        };
        let reserved = self.kind.reserved_parameters();
        for &name in reserved {
            if !in_template(name) {
                return Err(AddonsError::MissingRequiredParameter {
                    name: name.to_string(),
                    dir: self.dir.clone(),
                });
            }
            if let Some(p) = custom.iter().find(|p| p.key == name) {
                return Err(AddonsError::ReservedParameter {
                    reserved: word_series(reserved),
                    key: p.key.clone(),
                    at: p.location.clone(),
                });
            }
        }
        if let Some(p) = custom.iter().find(|p| !in_template(&p.key)) {
            return Err(AddonsError::UnknownParameter {
                key: p.key.clone(),
                at: p.location.clone(),
            });
        }
        for (k, v) in tpl_entries {
            let Some(name) = k.as_scalar() else { continue };
            if reserved.contains(&name)
                || v.get("Default").is_some()
                || custom.iter().any(|p| p.key == name)
            {
                continue;
            }
            let at = self.locate(k.span.start);
            return Err(AddonsError::ParameterWithoutValue {
                key: name.to_string(),
                at,
            });
        }
        Ok(custom)
    }
}

/// `"App", "Env" and "Name"`: Copilot's `english.WordSeries` of the quoted names.
fn word_series(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn locate_in(files: &[PathBuf], texts: &[Arc<str>], lines: &[OutLine], merged: Span) -> Located {
    let (file, line, col) = match merged.start.line.checked_sub(1).and_then(|i| lines.get(i)) {
        Some(l) => (
            l.file,
            l.line,
            (merged.start.col as isize - l.shift).max(1) as usize,
        ),
        None => (0, merged.start.line, merged.start.col),
    };
    // The same number of characters as in the merged text, within the line (to its end for
    // a span of several lines).
    let len = if merged.end.line == merged.start.line {
        merged.end.col.saturating_sub(merged.start.col)
    } else {
        usize::MAX
    };
    let path = files
        .get(file)
        .or(files.first())
        .cloned()
        .unwrap_or_default();
    let text = texts
        .get(file)
        .or(texts.first())
        .cloned()
        .unwrap_or_else(|| "".into());
    Located::at_line_col(path, text, line, col, len)
}

/// A non-empty string scalar: untagged (or `!!str`), quoted or a plain scalar that is not
/// null, a boolean or a number.
fn is_string(n: &cfn_yaml::Node) -> bool {
    let NodeKind::Scalar { value, style } = &n.kind else {
        return false;
    };
    match n.tag.as_deref() {
        Some("!!str" | "tag:yaml.org,2002:str") => !value.is_empty(),
        Some(_) => false,
        None if *style == cfn_yaml::ScalarStyle::Plain => {
            !is_null(n) && crate::merge::plain_scalar_is_string(value)
        }
        None => !value.is_empty(),
    }
}

/// What a node is, for messages.
fn describe(n: &cfn_yaml::Node) -> String {
    if let Some(tag) = n.tag.as_deref().filter(|t| !t.starts_with("!!")) {
        return format!("a {tag} value");
    }
    match &n.kind {
        NodeKind::Mapping(_) => "a mapping".into(),
        NodeKind::Sequence(_) => "a list".into(),
        NodeKind::Alias(_) => "an alias".into(),
        NodeKind::Scalar { .. } if is_null(n) => "nothing (null)".into(),
        NodeKind::Scalar { value, style } => {
            if *style == cfn_yaml::ScalarStyle::Plain
                && n.tag.is_none()
                && !crate::merge::plain_scalar_is_string(value)
            {
                format!("the non-string scalar {value}")
            } else {
                "a string".into()
            }
        }
    }
}

fn check_root(input: &Input) -> Result<(), AddonsError> {
    let root = input.tpl.root();
    if matches!(root.kind, NodeKind::Mapping(_)) {
        Ok(())
    } else {
        Err(AddonsError::NotAMapping {
            at: input.tpl.locate_at(root.span.start),
            what: "a template".into(),
        })
    }
}

/// What a file that is neither a regular file nor a folder is, for messages.
fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

fn read_text(path: &Path) -> Result<String, AddonsError> {
    let bytes = std::fs::read(path).map_err(|source| AddonsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| AddonsError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Reads the `Parameters` map of `addons.parameters.yml`, keeping each entry's text, and (for
/// environment addons) its [`EXCLUDED_ENVIRONMENTS`] list.
fn parse_parameters_file(
    path: &Path,
    text: String,
    kind: AddonsKind,
) -> Result<(Vec<AddonParameter>, Vec<String>), AddonsError> {
    let missing = || AddonsError::MissingParametersField {
        file_name: file_name(path),
        path: path.to_path_buf(),
    };
    if text
        .lines()
        .all(|l| is_blank(l) || is_comment(l) || l.trim() == "---")
    {
        return Err(missing());
    }
    let tpl = Template::parse(path, text)?;
    let root = tpl.root();
    let excluded = excluded_environments(&tpl, kind)?;
    let Some((key, params)) = root
        .entries()
        .iter()
        .find(|(k, _)| k.as_scalar() == Some("Parameters"))
    else {
        return Err(missing());
    };
    if is_null(params) {
        return Ok((Vec::new(), excluded));
    }
    if !matches!(params.kind, NodeKind::Mapping(_)) {
        return Err(AddonsError::NotAMapping {
            at: tpl.locate_at(params.span.start),
            what: "field 'Parameters'".into(),
        });
    }
    let src = Src::new(tpl.source());
    let regions = mapping_regions(&src, params, key.span.start.line);
    let mut out = Vec::with_capacity(regions.len());
    for ((k, _), r) in params.entries().iter().zip(&regions) {
        let Some(name) = k.as_scalar() else {
            return Err(AddonsError::InvalidKey {
                at: tpl.locate_at(k.span.start),
            });
        };
        let mut lines = Out::default();
        emit(&mut lines, &src, 0, r, 0, "", true);
        out.push(AddonParameter {
            key: name.to_string(),
            entry: lines.text().trim_end_matches('\n').to_string(),
            location: tpl.locate_at(k.span.start),
        });
    }
    Ok((out, excluded))
}

/// The [`EXCLUDED_ENVIRONMENTS`] list of a parameters file: environment names, for environment
/// addons only.
fn excluded_environments(tpl: &Template, kind: AddonsKind) -> Result<Vec<String>, AddonsError> {
    let root = tpl.root();
    let Some((key, list)) = root
        .entries()
        .iter()
        .find(|(k, _)| k.as_scalar() == Some(EXCLUDED_ENVIRONMENTS))
    else {
        return Ok(Vec::new());
    };
    let bad = |reason: &str, at: &cfn_yaml::Node| AddonsError::ExcludedEnvironments {
        reason: reason.to_owned(),
        at: tpl.locate_at(at.span.start),
    };
    if kind != AddonsKind::Environment {
        return Err(bad(
            "only the environment addons (copilot/environments/addons/) can leave environments out",
            key,
        ));
    }
    let NodeKind::Sequence(items) = &list.kind else {
        return Err(bad("expected a list of environment names", list));
    };
    items
        .iter()
        .map(|item| match item.as_scalar() {
            Some(name) if item.tag.is_none() && !name.is_empty() && !is_null(item) => {
                Ok(name.to_owned())
            }
            _ => Err(bad("expected an environment name", item)),
        })
        .collect()
}
