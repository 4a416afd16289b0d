//! Lossless CloudFormation template model (YAML and JSON).
//!
//! Owns: parsing a template into a tree of [`Node`]s that remembers, for every node, its
//! short-form tag (`!Ref`, `!GetAtt`, ...), anchor, scalar style and exact source [`Span`];
//! finding nodes by path; rendering the template with a set of [`Edits`] so that every byte
//! that is not replaced stays identical to the input; rendering as JSON with short tags turned
//! into their long form.
//!
//! Must not know about: CloudFormation resource types, S3, zipping, the file system (callers
//! read the text and pass it in), or the terminal.
//!
//! YAML is read with yaml-rust2's event parser, which only reports where each event's content
//! token starts: node ends are computed by scanning the source per scalar style, and tag,
//! anchor and alias positions come from a second pass of yaml-rust2's scanner. Positions are
//! taken from the markers' line and column (the marker index is not reliable after non-ASCII
//! block scalar lines). JSON templates (first non-blank character `{`) are read by a small
//! span-keeping JSON parser and produce the same tree (all collections `flow`, strings
//! double-quoted); text that is not JSON but is YAML (e.g. `{a: b}`) is read as YAML.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod json;
mod lines;
mod located;
mod quote;
mod render;
mod resolve;
mod to_json;
mod yaml;

pub use located::{Located, Place};
pub use resolve::Via;

/// Deepest collection nesting accepted when parsing (keeps recursion bounded).
pub(crate) const MAX_DEPTH: usize = 200;

/// A position in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Byte offset into the source text.
    pub byte: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub col: usize,
}

/// A half-open byte range of the source, `start.byte..end.byte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

/// The empty span at a position.
impl From<Pos> for Span {
    fn from(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` block scalar.
    Literal,
    /// `>` block scalar.
    Folded,
}

/// Source format of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `value` is the decoded scalar value (quotes and escapes resolved).
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Sequence(Vec<Node>),
    /// Entries in source order.
    Mapping(Vec<(Node, Node)>),
    /// `*name`.
    Alias(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Tag as written, e.g. `!Ref`, `!!str`, `!GetAtt`; `None` when untagged.
    pub tag: Option<String>,
    /// Anchor name (without `&`).
    pub anchor: Option<String>,
    /// Whether a collection was written in flow style (`[...]`, `{...}`); false for scalars.
    pub flow: bool,
    /// Full span of the node, including its tag and anchor.
    pub span: Span,
    /// Span of the content only (for a scalar: the token including its quotes or block header;
    /// for a collection: same as the part after the properties).
    pub content: Span,
    /// The aliases through which this node is reached in [`Template::root`] (empty for a node
    /// read where it is written). Spans say where a node's text is; `via` tells apart the
    /// occurrences of text written once under an anchor.
    pub via: Via,
}

impl Node {
    /// The scalar value, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
    /// Looks up a key of a mapping node (by scalar key value).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Mapping(entries) => entries
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    /// Follows a path of mapping keys, e.g. `["Resources", "Fn", "Properties", "Code"]`.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }
    /// Mapping entries, or an empty slice.
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Mapping(entries) => entries,
            _ => &[],
        }
    }
}

/// A parsed template: the source text and its tree.
#[derive(Debug, Clone)]
pub struct Template {
    origin: PathBuf,
    source: Arc<str>,
    format: Format,
    /// The tree as written (aliases and merge keys as such).
    root: Node,
    /// CloudFormation's reading of `root`, when it differs (aliases or merge keys).
    resolved: Option<Node>,
    /// Whether the source has anchors, aliases or merge keys (rendering unrolls them).
    unroll: bool,
}

/// A parse error, located in the source (whose text it carries).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ParseError {
    pub at: Located,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(origin: &Path, pos: Pos, message: impl Into<String>) -> Self {
        ParseError {
            at: Located::at(origin, None, pos),
            message: message.into(),
        }
    }
}

/// A render error (e.g. a tag with no long form in JSON output).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{at}: {message}")]
pub struct RenderError {
    pub at: Located,
    pub message: String,
}

impl Template {
    /// Parses `source` (YAML, or JSON when the first non-blank char is `{`). `origin` is only
    /// used in error messages. Never panics. A document with several `---` documents, or an
    /// empty document, is an error (a template is one mapping). Duplicate mapping keys are an
    /// error naming both lines.
    pub fn parse(origin: &Path, source: String) -> Result<Template, ParseError> {
        let source: Arc<str> = source.into();
        Self::parse_text(origin, &source).map_err(|e| ParseError {
            at: e.at.with_text(source.clone()),
            ..e
        })
    }

    fn parse_text(origin: &Path, source: &Arc<str>) -> Result<Template, ParseError> {
        let bom = if source.starts_with('\u{feff}') { 3 } else { 0 };
        // yaml-rust2 takes a NUL for the end of the input and would silently drop what follows;
        // YAML and JSON allow no C0 control character but tab and line breaks anyway.
        if let Some(byte) = source
            .bytes()
            .position(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
        {
            return Err(ParseError::new(
                origin,
                lines::LineIndex::new(source, bom).pos(byte),
                format!(
                    "control character U+{:04X} is not allowed in a template",
                    source.as_bytes()[byte]
                ),
            ));
        }
        let body = source.get(bom..).unwrap_or("");
        let looks_json = body.trim_start().starts_with('{');
        let (root, format) = if looks_json {
            match json::parse(origin, source, bom) {
                Ok(root) => (root, Format::Json),
                Err(json::JsonError::Semantic(e)) => return Err(e),
                // Not JSON: maybe a YAML flow mapping.
                Err(json::JsonError::Syntax(e)) => match yaml::parse(origin, source, bom) {
                    Ok(root) => (root, Format::Yaml),
                    Err(_) => return Err(e),
                },
            }
        } else {
            (yaml::parse(origin, source, bom)?, Format::Yaml)
        };
        let fail = |f: resolve::Fail| ParseError::new(origin, f.pos, f.message);
        let (resolved, unroll) = if format == Format::Yaml {
            let anchors = resolve::Anchors::index(&root).map_err(fail)?;
            let resolved = if anchors.targets_any() || anchors.merges {
                Some(
                    resolve::Resolver::new(&anchors)
                        .resolve(&root, &Via::default(), 0)
                        .map_err(fail)?,
                )
            } else {
                None
            };
            (resolved, anchors.any)
        } else {
            (None, false)
        };
        Ok(Template {
            origin: origin.to_path_buf(),
            source: source.clone(),
            format,
            root,
            resolved,
            unroll,
        })
    }
    /// The node whose full span is `span` (the outermost one if several), if any.
    pub fn find_node_by_span(&self, span: Span) -> Option<&Node> {
        fn find(n: &Node, span: Span) -> Option<&Node> {
            if n.span == span {
                return Some(n);
            }
            if span.start.byte < n.span.start.byte || span.end.byte > n.span.end.byte {
                return None;
            }
            match &n.kind {
                NodeKind::Mapping(entries) => entries
                    .iter()
                    .find_map(|(k, v)| find(k, span).or_else(|| find(v, span))),
                NodeKind::Sequence(items) => items.iter().find_map(|i| find(i, span)),
                _ => None,
            }
        }
        find(self.root(), span)
    }
    pub fn origin(&self) -> &Path {
        &self.origin
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    /// `span` of this template, with its text: what an error about that place carries.
    pub fn locate(&self, span: Span) -> Located {
        Located::new(&self.origin, Some(self.source.clone()), span)
    }
    /// [`Template::locate`] for the empty span at `pos`.
    pub fn locate_at(&self, pos: Pos) -> Located {
        Located::at(&self.origin, Some(self.source.clone()), pos)
    }
    /// The text, shared.
    pub fn shared_source(&self) -> Arc<str> {
        self.source.clone()
    }
    pub fn format(&self) -> Format {
        self.format
    }
    /// The template as CloudFormation reads it: aliases replaced by the node they refer to
    /// (each occurrence with its own [`Node::via`]) and merge keys (`<<`) by the entries they
    /// merge. Spans point at where each node's text is written. Nodes to edit come from here.
    pub fn root(&self) -> &Node {
        self.resolved.as_ref().unwrap_or(&self.root)
    }
    /// The tree as written: aliases as [`NodeKind::Alias`], merge keys as entries, every node
    /// once. For text surgery on the source; the same as [`Template::root`] when the template has
    /// no alias and no merge key.
    pub fn written_root(&self) -> &Node {
        &self.root
    }
    /// Whether the source has YAML anchors, aliases or merge keys, which rendering unrolls.
    pub fn has_aliases(&self) -> bool {
        self.unroll
    }
    /// Renders the template with `edits` applied, in the template's own format. Aliases and
    /// merge keys are unrolled and anchors dropped (CloudFormation refuses them); every other
    /// byte that no edit replaces is written as it is in the source. With no edits and no
    /// anchors the output equals the input byte for byte.
    pub fn render(&self, edits: &Edits) -> String {
        render::render(self, edits)
    }
    /// Renders [`Template::root`] (with `edits`) as JSON, converting short tags to long form and
    /// resolving plain scalars as CloudFormation's YAML 1.1 reader does.
    pub fn render_json(&self, edits: &Edits) -> Result<String, RenderError> {
        to_json::render_json(self, edits)
    }
}

/// What replaces a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// A string scalar. Keeps a quoted node's quote style; a plain node stays plain when the
    /// value is safe as a plain scalar, else it is double-quoted. Tag and anchor are kept.
    String(String),
    /// A mapping of string keys to string values, in this order. In block context it is written
    /// as a block mapping on the following lines, indented one step deeper than the key that
    /// owns the node (the step is the document's own indentation step, else 2); in flow context
    /// or JSON, as a flow mapping `{k: v, ...}` / `{"k": "v", ...}`. The node's tag and anchor
    /// are dropped.
    Mapping(Vec<(String, String)>),
}

/// A set of replacements, keyed by the node they replace (its span and [`Node::via`]).
#[derive(Debug, Clone, Default)]
pub struct Edits {
    edits: Vec<(Via, Span, Replacement)>,
}

impl Edits {
    pub fn new() -> Self {
        Self::default()
    }
    /// Replaces `node` (a node of [`Template::root`] of the template later rendered) with
    /// `with`. Only that occurrence is replaced: other aliases of the same text keep it.
    pub fn replace(&mut self, node: &Node, with: Replacement) {
        self.edits.push((node.via.clone(), node.span, with));
    }
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }
    pub fn len(&self) -> usize {
        self.edits.len()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        })
    }
}
