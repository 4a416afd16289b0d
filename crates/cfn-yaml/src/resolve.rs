//! CloudFormation's reading of a YAML tree: aliases replaced by the node they refer to, merge
//! keys (`<<`) replaced by the entries they merge.
//!
//! CloudFormation refuses aliases ("YAML aliases are not allowed in CloudFormation templates")
//! and knows nothing of merge keys; `aws cloudformation package` unrolls both (it loads the
//! template with PyYAML and writes it back). The resolved tree is what every consumer of a
//! template reads; rendering writes it back with the same rules (see `render.rs`).
//!
//! Merge rules (YAML 1.1 merge key type, as PyYAML applies them): `<<` takes a mapping, an alias
//! of one, or a list of those; an entry written in the mapping itself wins over a merged one,
//! and an earlier mapping in the list wins over a later one. The merged entries take the place
//! of the `<<` entry, in their own order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::{MAX_DEPTH, Node, NodeKind, Pos, ScalarStyle};

/// Nodes that alias expansion may add to a template (guards against alias bombs).
pub(crate) const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Scalar bytes that alias expansion may add to a template. CloudFormation takes templates of
/// 1 MB at most, so a template that expands past this is an attack or a mistake.
pub(crate) const MAX_EXPANDED_BYTES: usize = 16 * 1024 * 1024;
/// Nesting allowed after expansion (aliases can nest deeper than the source).
pub(crate) const MAX_RESOLVED_DEPTH: usize = 4 * MAX_DEPTH;

/// Through which aliases a node of the resolved tree is reached: the byte offsets of the
/// aliases (and merge-key aliases) followed, outermost first. Empty for a node read where it is
/// written. A node written once under an anchor appears once per alias of it, each with its own
/// `Via`, so that an edit of one occurrence leaves the others as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Via(Option<Arc<[usize]>>);

impl Via {
    /// Whether the node is read where it is written (reached through no alias).
    pub fn is_direct(&self) -> bool {
        self.0.is_none()
    }
    /// This chain followed by the alias at `alias_byte`.
    pub(crate) fn then(&self, alias_byte: usize) -> Via {
        let mut v: Vec<usize> = self.0.as_deref().unwrap_or(&[]).to_vec();
        v.push(alias_byte);
        Via(Some(v.into()))
    }
    /// The outermost alias followed, if any.
    pub(crate) fn first(&self) -> Option<usize> {
        self.0.as_deref().and_then(|v| v.first().copied())
    }
}

/// Whether `k` is a merge key (`<<` plain and untagged, or tagged `!!merge`).
pub(crate) fn is_merge_key(k: &Node) -> bool {
    match (&k.kind, k.tag.as_deref()) {
        (
            NodeKind::Scalar {
                value,
                style: ScalarStyle::Plain,
            },
            None,
        ) => value == "<<",
        (NodeKind::Scalar { .. }, Some(t)) => t == "!!merge" || t == "!<tag:yaml.org,2002:merge>",
        _ => false,
    }
}

/// One entry of a mapping as CloudFormation reads it: a written key and value, the aliases
/// through which they are reached, and the mapping they are written in.
#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub key: &'a Node,
    pub value: &'a Node,
    pub via: Via,
    pub home: &'a Node,
}

/// What one written entry of a mapping becomes.
#[derive(Debug, Clone)]
pub(crate) enum Slot<'a> {
    /// The entry itself (index into the written entries).
    Own(usize),
    /// A merge key: the entries it contributes (those not overridden).
    Merged {
        index: usize,
        entries: Vec<Entry<'a>>,
    },
}

/// A problem found while resolving: where, and what.
#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub pos: Pos,
    pub message: String,
}

/// What the anchors of a document refer to.
pub(crate) struct Anchors<'a> {
    /// Alias start byte -> (alias node, the node it refers to).
    targets: HashMap<usize, (&'a Node, &'a Node)>,
    /// Whether the document has an anchor, an alias or a merge key.
    pub any: bool,
    pub merges: bool,
}

impl<'a> Anchors<'a> {
    /// Indexes `root`: each alias is bound to the latest node anchored under its name before
    /// it (YAML's rule; an anchor is defined once its node is complete).
    pub(crate) fn index(root: &'a Node) -> Result<Anchors<'a>, Fail> {
        fn walk<'a>(
            n: &'a Node,
            defs: &mut HashMap<&'a str, &'a Node>,
            a: &mut Anchors<'a>,
        ) -> Result<(), Fail> {
            match &n.kind {
                NodeKind::Alias(name) => {
                    a.any = true;
                    let Some(t) = defs.get(name.as_str()) else {
                        return Err(Fail {
                            pos: n.span.start,
                            message: format!("unknown alias *{name}"),
                        });
                    };
                    a.targets.insert(n.span.start.byte, (n, t));
                }
                NodeKind::Mapping(entries) => {
                    for (k, v) in entries {
                        if is_merge_key(k) {
                            a.any = true;
                            a.merges = true;
                        }
                        walk(k, defs, a)?;
                        walk(v, defs, a)?;
                    }
                }
                NodeKind::Sequence(items) => {
                    for it in items {
                        walk(it, defs, a)?;
                    }
                }
                NodeKind::Scalar { value, style } => {
                    // YAML allows a byte order mark only at the start or in a quoted scalar;
                    // yaml-rust2 reads one in a plain scalar, which would not read back alike.
                    if *style == ScalarStyle::Plain && value.contains('\u{feff}') {
                        return Err(Fail {
                            pos: n.span.start,
                            message: "byte order mark (U+FEFF) inside a plain scalar".to_owned(),
                        });
                    }
                }
            }
            if let Some(name) = &n.anchor {
                a.any = true;
                defs.insert(name.as_str(), n);
            }
            Ok(())
        }
        let mut a = Anchors {
            targets: HashMap::new(),
            any: false,
            merges: false,
        };
        walk(root, &mut HashMap::new(), &mut a)?;
        Ok(a)
    }

    /// Whether the document has an alias.
    pub(crate) fn targets_any(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Where the alias at byte `at` is written.
    pub(crate) fn alias_pos(&self, at: usize) -> Option<Pos> {
        self.targets.get(&at).map(|(a, _)| a.span.start)
    }

    /// The node an alias refers to (the node itself when it is not an alias).
    pub(crate) fn target(&self, n: &'a Node) -> &'a Node {
        match n.kind {
            NodeKind::Alias(_) => self.targets.get(&n.span.start.byte).map_or(n, |(_, t)| *t),
            _ => n,
        }
    }

    /// A key's text, for deciding which entry wins (`None` when not a scalar).
    fn key_text(&self, k: &'a Node) -> Option<&'a str> {
        self.target(k).as_scalar()
    }

    /// The mappings a merge key's value merges, first (winning) first.
    fn sources(&self, v: &'a Node, via: &Via) -> Result<Vec<(&'a Node, Via)>, Fail> {
        let bad = |n: &Node| Fail {
            pos: n.span.start,
            message: "the merge key `<<` takes a mapping, an alias of one, or a list of them"
                .to_owned(),
        };
        let one = |n: &'a Node, via: &Via| -> Result<(&'a Node, Via), Fail> {
            let (t, via) = match n.kind {
                NodeKind::Alias(_) => (self.target(n), via.then(n.span.start.byte)),
                _ => (n, via.clone()),
            };
            match t.kind {
                NodeKind::Mapping(_) => Ok((t, via)),
                _ => Err(bad(n)),
            }
        };
        let (list, list_via) = match v.kind {
            NodeKind::Alias(_) => (self.target(v), via.then(v.span.start.byte)),
            _ => (v, via.clone()),
        };
        match &list.kind {
            NodeKind::Sequence(items) => items.iter().map(|it| one(it, &list_via)).collect(),
            _ => Ok(vec![one(v, via)?]),
        }
    }

    /// How the written entries of mapping `m` (reached through `via`) become CloudFormation's.
    pub(crate) fn layout(&self, m: &'a Node, via: &Via) -> Result<Vec<Slot<'a>>, Fail> {
        self.layout_at(m, via, 0)
    }

    fn layout_at(&self, m: &'a Node, via: &Via, depth: usize) -> Result<Vec<Slot<'a>>, Fail> {
        if depth > MAX_RESOLVED_DEPTH {
            return Err(Fail {
                pos: m.span.start,
                message: "merge keys nest too deep".to_owned(),
            });
        }
        let entries = m.entries();
        if !self.merges || !entries.iter().any(|(k, _)| is_merge_key(k)) {
            return Ok((0..entries.len()).map(Slot::Own).collect());
        }
        let own: HashSet<&str> = entries
            .iter()
            .filter(|(k, _)| !is_merge_key(k))
            .filter_map(|(k, _)| self.key_text(k))
            .collect();
        let mut taken: HashSet<&str> = HashSet::new();
        let mut slots = Vec::with_capacity(entries.len());
        for (i, (k, v)) in entries.iter().enumerate() {
            if !is_merge_key(k) {
                slots.push(Slot::Own(i));
                continue;
            }
            let mut merged = Vec::new();
            for (src, sv) in self.sources(v, via)? {
                for e in self.flat(src, &sv, depth + 1)? {
                    if let Some(t) = self.key_text(e.key)
                        && (own.contains(t) || !taken.insert(t))
                    {
                        continue;
                    }
                    merged.push(e);
                }
            }
            slots.push(Slot::Merged {
                index: i,
                entries: merged,
            });
        }
        Ok(slots)
    }

    /// The entries of mapping `m` as CloudFormation reads them.
    pub(crate) fn flat(
        &self,
        m: &'a Node,
        via: &Via,
        depth: usize,
    ) -> Result<Vec<Entry<'a>>, Fail> {
        let entries = m.entries();
        let mut out = Vec::with_capacity(entries.len());
        for slot in self.layout_at(m, via, depth)? {
            match slot {
                Slot::Own(i) => {
                    let (key, value) = &entries[i];
                    out.push(Entry {
                        key,
                        value,
                        via: via.clone(),
                        home: m,
                    });
                }
                Slot::Merged { entries, .. } => out.extend(entries),
            }
        }
        Ok(out)
    }
}

/// Builds the resolved tree, counting what expansion adds.
pub(crate) struct Resolver<'r, 'a> {
    anchors: &'r Anchors<'a>,
    nodes: usize,
    bytes: usize,
}

impl<'r, 'a> Resolver<'r, 'a> {
    pub(crate) fn new(anchors: &'r Anchors<'a>) -> Self {
        Resolver {
            anchors,
            nodes: 0,
            bytes: 0,
        }
    }

    fn count(&mut self, n: &Node, via: &Via) -> Result<(), Fail> {
        let Some(first) = via.first() else {
            return Ok(());
        };
        self.nodes += 1;
        if let NodeKind::Scalar { value, .. } = &n.kind {
            self.bytes += value.len();
        }
        if self.nodes > MAX_EXPANDED_NODES || self.bytes > MAX_EXPANDED_BYTES {
            return Err(Fail {
                pos: self.anchors.alias_pos(first).unwrap_or(n.span.start),
                message: format!(
                    "YAML aliases expand past {MAX_EXPANDED_NODES} nodes or {} MiB (aliases are \
                     expanded because CloudFormation refuses them)",
                    MAX_EXPANDED_BYTES / (1024 * 1024)
                ),
            });
        }
        Ok(())
    }

    /// The resolved copy of `n`, reached through `via`.
    pub(crate) fn resolve(&mut self, n: &'a Node, via: &Via, depth: usize) -> Result<Node, Fail> {
        if depth > MAX_RESOLVED_DEPTH {
            return Err(Fail {
                pos: n.span.start,
                message: format!(
                    "nesting deeper than {MAX_RESOLVED_DEPTH} levels once aliases are expanded"
                ),
            });
        }
        if let NodeKind::Alias(_) = n.kind {
            let t = self.anchors.target(n);
            return self.resolve(t, &via.then(n.span.start.byte), depth + 1);
        }
        self.count(n, via)?;
        let kind = match &n.kind {
            NodeKind::Scalar { .. } | NodeKind::Alias(_) => n.kind.clone(),
            NodeKind::Sequence(items) => NodeKind::Sequence(
                items
                    .iter()
                    .map(|it| self.resolve(it, via, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Mapping(_) => {
                let flat = self.anchors.flat(n, via, depth)?;
                let mut out = Vec::with_capacity(flat.len());
                for e in flat {
                    let k = self.resolve(e.key, &e.via, depth + 1)?;
                    let v = self.resolve(e.value, &e.via, depth + 1)?;
                    out.push((k, v));
                }
                NodeKind::Mapping(out)
            }
        };
        Ok(Node {
            kind,
            tag: n.tag.clone(),
            anchor: n.anchor.clone(),
            flow: n.flow,
            span: n.span,
            content: n.content,
            via: via.clone(),
        })
    }
}
