//! Property tests: no input makes parse or render panic, rendering without edits is the
//! identity (or, with anchors, an unrolled template that reads the same), and replacements
//! round-trip arbitrary strings.

use std::path::Path;

use cfn_yaml::{Edits, Node, NodeKind, Replacement, Template};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "A: 1\nB: [x, 'y', \"z\"]\nC:\n  - d\n  - e: f\n",
    "Resources:\n  Fn:\n    Type: AWS::Lambda::Function # c\n    Properties:\n      Code: ./src\n      Handler: !Sub '${A}.h'\n",
    "a: |\n  text\n   more\nb: >-\n  folded\nc: &x {k: v}\nd: *x\n",
    "---\n# comment\nk: !GetAtt A.B\nl: !If [C, !Ref D, \"e\\n\"]\n...\n",
    "{\"A\": {\"B\": [1, 2.5, true, null, \"s\\u00e9\"]}}",
    "x: \"multi\n  line\"\ny: plain\n  continued\nz: ''\n",
    "\u{feff}k: v\r\nl:\r\n- 1\r\n- 2\r\n",
    "Base: &b\n  A: 1 # c\n  L:\n  - x\nM:\n  <<: *b\n  C: [*b]\nN: {<<: [*b], D: *b}\n",
    "R:\n  P: &p\n    Code: src/\n    T: &t |\n      t\n  Q:\n    <<: *p\n    X: *t\n  S:\n  - *p\n  - &s !Sub x\n  - *s\n",
];

/// All nodes of a tree, in pre-order.
fn nodes(n: &Node, out: &mut Vec<Node>) {
    out.push(n.clone());
    match &n.kind {
        NodeKind::Mapping(entries) => {
            for (k, v) in entries {
                nodes(k, out);
                nodes(v, out);
            }
        }
        NodeKind::Sequence(items) => items.iter().for_each(|i| nodes(i, out)),
        _ => {}
    }
}

/// Parses `src`; when it parses, checks identity rendering and exercises every renderer.
fn exercise(src: &str) {
    let Ok(t) = Template::parse(Path::new("p.yaml"), src.to_owned()) else {
        return;
    };
    let out = t.render(&Edits::new());
    if t.has_aliases() {
        // Unrolled: no anchor or alias left, and CloudFormation reads the same template.
        let back = Template::parse(Path::new("p.yaml"), out.clone())
            .unwrap_or_else(|e| panic!("unrolled output does not parse: {e}\n{src:?}\n{out}"));
        assert!(!back.has_aliases(), "{src:?}\n{out}");
        if let Ok(json) = t.render_json(&Edits::new()) {
            assert_eq!(
                back.render_json(&Edits::new()).ok().as_deref(),
                Some(json.as_str()),
                "{src:?}\n{out}"
            );
        }
    } else {
        assert_eq!(out, src);
        let _ = t.render_json(&Edits::new());
    }
    let mut all = Vec::new();
    nodes(t.root(), &mut all);
    for (i, n) in all.iter().enumerate().take(40) {
        let rep = if i % 2 == 0 {
            Replacement::String(format!("v{i}: #x"))
        } else {
            Replacement::Mapping(vec![
                ("S3Bucket".into(), "b".into()),
                ("K".into(), "".into()),
            ])
        };
        let mut edits = Edits::new();
        edits.replace(n, rep);
        let out = t.render(&edits);
        let _ = Template::parse(Path::new("p.yaml"), out);
        let _ = t.render_json(&edits);
    }
}

fn mutate(seed: &str, ops: &[(u8, usize, char)]) -> String {
    let mut s: Vec<char> = seed.chars().collect();
    for &(op, at, c) in ops {
        let at = if s.is_empty() { 0 } else { at % (s.len() + 1) };
        match op % 4 {
            0 => s.insert(at, c),
            1 if at < s.len() => {
                s.remove(at);
            }
            2 if at < s.len() => s[at] = c,
            _ => {
                // Duplicate a slice.
                let end = (at + 7).min(s.len());
                let dup: Vec<char> = s[at..end].to_vec();
                for (j, d) in dup.into_iter().enumerate() {
                    s.insert(at + j, d);
                }
            }
        }
    }
    s.into_iter().collect()
}

fn yamlish_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![
            ' ', ' ', '\n', '\t', '\r', ':', '-', '[', ']', '{', '}', ',', '#', '&', '*', '!', '|',
            '>', '\'', '"', '\\', '%', '@', '`', '?', '.', '0', '1', 'a', 'b', 'é', '\u{feff}',
        ]),
        1 => any::<char>(),
    ]
}

/// A small well-formed template whose values use every scalar style.
fn template() -> impl Strategy<Value = (String, usize)> {
    let value = prop::sample::select(vec![
        "plain value",
        "'single ''q'''",
        "\"double \\\" q\"",
        "|\n    literal\n    text",
        ">-\n    folded\n    text",
        "!Ref tagged",
        "!Sub\n    - x\n    - y",
        "[a, b]",
        "{k: v}",
        "",
        "\"\"",
        "# only a comment",
    ]);
    (prop::collection::vec(value, 1..6), 0usize..6, any::<bool>()).prop_map(
        |(values, pick, crlf)| {
            let mut s = String::from("Root:\n");
            for (i, v) in values.iter().enumerate() {
                s.push_str(&format!("  K{i}: {v}\n"));
            }
            s.push_str("Other: x # end\n");
            if crlf {
                s = s.replace('\n', "\r\n");
            }
            (s, pick % values.len())
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn yamlish_strings_never_panic(chars in prop::collection::vec(yamlish_char(), 0..120)) {
        let s: String = chars.into_iter().collect();
        exercise(&s);
    }

    #[test]
    fn mutated_templates_never_panic(
        seed in prop::sample::select(SEEDS.to_vec()),
        ops in prop::collection::vec((any::<u8>(), any::<usize>(), yamlish_char()), 1..6),
    ) {
        exercise(&mutate(seed, &ops));
    }

    #[test]
    fn string_replacement_round_trips((src, pick) in template(), value in any::<String>()) {
        let t = Template::parse(Path::new("p.yaml"), src.clone()).unwrap();
        prop_assert_eq!(t.render(&Edits::new()), src.clone());
        let key = format!("K{pick}");
        let node = t.root().get_path(&["Root", &key]).unwrap();
        let mut edits = Edits::new();
        edits.replace(node, Replacement::String(value.clone()));
        let out = t.render(&edits);
        let re = Template::parse(Path::new("o.yaml"), out.clone())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        let got = re.root().get_path(&["Root", &key]).unwrap();
        prop_assert_eq!(got.as_scalar(), Some(value.as_str()), "{}", out);
        prop_assert_eq!(&got.tag, &node.tag);
        prop_assert_eq!(re.root().get("Other").and_then(Node::as_scalar), Some("x"));
        prop_assert_eq!(re.root().get("Root").unwrap().entries().len(), t.root().get("Root").unwrap().entries().len());
    }

    #[test]
    fn mapping_replacement_round_trips(
        (src, pick) in template(),
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..3),
    ) {
        // Keys must be distinct to form a valid mapping.
        let mut pairs = pairs;
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        let t = Template::parse(Path::new("p.yaml"), src).unwrap();
        let key = format!("K{pick}");
        let node = t.root().get_path(&["Root", &key]).unwrap();
        let mut edits = Edits::new();
        edits.replace(node, Replacement::Mapping(pairs.clone()));
        let out = t.render(&edits);
        let re = Template::parse(Path::new("o.yaml"), out.clone())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        let got = re.root().get_path(&["Root", &key]).unwrap();
        let got_pairs: Vec<(String, String)> = got
            .entries()
            .iter()
            .map(|(k, v)| (k.as_scalar().unwrap().to_owned(), v.as_scalar().unwrap().to_owned()))
            .collect();
        prop_assert!(matches!(got.kind, NodeKind::Mapping(_)), "{}", out);
        prop_assert_eq!(got_pairs, pairs, "{}", out);
        prop_assert_eq!(re.root().get("Other").and_then(Node::as_scalar), Some("x"));
    }
}
