//! Unit tests of parsing, lossless rendering, replacements and JSON conversion.

mod common;

use std::path::Path;

use cfn_yaml::{Edits, Format, Node, NodeKind, Replacement, ScalarStyle, Template};
use common::{check_spans, strip};

fn parse(src: &str) -> Template {
    let t = Template::parse(Path::new("t.yaml"), src.to_owned())
        .unwrap_or_else(|e| panic!("parse failed: {e}\n{src}"));
    check_spans(src, t.written_root());
    if !t.has_aliases() {
        assert_eq!(t.render(&Edits::new()), src);
    }
    t
}

fn parse_err(src: &str) -> String {
    match Template::parse(Path::new("t.yaml"), src.to_owned()) {
        Ok(t) => panic!("expected an error, got {:?}", t.root()),
        Err(e) => e.to_string(),
    }
}

fn at<'a>(t: &'a Template, path: &[&str]) -> &'a Node {
    t.root()
        .get_path(path)
        .unwrap_or_else(|| panic!("no node at {path:?}"))
}

fn span_text<'a>(t: &'a Template, n: &Node) -> &'a str {
    &t.source()[n.span.start.byte..n.span.end.byte]
}

fn content_text<'a>(t: &'a Template, n: &Node) -> &'a str {
    &t.source()[n.content.start.byte..n.content.end.byte]
}

fn scalar_style(n: &Node) -> ScalarStyle {
    match n.kind {
        NodeKind::Scalar { style, .. } => style,
        _ => panic!("not a scalar: {n:?}"),
    }
}

/// Renders `src` with the node at `path` replaced, and re-parses the output.
fn replace(src: &str, path: &[&str], rep: Replacement) -> (String, Template) {
    let t = parse(src);
    let mut edits = Edits::new();
    edits.replace(at(&t, path), rep);
    let out = t.render(&edits);
    let re = Template::parse(Path::new("out.yaml"), out.clone())
        .unwrap_or_else(|e| panic!("re-parse failed: {e}\n{out}"));
    check_spans(&out, re.written_root());
    assert!(!re.has_aliases(), "anchors are unrolled: {out}");
    (out, re)
}

fn s3(bucket: &str, key: &str) -> Replacement {
    Replacement::Mapping(vec![
        ("S3Bucket".into(), bucket.into()),
        ("S3Key".into(), key.into()),
    ])
}

fn json(t: &Template) -> serde_json::Value {
    let out = t.render_json(&Edits::new()).unwrap();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("invalid JSON {e}:\n{out}"))
}

// ---------------------------------------------------------------------------------------------
// Tags

const TAGS: &[&str] = &[
    "!Ref",
    "!GetAtt",
    "!Sub",
    "!If",
    "!Join",
    "!Select",
    "!Split",
    "!FindInMap",
    "!Base64",
    "!Cidr",
    "!GetAZs",
    "!ImportValue",
    "!Equals",
    "!And",
    "!Or",
    "!Not",
    "!Condition",
    "!Transform",
    "!ForEach",
    "!Length",
    "!ToJsonString",
    "!Custom",
    "!Rain::Module",
    "!!str",
    "!",
];

#[test]
fn every_tag_is_kept_as_written_on_scalars_and_collections() {
    for tag in TAGS {
        let src = format!(
            "A: {tag} value # c\nB: {tag} [x, y]\nC: {tag}\n  - x\n  - y\nD: {tag} {{k: v}}\nE: {tag}\n  k: v\n"
        );
        let t = parse(&src);
        for key in ["A", "B", "C", "D", "E"] {
            let n = at(&t, &[key]);
            assert_eq!(n.tag.as_deref(), Some(*tag), "{key} in\n{src}");
            assert!(span_text(&t, n).starts_with(tag), "{key}");
            assert!(!content_text(&t, n).starts_with('!'), "{key}");
        }
        assert_eq!(content_text(&t, at(&t, &["A"])), "value");
        assert_eq!(content_text(&t, at(&t, &["B"])), "[x, y]");
        assert_eq!(content_text(&t, at(&t, &["C"])), "- x\n  - y");
        assert_eq!(content_text(&t, at(&t, &["E"])), "k: v");
        assert!(at(&t, &["B"]).flow && !at(&t, &["C"]).flow);
    }
}

#[test]
fn verbatim_tag_and_tag_with_anchor() {
    let t = parse("a: !<tag:yaml.org,2002:str> 12\nb: &x !Ref y\nc: !Ref &z w\nd: *x\n");
    assert_eq!(
        at(&t, &["a"]).tag.as_deref(),
        Some("!<tag:yaml.org,2002:str>")
    );
    for k in ["b", "c"] {
        let n = at(&t, &[k]);
        assert_eq!(n.tag.as_deref(), Some("!Ref"));
        assert!(n.anchor.is_some());
    }
    assert_eq!(span_text(&t, at(&t, &["b"])), "&x !Ref y");
    assert_eq!(span_text(&t, at(&t, &["c"])), "!Ref &z w");
    let written_d = t.written_root().get("d").unwrap();
    assert_eq!(written_d.kind, NodeKind::Alias("x".into()));
    assert_eq!(span_text(&t, written_d), "*x");
    // As CloudFormation reads it, `d` is the node anchored `x`, reached through the alias.
    assert_eq!(at(&t, &["d"]).span, at(&t, &["b"]).span);
    assert!(!at(&t, &["d"]).via.is_direct());
    let v = json(&t);
    assert_eq!(v["a"], "12");
    assert_eq!(v["d"], serde_json::json!({"Ref": "y"}));
}

#[test]
fn empty_tagged_node() {
    let t = parse("a: !GetAZs\nb: !Ref\n");
    let a = at(&t, &["a"]);
    assert_eq!(a.as_scalar(), Some(""));
    assert_eq!(span_text(&t, a), "!GetAZs");
    assert_eq!(content_text(&t, a), "");
    assert_eq!(json(&t)["a"], serde_json::json!({"Fn::GetAZs": null}));
    let (out, _) = replace("a: !Ref\nb: 1\n", &["a"], Replacement::String("X".into()));
    assert_eq!(out, "a: !Ref X\nb: 1\n");
}

// ---------------------------------------------------------------------------------------------
// Scalars

#[test]
fn scalar_styles_values_and_spans() {
    let src = "plain: hello world   # comment\n\
               multi: first line\n  second line\n\n  third\n\
               single: 'it''s # not a comment'\n\
               double: \"tab\\there \\\"q\\\" \\u00e9\\\n  continued\"\n\
               colon: a:b\n\
               url: http://example.com/x#y\n\
               last: end";
    let t = parse(src);
    let cases = [
        ("plain", "hello world", ScalarStyle::Plain, "hello world"),
        (
            "multi",
            "first line second line\nthird",
            ScalarStyle::Plain,
            "first line\n  second line\n\n  third",
        ),
        (
            "single",
            "it's # not a comment",
            ScalarStyle::SingleQuoted,
            "'it''s # not a comment'",
        ),
        (
            "double",
            "tab\there \"q\" \u{e9}continued",
            ScalarStyle::DoubleQuoted,
            "\"tab\\there \\\"q\\\" \\u00e9\\\n  continued\"",
        ),
        ("colon", "a:b", ScalarStyle::Plain, "a:b"),
        (
            "url",
            "http://example.com/x#y",
            ScalarStyle::Plain,
            "http://example.com/x#y",
        ),
        ("last", "end", ScalarStyle::Plain, "end"),
    ];
    for (key, value, style, text) in cases {
        let n = at(&t, &[key]);
        assert_eq!(n.as_scalar(), Some(value), "{key}");
        assert_eq!(scalar_style(n), style, "{key}");
        assert_eq!(content_text(&t, n), text, "{key}");
    }
}

#[test]
fn block_scalars() {
    let src = "a: |\n  line1\n    indented\n\n  line3\n\
               b: >-\n  folded\n  text\n\n\
               c: |2+\n    two extra\n  base\n\n\n\
               d: >  # header comment\n  x\n   y\n# trailing comment\n\
               e: |-\n  z\n\
               f:\n  - |1\n    lead\n  - >\n    g\n\
               h: |\n  last";
    let t = parse(src);
    let cases = [
        (
            "a",
            "line1\n  indented\n\nline3\n",
            ScalarStyle::Literal,
            "|\n  line1\n    indented\n\n  line3",
        ),
        (
            "b",
            "folded text",
            ScalarStyle::Folded,
            ">-\n  folded\n  text",
        ),
        (
            "c",
            "  two extra\nbase\n\n\n",
            ScalarStyle::Literal,
            "|2+\n    two extra\n  base",
        ),
        (
            "d",
            "x\n y\n",
            ScalarStyle::Folded,
            ">  # header comment\n  x\n   y",
        ),
        ("e", "z", ScalarStyle::Literal, "|-\n  z"),
        // (yaml-rust2 clips to one line break even when the stream ends without one)
        ("h", "last\n", ScalarStyle::Literal, "|\n  last"),
    ];
    for (key, value, style, text) in cases {
        let n = at(&t, &[key]);
        assert_eq!(n.as_scalar(), Some(value), "{key}");
        assert_eq!(scalar_style(n), style, "{key}");
        assert_eq!(content_text(&t, n), text, "{key}");
    }
    let NodeKind::Sequence(items) = &at(&t, &["f"]).kind else {
        panic!()
    };
    assert_eq!(items[0].as_scalar(), Some(" lead\n"));
    assert_eq!(content_text(&t, &items[0]), "|1\n    lead");
    assert_eq!(items[1].as_scalar(), Some("g\n"));
    assert_eq!(content_text(&t, &items[1]), ">\n    g");
}

#[test]
fn block_scalar_with_unicode_keeps_later_positions_right() {
    let src = "a: |\n  héllo wörld ünïcödé\n  ✓✓✓\nb: after # c\nc: [x, \"é\"]\n";
    let t = parse(src);
    let b = at(&t, &["b"]);
    assert_eq!(content_text(&t, b), "after");
    assert_eq!((b.span.start.line, b.span.start.col), (4, 4));
    let c = at(&t, &["c"]);
    assert_eq!(content_text(&t, c), "[x, \"é\"]");
}

#[test]
fn columns_count_characters() {
    let t = parse("ключ: значение\nk: [ä, ö]\n");
    let n = at(&t, &["ключ"]);
    assert_eq!((n.span.start.line, n.span.start.col), (1, 7));
    assert_eq!(n.span.start.byte, "ключ: ".len());
    assert_eq!(n.span.end.col, 15);
    let NodeKind::Sequence(items) = &at(&t, &["k"]).kind else {
        panic!()
    };
    assert_eq!((items[1].span.start.line, items[1].span.start.col), (2, 8));
}

#[test]
fn block_scalar_replaced_by_string() {
    let src = "A:\n  Code: |\n    def f():\n      pass\n  # comment\n  Next: 1\n";
    let (out, re) = replace(src, &["A", "Code"], Replacement::String("s3://b/k".into()));
    assert_eq!(out, "A:\n  Code: s3://b/k\n  # comment\n  Next: 1\n");
    assert_eq!(
        re.root().get_path(&["A", "Next"]).unwrap().as_scalar(),
        Some("1")
    );
}

// ---------------------------------------------------------------------------------------------
// String replacement

#[test]
fn string_replacement_keeps_style_and_tag_and_drops_anchors() {
    let src = "a: plain # c\nb: 'single'\nc: \"double\"\nd: !Sub &x '${A}'\ne: [x, y]\n";
    let (out, _) = replace(src, &["a"], Replacement::String("new-value".into()));
    assert_eq!(
        out,
        "a: new-value # c\nb: 'single'\nc: \"double\"\nd: !Sub '${A}'\ne: [x, y]\n"
    );
    let (out, _) = replace(src, &["a"], Replacement::String("needs: quotes".into()));
    assert!(out.starts_with("a: \"needs: quotes\" # c\n"), "{out}");
    let (out, _) = replace(src, &["a"], Replacement::String("true".into()));
    assert!(out.starts_with("a: \"true\" # c\n"), "{out}");
    let (out, _) = replace(src, &["b"], Replacement::String("it's".into()));
    assert!(out.contains("b: 'it''s'\n"), "{out}");
    let (out, re) = replace(src, &["b"], Replacement::String("line\nbreak".into()));
    assert!(out.contains("b: \"line\\nbreak\"\n"), "{out}");
    assert_eq!(re.root().get("b").unwrap().as_scalar(), Some("line\nbreak"));
    let (out, _) = replace(src, &["c"], Replacement::String("q\"\\".into()));
    assert!(out.contains("c: \"q\\\"\\\\\"\n"), "{out}");
    let (out, re) = replace(src, &["d"], Replacement::String("${B}".into()));
    assert!(out.contains("d: !Sub '${B}'\n"), "{out}");
    let d = re.root().get("d").unwrap();
    assert_eq!(
        (d.tag.as_deref(), d.anchor.as_deref()),
        (Some("!Sub"), None)
    );
}

#[test]
fn string_replacement_in_flow_context_quotes_flow_indicators() {
    let src = "a: [x, y] # c\nb: {k: v, l: w}\n";
    let t = parse(src);
    let NodeKind::Sequence(items) = &at(&t, &["a"]).kind else {
        panic!()
    };
    let mut edits = Edits::new();
    edits.replace(&items[1], Replacement::String("p,q".into()));
    edits.replace(at(&t, &["b", "k"]), Replacement::String("plain".into()));
    let out = t.render(&edits);
    assert_eq!(out, "a: [x, \"p,q\"] # c\nb: {k: plain, l: w}\n");
}

#[test]
fn string_replacement_of_empty_value() {
    let (out, re) = replace("a:\nb: 2\n", &["a"], Replacement::String("v".into()));
    assert_eq!(out, "a: v\nb: 2\n");
    assert_eq!(re.root().get("a").unwrap().as_scalar(), Some("v"));
}

/// Found by fuzzing: a flow mapping entry without `:` (`{ key }`) has an empty value with no
/// indicator before it; replacing it must add one.
#[test]
fn string_replacement_of_empty_value_without_indicator_in_flow() {
    let (out, re) = replace("{ a, b: 2 }\n", &["a"], Replacement::String("v".into()));
    assert_eq!(out, "{ a: v, b: 2 }\n");
    assert_eq!(re.root().get("a").unwrap().as_scalar(), Some("v"));
    let (out, re) = replace("{ a: , b: 2 }\n", &["a"], Replacement::String("v".into()));
    assert_eq!(out, "{ a: v , b: 2 }\n");
    assert_eq!(re.root().get("a").unwrap().as_scalar(), Some("v"));
    let src = "{ e\" !Ref PeerVPCCIDR\n      VpcPeerinx.js\" }\n";
    let key = "e\" !Ref PeerVPCCIDR VpcPeerinx.js\"";
    let (_, re) = replace(src, &[key], Replacement::String("s3://b/k x: y".into()));
    assert_eq!(
        re.root().get(key).and_then(|n| n.as_scalar()),
        Some("s3://b/k x: y")
    );
}

// ---------------------------------------------------------------------------------------------
// Mapping replacement

#[test]
fn mapping_replacement_block_value_keeps_trailing_comment() {
    let src =
        "Resources:\n  Fn:\n    Properties:\n      Code: ./src   # the code\n      Handler: x\n";
    let (out, re) = replace(
        src,
        &["Resources", "Fn", "Properties", "Code"],
        s3("b", "k.zip"),
    );
    assert_eq!(
        out,
        "Resources:\n  Fn:\n    Properties:\n      Code:\n        S3Bucket: b\n        S3Key: k.zip   # the code\n      Handler: x\n"
    );
    let code = re
        .root()
        .get_path(&["Resources", "Fn", "Properties", "Code"])
        .unwrap();
    assert_eq!(code.get("S3Bucket").unwrap().as_scalar(), Some("b"));
    assert_eq!(code.get("S3Key").unwrap().as_scalar(), Some("k.zip"));
}

#[test]
fn mapping_replacement_uses_document_indent_step() {
    let src = "Resources:\n    Fn:\n        Properties:\n            Code: ./src\n";
    let (out, _) = replace(
        src,
        &["Resources", "Fn", "Properties", "Code"],
        s3("b", "k"),
    );
    assert_eq!(
        out,
        "Resources:\n    Fn:\n        Properties:\n            Code:\n                S3Bucket: b\n                S3Key: k\n"
    );
    // Step inferred from elsewhere in the document when the owning mapping is the root.
    let src = "Code: ./src\nOther:\n   x: 1\n";
    let (out, _) = replace(src, &["Code"], s3("b", "k"));
    assert_eq!(out, "Code:\n   S3Bucket: b\n   S3Key: k\nOther:\n   x: 1\n");
    // Default step 2.
    let (out, _) = replace("Code: ./src\n", &["Code"], s3("b", "k"));
    assert_eq!(out, "Code:\n  S3Bucket: b\n  S3Key: k\n");
}

#[test]
fn mapping_replacement_value_on_next_line_and_tagged_and_quoted() {
    let src = "A:\n  Code: # comment\n    './src'\n  B: 1\n";
    let (out, _) = replace(src, &["A", "Code"], s3("b", "k"));
    assert_eq!(
        out,
        "A:\n  Code: # comment\n    S3Bucket: b\n    S3Key: k\n  B: 1\n"
    );
    let src = "A:\n  Code: !Sub &a \"./src\"\n  B: 1\n";
    let (out, re) = replace(src, &["A", "Code"], s3("my bucket", "0abc.zip"));
    assert_eq!(
        out,
        "A:\n  Code:\n    S3Bucket: my bucket\n    S3Key: \"0abc.zip\"\n  B: 1\n"
    );
    let code = re.root().get_path(&["A", "Code"]).unwrap();
    assert_eq!((code.tag.as_deref(), code.anchor.as_deref()), (None, None));
}

#[test]
fn mapping_replacement_of_sequence_items() {
    let src = "L:\n  - ./a\n  - x: 1\n    y: ./b # c\n  -   ./c\nM:\n- ./d\n";
    let t = parse(src);
    let NodeKind::Sequence(items) = &at(&t, &["L"]).kind else {
        panic!()
    };
    let mut edits = Edits::new();
    edits.replace(&items[0], s3("b", "k1"));
    edits.replace(items[1].get("y").unwrap(), s3("b", "k2"));
    edits.replace(&items[2], s3("b", "k3"));
    let NodeKind::Sequence(m) = &at(&t, &["M"]).kind else {
        panic!()
    };
    edits.replace(&m[0], s3("b", "k4"));
    let out = t.render(&edits);
    assert_eq!(
        out,
        "L:\n  - S3Bucket: b\n    S3Key: k1\n  - x: 1\n    y:\n      S3Bucket: b\n      S3Key: k2 # c\n  -   S3Bucket: b\n      S3Key: k3\nM:\n- S3Bucket: b\n  S3Key: k4\n"
    );
    let re = Template::parse(Path::new("o"), out).unwrap();
    let l = re.root().get("L").unwrap();
    let NodeKind::Sequence(items) = &l.kind else {
        panic!()
    };
    assert_eq!(items[2].get("S3Key").unwrap().as_scalar(), Some("k3"));
    assert_eq!(
        items[1].get_path(&["y", "S3Key"]).unwrap().as_scalar(),
        Some("k2")
    );
}

#[test]
fn mapping_replacement_in_flow_context() {
    let src = "A: {Code: ./src, B: [./x, y]}\n";
    let t = parse(src);
    let mut edits = Edits::new();
    edits.replace(at(&t, &["A", "Code"]), s3("b", "k:1"));
    let NodeKind::Sequence(items) = &at(&t, &["A", "B"]).kind else {
        panic!()
    };
    edits.replace(&items[0], s3("b", "k"));
    let out = t.render(&edits);
    assert_eq!(
        out,
        "A: {Code: {S3Bucket: b, S3Key: \"k:1\"}, B: [{S3Bucket: b, S3Key: k}, y]}\n"
    );
    let re = Template::parse(Path::new("o"), out).unwrap();
    assert_eq!(
        re.root()
            .get_path(&["A", "Code", "S3Key"])
            .unwrap()
            .as_scalar(),
        Some("k:1")
    );
}

#[test]
fn mapping_replacement_of_empty_value_and_empty_mapping() {
    let (out, _) = replace("A:\n  Code:\n  B: 1\n", &["A", "Code"], s3("b", "k"));
    assert_eq!(out, "A:\n  Code:\n    S3Bucket: b\n    S3Key: k\n  B: 1\n");
    let (out, re) = replace("A: x\n", &["A"], Replacement::Mapping(vec![]));
    assert_eq!(out, "A: {}\n");
    assert!(matches!(&re.root().get("A").unwrap().kind, NodeKind::Mapping(e) if e.is_empty()));
}

#[test]
fn crlf_is_kept() {
    let src = "A:\r\n  Code: ./src # c\r\n  B: 'x'\r\n";
    let t = parse(src);
    assert_eq!(at(&t, &["A", "B"]).span.start.line, 3);
    let (out, _) = replace(src, &["A", "Code"], s3("b", "k"));
    assert_eq!(
        out,
        "A:\r\n  Code:\r\n    S3Bucket: b\r\n    S3Key: k # c\r\n  B: 'x'\r\n"
    );
    let (out, _) = replace(src, &["A", "B"], Replacement::String("y".into()));
    assert_eq!(out, "A:\r\n  Code: ./src # c\r\n  B: 'y'\r\n");
    let t = parse("A: |\r\n  x\r\n  y\r\nB: 1\r\n");
    assert_eq!(at(&t, &["A"]).as_scalar(), Some("x\ny\n"));
    assert_eq!(content_text(&t, at(&t, &["A"])), "|\r\n  x\r\n  y");
}

#[test]
fn bom_is_kept() {
    let src = "\u{feff}A: 1\nB: x\n";
    let t = parse(src);
    let a = at(&t, &["A"]);
    assert_eq!((a.span.start.line, a.span.start.col), (1, 4));
    let (out, _) = replace(src, &["B"], Replacement::String("z".into()));
    assert_eq!(out, "\u{feff}A: 1\nB: z\n");
    let src = "\u{feff}{\"A\": 1}";
    let t = Template::parse(Path::new("x.json"), src.into()).unwrap();
    assert_eq!(t.format(), Format::Json);
    assert_eq!(t.render(&Edits::new()), src);
}

#[test]
fn nested_edits_outer_wins_and_foreign_edits_are_ignored() {
    let src = "A:\n  B: x\nC: y\n";
    let t = parse(src);
    let mut edits = Edits::new();
    edits.replace(at(&t, &["A"]), Replacement::String("outer".into()));
    edits.replace(at(&t, &["A", "B"]), Replacement::String("inner".into()));
    let other = parse("Z: 1234567890123456789\n");
    edits.replace(at(&other, &["Z"]), Replacement::String("nope".into()));
    let out = t.render(&edits);
    assert_eq!(out, "A:\n  outer\nC: y\n");
    let re = Template::parse(Path::new("o"), out).unwrap();
    assert_eq!(re.root().get("A").unwrap().as_scalar(), Some("outer"));
}

// ---------------------------------------------------------------------------------------------
// Comments, documents, flow collections, anchors

#[test]
fn comments_everywhere_survive_edits() {
    let src = "# head\n\n--- # doc start\n# before key\nA: # after key\n  # inside\n  B: x # after value\n  # between\n  C: [a, # in flow\n     b] # after flow\n  D:\n    # before item\n    - i # item\n    # after item\nE: {k: v} # end\n... # doc end\n# tail\n";
    let t = parse(src);
    assert_eq!(at(&t, &["A", "B"]).as_scalar(), Some("x"));
    let mut edits = Edits::new();
    edits.replace(at(&t, &["A", "B"]), Replacement::String("z".into()));
    edits.replace(at(&t, &["E", "k"]), Replacement::String("w".into()));
    let NodeKind::Sequence(items) = &at(&t, &["A", "D"]).kind else {
        panic!()
    };
    edits.replace(&items[0], Replacement::String("j".into()));
    let out = t.render(&edits);
    assert_eq!(
        out,
        src.replace("B: x", "B: z")
            .replace("- i #", "- j #")
            .replace("{k: v}", "{k: w}")
    );
}

#[test]
fn documents() {
    parse("---\nA: 1\n");
    parse("---\nA: 1\n...\n");
    parse("%YAML 1.2\n---\nA: 1\n");
    let e = parse_err("A: 1\n---\nB: 2\n");
    assert!(
        e.starts_with("t.yaml:2:1: ") && e.contains("more than one"),
        "{e}"
    );
    let e = parse_err("");
    assert!(e.contains("empty template"), "{e}");
    let e = parse_err("# only a comment\n");
    assert!(e.contains("empty template"), "{e}");
    let e = parse_err("---\n");
    assert!(e.contains("must be a mapping"), "{e}");
    let e = parse_err("- a\n- b\n");
    assert!(
        e.starts_with("t.yaml:1:1: ") && e.contains("must be a mapping"),
        "{e}"
    );
    let e = parse_err("just a scalar\n");
    assert!(e.contains("must be a mapping"), "{e}");
}

#[test]
fn flow_collections() {
    let src = "A: [a, 'b', \"c\", [d, e], {f: g}, h: i]\nB: { x: 1 , y: [ ] , z: {} }\nC: [\n  multi,\n  line, # c\n]\n";
    let t = parse(src);
    let a = at(&t, &["A"]);
    assert!(a.flow);
    assert_eq!(content_text(&t, a), "[a, 'b', \"c\", [d, e], {f: g}, h: i]");
    let NodeKind::Sequence(items) = &a.kind else {
        panic!()
    };
    assert_eq!(items.len(), 6);
    assert_eq!(content_text(&t, &items[3]), "[d, e]");
    assert_eq!(content_text(&t, &items[4]), "{f: g}");
    assert_eq!(content_text(&t, &items[5]), "h: i");
    assert_eq!(
        content_text(&t, at(&t, &["B"])),
        "{ x: 1 , y: [ ] , z: {} }"
    );
    assert_eq!(content_text(&t, at(&t, &["B", "y"])), "[ ]");
    assert_eq!(
        content_text(&t, at(&t, &["C"])),
        "[\n  multi,\n  line, # c\n]"
    );
}

#[test]
fn anchors_and_aliases() {
    let src =
        "base: &base\n  a: 1\n  b: [x]\nother: *base\nlist: [&s str, *s]\nmerged:\n  <<: *base\n";
    let t = parse(src);
    assert_eq!(at(&t, &["base"]).anchor.as_deref(), Some("base"));
    assert_eq!(span_text(&t, at(&t, &["base"])), "&base\n  a: 1\n  b: [x]");
    assert_eq!(
        t.written_root().get("other").unwrap().kind,
        NodeKind::Alias("base".into())
    );
    assert_eq!(
        strip(at(&t, &["other"])).kind,
        strip(at(&t, &["base"])).kind
    );
    let v = json(&t);
    assert_eq!(v["other"], serde_json::json!({"a": 1, "b": ["x"]}));
    assert_eq!(v["list"], serde_json::json!(["str", "str"]));
    // A merge key is merged (YAML 1.1, as aws-cli reads it), not written as a property.
    assert_eq!(v["merged"], serde_json::json!({"a": 1, "b": ["x"]}));
}

#[test]
fn alias_bomb_is_an_error_not_a_hang() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    // Refused while parsing, by the expansion limit, at the alias that crosses it.
    let e = parse_err(&src);
    assert!(e.contains("aliases expand past"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn duplicate_keys_name_both_lines() {
    let e = parse_err("A: 1\nB:\n  x: 1\n  y: 2\n  x: 3\n");
    assert_eq!(
        e,
        "t.yaml:5:3: duplicate mapping key `x` at line 5 (first defined at line 3)"
    );
    let e = parse_err("A: 1\n'A': 2\n");
    assert!(e.contains("line 2") && e.contains("line 1"), "{e}");
    let e = Template::parse(Path::new("t.json"), "{\n \"a\": 1,\n \"a\": 2\n}".into())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t.json:3:2: duplicate mapping key `a` at line 3 (first defined at line 2)"
    );
}

#[test]
fn syntax_errors_have_file_line_col() {
    for (src, line) in [
        ("A: 1\nB: [1, 2\n", 3),
        ("A: 'unterminated\n", 1),
        ("A:\n  b: 1\n c: 2\n", 3),
        ("A: *unknown\n", 1),
        ("A: 1\n\tB: 2\n", 1),
    ] {
        let e = parse_err(src);
        let prefix = format!("t.yaml:{line}:");
        assert!(e.starts_with(&prefix), "{src:?}: {e}");
    }
    let e = Template::parse(Path::new("t.json"), "{\n  \"a\": [1, 2\n}".into())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "t.json:3:1: expected `,` or `]`");
    // Not JSON but valid YAML (a flow mapping with a trailing comma): read as YAML.
    let t = Template::parse(Path::new("t.json"), "{\n  \"a\": [1, 2,]\n}".into()).unwrap();
    assert_eq!(t.format(), Format::Yaml);
}

// ---------------------------------------------------------------------------------------------
// JSON

#[test]
fn json_templates() {
    let src = "{\n\t\"A\": {\"Code\": \"./src\", \"N\": 12.5e3, \"T\": true, \"Z\": null},\r\n  \"L\": [ \"\\u00e9\\ud83d\\ude00\\n\", -0.5 ]\n}\n";
    let t = Template::parse(Path::new("t.json"), src.into()).unwrap();
    check_spans(src, t.root());
    assert_eq!(t.format(), Format::Json);
    assert_eq!(t.render(&Edits::new()), src);
    let code = at(&t, &["A", "Code"]);
    assert_eq!(code.as_scalar(), Some("./src"));
    assert_eq!(scalar_style(code), ScalarStyle::DoubleQuoted);
    assert_eq!(content_text(&t, code), "\"./src\"");
    assert_eq!((code.span.start.line, code.span.start.col), (2, 16));
    let NodeKind::Sequence(items) = &at(&t, &["L"]).kind else {
        panic!()
    };
    assert_eq!(items[0].as_scalar(), Some("é😀\n"));
    assert_eq!(
        json(&t),
        serde_json::from_str::<serde_json::Value>(src).unwrap()
    );

    let mut edits = Edits::new();
    edits.replace(code, s3("b", "k"));
    edits.replace(at(&t, &["A", "N"]), Replacement::String("q\"".into()));
    let out = t.render(&edits);
    assert_eq!(
        out,
        src.replace("\"./src\"", "{\"S3Bucket\": \"b\", \"S3Key\": \"k\"}")
            .replace("12.5e3", "\"q\\\"\"")
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["A"]["Code"]["S3Key"], "k");
}

#[test]
fn yaml_flow_mapping_root_is_yaml() {
    let t = Template::parse(Path::new("t.yaml"), "{A: b, C: [d]}\n".into()).unwrap();
    assert_eq!(t.format(), Format::Yaml);
    assert_eq!(t.root().get("A").unwrap().as_scalar(), Some("b"));
}

// ---------------------------------------------------------------------------------------------
// render_json

#[test]
fn render_json_long_forms() {
    let src = r#"
A: !Ref Param
B: !GetAtt Res.Arn
C: !GetAtt Res.Outputs.Value
D: !GetAtt [Res, Arn]
E: !Sub "${AWS::StackName}-x"
F: !Sub
  - "${A}"
  - A: !Ref B
G: !Join ["", [a, !Ref B]]
H: !If [Cond, !Base64 x, !Ref "AWS::NoValue"]
I: !Select [0, !GetAZs ""]
J: !Split [",", !ImportValue Exported]
K: !FindInMap [M, !Ref "AWS::Region", Key]
L: !Cidr [10.0.0.0/16, 6, 5]
M: !Equals [!Ref Env, prod]
N: !And [!Condition C1, !Not [!Condition C2], !Or [!Condition C3, !Condition C4]]
O: !Transform {Name: AWS::Include, Parameters: {Location: s3://x}}
P: !Length [1, 2]
Q: !ToJsonString {a: 1}
R: !ForEach [X, [1]]
"#;
    let t = parse(src);
    let v = json(&t);
    use serde_json::json;
    assert_eq!(v["A"], json!({"Ref": "Param"}));
    assert_eq!(v["B"], json!({"Fn::GetAtt": ["Res", "Arn"]}));
    assert_eq!(v["C"], json!({"Fn::GetAtt": ["Res", "Outputs.Value"]}));
    assert_eq!(v["D"], json!({"Fn::GetAtt": ["Res", "Arn"]}));
    assert_eq!(v["E"], json!({"Fn::Sub": "${AWS::StackName}-x"}));
    assert_eq!(v["F"], json!({"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]}));
    assert_eq!(v["G"], json!({"Fn::Join": ["", ["a", {"Ref": "B"}]]}));
    assert_eq!(
        v["H"],
        json!({"Fn::If": ["Cond", {"Fn::Base64": "x"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(v["I"], json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]}));
    assert_eq!(
        v["J"],
        json!({"Fn::Split": [",", {"Fn::ImportValue": "Exported"}]})
    );
    assert_eq!(
        v["K"],
        json!({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Key"]})
    );
    assert_eq!(v["L"], json!({"Fn::Cidr": ["10.0.0.0/16", 6, 5]}));
    assert_eq!(v["M"], json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]}));
    assert_eq!(
        v["N"],
        json!({"Fn::And": [{"Condition": "C1"}, {"Fn::Not": [{"Condition": "C2"}]},
            {"Fn::Or": [{"Condition": "C3"}, {"Condition": "C4"}]}]})
    );
    assert_eq!(
        v["O"],
        json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://x"}}})
    );
    assert_eq!(v["P"], json!({"Fn::Length": [1, 2]}));
    assert_eq!(v["Q"], json!({"Fn::ToJsonString": {"a": 1}}));
    assert_eq!(v["R"], json!({"Fn::ForEach": ["X", [1]]}));
}

#[test]
fn render_json_scalars_and_format() {
    let src = "i: 42\nneg: -7\nf: 1.5\ne: 1e3\nlz: 0123\nhex: 0x1F\nt: true\nT: True\nno: no\nn: null\ntilde: ~\nempty:\nq: \"42\"\ns: '007'\nforced: !!str 12\nint: !!int \"3\"\ndate: 2010-09-09\ninf: .inf\nkeys: {1: a}\n";
    let t = parse(src);
    let out = t.render_json(&Edits::new()).unwrap();
    assert!(
        out.starts_with("{\n  \"i\": 42,\n  \"neg\": -7,\n"),
        "{out}"
    );
    assert!(out.ends_with("\n}\n"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    use serde_json::json;
    assert_eq!(
        v,
        // YAML 1.1, as CloudFormation and aws-cli read it: `1e3` (no exponent sign) is a
        // string, `0123` octal, `no` false.
        json!({"i": 42, "neg": -7, "f": 1.5, "e": "1e3", "lz": 83, "hex": 31, "t": true,
            "T": true, "no": false, "n": null, "tilde": null, "empty": null, "q": "42", "s": "007",
            "forced": "12", "int": 3, "date": "2010-09-09", "inf": ".inf", "keys": {"1": "a"}})
    );
    // Key order is the source order.
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(keys[..4], ["i", "neg", "f", "e"]);
}

#[test]
fn render_json_applies_edits() {
    let src = "A:\n  Code: ./src\n  Name: !Ref X\n";
    let t = parse(src);
    let mut edits = Edits::new();
    edits.replace(at(&t, &["A", "Code"]), s3("b", "k"));
    edits.replace(at(&t, &["A", "Name"]), Replacement::String("n".into()));
    let v: serde_json::Value = serde_json::from_str(&t.render_json(&edits).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"A": {"Code": {"S3Bucket": "b", "S3Key": "k"}, "Name": "n"}})
    );
}

#[test]
fn render_json_unknown_tag_is_an_error_with_position() {
    let t = parse("A:\n  B: !Rain::Module x\n");
    let e = t.render_json(&Edits::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml:2:6: tag !Rain::Module has no long form in JSON"
    );
    let t = parse("A: !!binary aGk=\nB: !!python/tuple [a]\n");
    let e = t.render_json(&Edits::new()).unwrap_err();
    assert!(e.message.contains("!!python/tuple"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Misc

#[test]
fn find_node_by_span_and_tree_equality() {
    let t = parse("A:\n  B: [x, {y: z}]\n");
    let n = at(&t, &["A", "B"]);
    assert_eq!(t.find_node_by_span(n.span), Some(n));
    let t2 = parse("A: {B: [x, {y: z}]}\n");
    let b2 = strip(at(&t2, &["A", "B"]));
    assert_eq!(strip(n), b2);
}

#[test]
fn a_large_template_gets_every_edit_and_keeps_the_rest() {
    let mut src = String::from("Resources:\n");
    let mut i = 0;
    while src.len() < 1_000_000 {
        src.push_str(&format!(
            "  Fn{i}:\n    Type: AWS::Lambda::Function # c\n    Properties:\n      Code: './src/{i}'\n      Tags: [{{Key: k, Value: !Sub \"${{A}}-{i}\"}}]\n      Script: |\n        echo {i}\n"
        ));
        i += 1;
    }
    // (Speed is measured by `cargo xtask bench`, not asserted here.)
    let t = Template::parse(Path::new("big.yaml"), src.clone()).unwrap();
    let mut edits = Edits::new();
    for (_, r) in t.root().get("Resources").unwrap().entries() {
        edits.replace(r.get_path(&["Properties", "Code"]).unwrap(), s3("b", "k"));
    }
    let out = t.render(&edits);
    assert_eq!(t.render(&Edits::new()), src);
    assert_eq!(
        out.matches("      Code:\n        S3Bucket: b\n        S3Key: k\n")
            .count(),
        i
    );
    assert_eq!(out.matches("Code: './src/").count(), 0);
    // Everything else is as written.
    assert_eq!(out.matches("Type: AWS::Lambda::Function # c\n").count(), i);
    assert_eq!(out.matches("      Script: |\n        echo ").count(), i);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for src in [
        format!("A: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
        format!("{{\"A\": {}{}}}", "[".repeat(5000), "]".repeat(5000)),
        format!("A: {}", "{a: ".repeat(5000)),
        format!(
            "A:\n{}",
            (1..3000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect::<String>()
        ),
    ] {
        let e = Template::parse(Path::new("t.yaml"), src).unwrap_err();
        assert!(
            e.message.contains("nesting deeper") || e.message.contains("recursion limit"),
            "{e}"
        );
    }
    let ok = format!("A: {}x{}\n", "[".repeat(100), "]".repeat(100));
    let t = parse(&ok);
    assert!(t.render_json(&Edits::new()).is_ok());
}

#[test]
fn empty_sequence_items() {
    let src = "L:\n  -\n  - b\n  - # c\n  - d\n";
    let t = parse(src);
    let NodeKind::Sequence(items) = &at(&t, &["L"]).kind else {
        panic!()
    };
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].as_scalar(), Some(""));
    let mut edits = Edits::new();
    edits.replace(&items[0], s3("b", "k"));
    edits.replace(&items[2], Replacement::String("s".into()));
    let out = t.render(&edits);
    assert_eq!(
        out,
        "L:\n  - S3Bucket: b\n    S3Key: k\n  - b\n  - s # c\n  - d\n"
    );
}

#[test]
fn mapping_replacement_changes_one_occurrence_and_unrolls_the_others() {
    let src = "A:\n  Code: &c ./src # c\n  Other: *c\nL:\n  - &i ./x\n  - *i\nF: [&f y, *f]\nB:\n  Code: # c\n    &d ./src\n  Again: *d\n";
    let t = parse(src);
    let mut edits = Edits::new();
    edits.replace(at(&t, &["A", "Code"]), s3("b", "k"));
    let NodeKind::Sequence(items) = &at(&t, &["L"]).kind else {
        panic!()
    };
    edits.replace(&items[0], s3("b", "k"));
    let NodeKind::Sequence(f) = &at(&t, &["F"]).kind else {
        panic!()
    };
    edits.replace(&f[0], s3("b", "k"));
    edits.replace(at(&t, &["B", "Code"]), s3("b", "k"));
    let out = t.render(&edits);
    assert_eq!(
        out,
        "A:\n  Code:\n    S3Bucket: b\n    S3Key: k # c\n  Other: ./src\nL:\n  - S3Bucket: b\n    S3Key: k\n  - ./x\nF: [{S3Bucket: b, S3Key: k}, y]\nB:\n  Code: # c\n    S3Bucket: b\n    S3Key: k\n  Again: ./src\n"
    );
    let re = Template::parse(Path::new("o"), out).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&re.render_json(&Edits::new()).unwrap()).unwrap();
    let m = serde_json::json!({"S3Bucket": "b", "S3Key": "k"});
    assert_eq!(v["A"]["Code"], m);
    assert_eq!(v["A"]["Other"], "./src");
    assert_eq!(v["L"], serde_json::json!([m, "./x"]));
    assert_eq!(v["F"], serde_json::json!([m, "y"]));
    assert_eq!(v["B"]["Again"], "./src");
}

/// Regression (yaml_model fuzz target): a NUL byte ended yaml-rust2's input, so everything after
/// it was silently ignored (and came back once an edit removed the NUL).
#[test]
fn control_characters_are_located_errors() {
    let text = "A: |\n  exis\0ts\nB: x\n".to_string();
    let e = cfn_yaml::Template::parse(std::path::Path::new("t.yml"), text).unwrap_err();
    assert_eq!((e.at.line(), e.at.col()), (2, 7), "{e}");
    assert!(e.message.contains("U+0000"), "{e}");
    let e = cfn_yaml::Template::parse(std::path::Path::new("t.json"), "{\"a\": \"\x07\"}".into())
        .unwrap_err();
    assert!(e.message.contains("U+0007"), "{e}");
    // Tabs and all line breaks stay fine.
    assert!(
        cfn_yaml::Template::parse(
            std::path::Path::new("t.yml"),
            "a: \"x\ty\"\r\nb: c\r".into()
        )
        .is_ok()
    );
}

/// Found by fuzzing: a key on several lines with no `:` after it must become an explicit key.
#[test]
fn string_replacement_of_empty_value_of_multi_line_flow_key() {
    let src = "{ \"nam\n  0.0\", \"main\": \"index.js\" }\n";
    let (out, re) = replace(src, &["nam 0.0"], Replacement::String("v".into()));
    assert_eq!(out, "{ ? \"nam\n  0.0\": v, \"main\": \"index.js\" }\n");
    assert_eq!(re.root().get("nam 0.0").unwrap().as_scalar(), Some("v"));
    assert_eq!(re.root().get("main").unwrap().as_scalar(), Some("index.js"));
    // Already explicit: only the indicator is added.
    let (out, re) = replace("{ ? a\n  b }\n", &["a b"], Replacement::String("v".into()));
    assert_eq!(out, "{ ? a\n  b: v }\n");
    assert_eq!(re.root().get("a b").unwrap().as_scalar(), Some("v"));
}

#[test]
fn string_replacement_of_empty_value_of_explicit_key() {
    let (out, re) = replace("? a\nb: 2\n", &["a"], Replacement::String("v".into()));
    assert_eq!(out, "? a\n: v\nb: 2\n");
    assert_eq!(re.root().get("a").unwrap().as_scalar(), Some("v"));
    let (out, re) = replace(
        "x:\n  ? a\n  b: 2\n",
        &["x", "a"],
        Replacement::String("v".into()),
    );
    assert_eq!(out, "x:\n  ? a\n  : v\n  b: 2\n");
    assert_eq!(
        re.root().get_path(&["x", "a"]).and_then(|n| n.as_scalar()),
        Some("v")
    );
}

/// A flow collection closed on a line less indented than the YAML spec wants (Copilot's own
/// environment template does this; PyYAML and CloudFormation accept it).
#[test]
fn closing_brackets_below_the_indentation_are_accepted_with_exact_spans() {
    let text = "Statement:\n  - Sid: Logs\n    Action: [\n      \"logs:GetLogRecord\",\n      \"logs:StartQuery\"\n    ]\n    Resource: \"*\"\n  - Sid: Map\n    Condition: {\n      \"k\": \"v\"\n    }\n    Effect: Allow\n";
    let t = Template::parse(Path::new("t.yml"), text.to_owned()).unwrap();
    check_spans(text, t.root());
    let first = &items(t.root().get("Statement").unwrap())[0];
    let action = first.get("Action").unwrap();
    assert!(action.flow);
    let written = &text[action.span.start.byte..action.span.end.byte];
    assert!(
        written.starts_with('[') && written.ends_with("\n    ]"),
        "{written:?}"
    );
    assert_eq!((action.span.end.line, action.span.end.col), (6, 6));
    let values: Vec<&str> = items(action).iter().filter_map(Node::as_scalar).collect();
    assert_eq!(values, ["logs:GetLogRecord", "logs:StartQuery"]);
    let resource = first.get("Resource").unwrap();
    assert_eq!((resource.span.start.line, resource.span.start.col), (7, 15));
    let second = &items(t.root().get("Statement").unwrap())[1];
    let condition = second.get("Condition").unwrap();
    assert!(text[..condition.span.end.byte].ends_with("\n    }"));
    assert_eq!(
        second.get("Effect").and_then(Node::as_scalar),
        Some("Allow")
    );
    // Unedited, it renders as written; edits inside and of the whole list stay exact.
    assert_eq!(t.render(&Edits::new()), text);
    let mut edits = Edits::new();
    edits.replace(
        &items(action)[1],
        Replacement::String("logs:StopQuery".into()),
    );
    assert_eq!(
        t.render(&edits),
        text.replace("\"logs:StartQuery\"", "\"logs:StopQuery\"")
    );
    let mut edits = Edits::new();
    edits.replace(action, Replacement::String("logs:*".into()));
    let whole = t.render(&edits);
    assert_eq!(
        whole,
        format!(
            "{}logs:*{}",
            &text[..action.span.start.byte],
            &text[action.span.end.byte..]
        )
    );
    Template::parse(Path::new("t.yml"), whole).unwrap();
    // The same with CRLF line breaks.
    let crlf = text.replace('\n', "\r\n");
    let t = Template::parse(Path::new("t.yml"), crlf.clone()).unwrap();
    assert_eq!(t.render(&Edits::new()), crlf);
    // A `#` on the line before: left to the parser, which refuses it as before.
    let commented = "A:\n  - B: [\n      \"x\" # c\n    ]\n";
    let e = Template::parse(Path::new("t.yml"), commented.to_owned()).unwrap_err();
    assert_eq!(e.message, "invalid indentation");
    assert_eq!((e.at.line(), e.at.col()), (4, 5));
}

fn items(n: &Node) -> &[Node] {
    match &n.kind {
        NodeKind::Sequence(items) => items,
        _ => panic!("not a sequence: {n:?}"),
    }
}

/// A `{`-text whose strings hold raw line breaks is not JSON (control characters must be
/// escaped) but a YAML flow mapping, whose quoted scalars fold their line breaks; an edit must
/// not turn it into "JSON" that reads its keys differently (a fuzz find).
#[test]
fn raw_line_breaks_in_strings_are_not_json() {
    let text = "{ \"a\nb\": -\"x\", \"c\": \"d\" }\n";
    let t = Template::parse(Path::new("t.yml"), text.to_owned()).unwrap();
    assert_eq!(t.format(), Format::Yaml);
    let NodeKind::Mapping(entries) = &t.root().kind else {
        panic!("not a mapping")
    };
    assert_eq!(entries[0].0.as_scalar(), Some("a b"));
    let mut edits = Edits::new();
    edits.replace(&entries[0].1, Replacement::String("y z".into()));
    let again = Template::parse(Path::new("t.yml"), t.render(&edits)).unwrap();
    assert_eq!(again.format(), Format::Yaml);
    assert_eq!(
        again.root().get("a b").and_then(Node::as_scalar),
        Some("y z")
    );
    // Escaped, it is JSON.
    let json = Template::parse(Path::new("t.json"), "{\"a\\nb\": \"x\"}".to_owned()).unwrap();
    assert_eq!(json.format(), Format::Json);
    assert_eq!(json.root().get("a\nb").and_then(Node::as_scalar), Some("x"));
}
