//! Anchors, aliases and merge keys: CloudFormation refuses them, so the resolved tree expands
//! them and rendering unrolls them; everything else stays as written.

mod common;

use std::path::Path;

use cfn_yaml::{Edits, NodeKind, Replacement, Template};
use yaml_rust2::parser::{Event, Parser};

fn parse(src: &str) -> Template {
    Template::parse(Path::new("t.yaml"), src.to_owned()).expect("parses")
}

/// Every anchor, alias and merge key that yaml-rust2's events show in `text`.
fn yaml_props(text: &str) -> Vec<String> {
    let mut parser = Parser::new_from_str(text);
    let mut found = Vec::new();
    // Per open collection: (is a mapping, the next node is a key).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    loop {
        let (ev, _) = parser.next_token().expect("valid YAML");
        match ev {
            Event::StreamEnd => break,
            Event::Alias(_)
            | Event::Scalar(..)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => {
                let is_key = matches!(stack.last(), Some((true, true)));
                if let Some((true, next_is_key)) = stack.last_mut() {
                    *next_is_key = !*next_is_key;
                }
                match ev {
                    Event::Alias(id) => found.push(format!("alias {id}")),
                    Event::Scalar(v, _, aid, _) => {
                        if aid > 0 {
                            found.push(format!("anchor on {v}"));
                        }
                        if is_key && v == "<<" {
                            found.push("merge key".to_owned());
                        }
                    }
                    Event::MappingStart(aid, _) | Event::SequenceStart(aid, _) => {
                        if aid > 0 {
                            found.push("anchor on a collection".to_owned());
                        }
                        stack.push((matches!(ev, Event::MappingStart(..)), true));
                    }
                    _ => {}
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    found
}

/// Renders without edits and checks the invariants of unrolling: no anchor, alias or merge key
/// left (on yaml-rust2's events), the same JSON reading, the same resolved tree.
fn unrolled(src: &str) -> String {
    let t = parse(src);
    assert!(t.has_aliases(), "the input has anchors");
    let out = t.render(&Edits::new());
    assert_eq!(yaml_props(&out), Vec::<String>::new(), "{out}");
    let back = parse(&out);
    assert!(!back.has_aliases(), "{out}");
    assert_eq!(
        back.render_json(&Edits::new()).expect("json"),
        t.render_json(&Edits::new()).expect("json"),
        "{out}"
    );
    assert_eq!(
        common::strip_props(back.root()),
        common::strip_props(t.root()),
        "{out}"
    );
    out
}

#[test]
fn yaml_props_sees_what_it_looks_for() {
    // The oracle itself: it must see each kind of property.
    assert_eq!(
        yaml_props("a: &x 1\nb: *x\nc:\n  <<: {d: 1}\n"),
        ["anchor on 1", "alias 1", "merge key"]
    );
    assert_eq!(yaml_props("a: 1\n"), Vec::<String>::new());
}

#[test]
fn a_template_without_anchors_is_written_byte_for_byte() {
    let src = "A: !Ref B # c\nC:\n  - 'x'\n  - {k: \"v\"}\nD: |\n  text\n";
    let t = parse(src);
    assert!(!t.has_aliases());
    assert_eq!(t.render(&Edits::new()), src);
}

#[test]
fn a_scalar_alias_is_replaced_by_its_text() {
    assert_eq!(
        unrolled("A: &a 'x' # keep\nB: *a\nC: [*a, *a]\n"),
        "A: 'x' # keep\nB: 'x'\nC: ['x', 'x']\n"
    );
}

#[test]
fn an_anchored_empty_node_keeps_its_place_when_its_terminator_is_on_a_later_line() {
    // Found by the yaml_model fuzzer: `&name` dropped from an empty flow item left a trailing
    // comma, so the item (a null) disappeared from the list. It is written as `null`, which
    // CloudFormation (and the JSON rendering) reads as the empty node it was.
    for (src, expected) in [
        (
            "A: [x,\n  &a\n  ]\nB: {k: &b\n  , l: 1}\n",
            "A: [x,\n  null\n  ]\nB: {k: null\n  , l: 1}\n",
        ),
        ("A: [x, &a # note\n  ]\n", "A: [x, null # note\n  ]\n"),
    ] {
        let t = parse(src);
        assert!(t.has_aliases());
        let out = t.render(&Edits::new());
        assert_eq!(out, expected);
        assert_eq!(
            parse(&out).render_json(&Edits::new()).expect("json"),
            t.render_json(&Edits::new()).expect("json"),
            "{out}"
        );
    }
}

#[test]
fn a_tagged_anchored_node_keeps_its_tag_at_each_alias() {
    assert_eq!(
        unrolled("A: &a !Sub '${X}-y'\nB: *a\nC: !Join ['', [*a]]\n"),
        "A: !Sub '${X}-y'\nB: !Sub '${X}-y'\nC: !Join ['', [!Sub '${X}-y']]\n"
    );
    assert_eq!(unrolled("A: !Ref &r X\nB: *r\n"), "A: !Ref X\nB: !Ref X\n");
}

#[test]
fn a_block_mapping_alias_is_re_indented_to_its_place() {
    let src = "\
Resources:
  First:
    Type: AWS::SNS::Topic
    Properties: &props
      DisplayName: d # comment
      Tags:
        - Key: k
          Value: v
  Second:
    Type: AWS::SNS::Topic
    Properties: *props
Outputs:
  O:
    Value:
      Deep: *props
";
    let want = "\
Resources:
  First:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: d # comment
      Tags:
        - Key: k
          Value: v
  Second:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: d # comment
      Tags:
        - Key: k
          Value: v
Outputs:
  O:
    Value:
      Deep:
        DisplayName: d # comment
        Tags:
          - Key: k
            Value: v
";
    assert_eq!(unrolled(src), want);
}

#[test]
fn block_sequences_and_block_scalars_keep_their_shape() {
    let src = "\
A:
  List: &l
  - x
  - y
  Text: &t |
    line 1
      indented
B:
    List: *l
    Text: *t # note
C:
  - *l
";
    let want = "\
A:
  List:
  - x
  - y
  Text: |
    line 1
      indented
B:
    List:
    - x
    - y
    Text: | # note
      line 1
        indented
C:
  -
    - x
    - y
";
    assert_eq!(unrolled(src), want);
}

#[test]
fn a_block_alias_in_flow_context_is_written_in_flow_style() {
    let src = "A: &m\n  k: v\n  t: !Ref X\n  s: |\n    two\n    lines\nB: [*m]\nC: {d: *m}\n";
    let want = "A:\n  k: v\n  t: !Ref X\n  s: |\n    two\n    lines\n\
                B: [{k: v, t: !Ref X, s: \"two\\nlines\\n\"}]\n\
                C: {d: {k: v, t: !Ref X, s: \"two\\nlines\\n\"}}\n";
    assert_eq!(unrolled(src), want);
}

#[test]
fn a_merge_key_is_replaced_by_the_entries_it_merges_and_explicit_keys_win() {
    let src = "\
Base: &base
  A: 1
  B: 2 # from base
X:
  <<: *base
  B: 3
Y: {<<: *base, C: 4}
";
    let want = "\
Base:
  A: 1
  B: 2 # from base
X:
  A: 1
  B: 3
Y: {A: 1, B: 2, C: 4}
";
    assert_eq!(unrolled(src), want);
}

#[test]
fn in_a_merge_list_the_first_mapping_wins() {
    // YAML's merge key type: earlier mappings in the list take precedence.
    let src = "\
a: &a {K: from-a, A: 1}
b: &b
  K: from-b
  B: 2
m:
  <<: [*a, *b]
  Own: 0
";
    let out = unrolled(src);
    let t = parse(&out);
    let m = t.root().get("m").expect("m");
    let keys: Vec<_> = m
        .entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect();
    assert_eq!(keys, ["K", "A", "B", "Own"]);
    assert_eq!(m.get("K").and_then(|n| n.as_scalar()), Some("from-a"));
    assert_eq!(
        out,
        "a: {K: from-a, A: 1}\nb:\n  K: from-b\n  B: 2\nm:\n  K: from-a\n  A: 1\n  B: 2\n  Own: 0\n"
    );
}

#[test]
fn merge_keys_nest_and_merge_inline_mappings() {
    let src = "\
base: &base {A: 1}
mid: &mid
  <<: *base
  M: 2
top:
  <<: *mid
  <<x: not a merge key
inline:
  <<: {I: 1}
  J: 2
";
    let out = unrolled(src);
    assert_eq!(
        out,
        "base: {A: 1}\nmid:\n  A: 1\n  M: 2\ntop:\n  A: 1\n  M: 2\n  <<x: not a merge key\n\
         inline:\n  I: 1\n  J: 2\n"
    );
}

#[test]
fn a_merge_whose_entries_are_all_overridden_disappears() {
    assert_eq!(
        unrolled("d: &d {A: 1}\nm:\n  <<: *d\n  A: 2\nn: {<<: *d, A: 3}\n"),
        "d: {A: 1}\nm:\n  A: 2\nn: {A: 3}\n"
    );
}

#[test]
fn the_resolved_tree_reads_as_cloudformation_does() {
    let t = parse(
        "d: &d\n  Code: src/\n  Handler: h\nR:\n  Properties:\n    <<: *d\n    Handler: other\n",
    );
    let props = t.root().get_path(&["R", "Properties"]).expect("props");
    let keys: Vec<_> = props
        .entries()
        .iter()
        .filter_map(|(k, _)| k.as_scalar())
        .collect();
    assert_eq!(keys, ["Code", "Handler"]);
    assert_eq!(
        props.get("Handler").and_then(|n| n.as_scalar()),
        Some("other")
    );
    let code = props.get("Code").expect("Code");
    // The merged value is the text written under `d`, reached through the alias.
    assert_eq!(code.span.start.line, 2);
    assert!(!code.via.is_direct());
    let direct = t.root().get_path(&["d", "Code"]).expect("d.Code");
    assert!(direct.via.is_direct());
    assert_eq!(direct.span, code.span);
    // The written tree keeps the merge key.
    let written = t
        .written_root()
        .get_path(&["R", "Properties"])
        .expect("props");
    assert_eq!(written.entries()[0].0.as_scalar(), Some("<<"));
}

#[test]
fn an_edit_changes_one_occurrence_only() {
    // `Code: &a x` with `Handler: *a`: packaging Code must not turn Handler into a mapping.
    let src = "Fn:\n  Code: &a src/\n  Handler: *a\n";
    let t = parse(src);
    let code = t.root().get_path(&["Fn", "Code"]).expect("Code");
    let mut edits = Edits::new();
    edits.replace(
        code,
        Replacement::Mapping(vec![
            ("S3Bucket".into(), "b".into()),
            ("S3Key".into(), "k".into()),
        ]),
    );
    let out = t.render(&edits);
    assert_eq!(
        out,
        "Fn:\n  Code:\n    S3Bucket: b\n    S3Key: k\n  Handler: src/\n"
    );
    let json = t.render_json(&edits).expect("json");
    assert!(json.contains("\"Handler\": \"src/\""), "{json}");
    assert!(json.contains("\"S3Key\": \"k\""), "{json}");

    // The other way round: editing the alias's occurrence leaves the anchored one.
    let handler = t.root().get_path(&["Fn", "Handler"]).expect("Handler");
    let mut edits = Edits::new();
    edits.replace(handler, Replacement::String("s3://b/k".into()));
    assert_eq!(t.render(&edits), "Fn:\n  Code: src/\n  Handler: s3://b/k\n");
}

#[test]
fn an_edit_inside_merged_entries_applies_where_they_are_merged() {
    let src = "\
Defaults: &d
  Code: src/
  Runtime: python3.12
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      <<: *d
      Handler: h
";
    let t = parse(src);
    let code = t
        .root()
        .get_path(&["Resources", "Fn", "Properties", "Code"])
        .expect("merged Code");
    let mut edits = Edits::new();
    edits.replace(
        code,
        Replacement::Mapping(vec![
            ("S3Bucket".into(), "b".into()),
            ("S3Key".into(), "k".into()),
        ]),
    );
    let out = t.render(&edits);
    assert_eq!(
        out,
        "\
Defaults:
  Code: src/
  Runtime: python3.12
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Code:
        S3Bucket: b
        S3Key: k
      Runtime: python3.12
      Handler: h
"
    );
}

#[test]
fn an_edit_of_an_aliased_scalar_is_written_at_the_alias() {
    let src = "p: &p lambdas/\nR:\n  Code: *p\n  Other: [*p]\n";
    let t = parse(src);
    let code = t.root().get_path(&["R", "Code"]).expect("Code");
    assert!(!code.via.is_direct());
    let mut edits = Edits::new();
    edits.replace(
        code,
        Replacement::Mapping(vec![("S3Bucket".into(), "b".into())]),
    );
    assert_eq!(
        t.render(&edits),
        "p: lambdas/\nR:\n  Code:\n    S3Bucket: b\n  Other: [lambdas/]\n"
    );
}

#[test]
fn alias_problems_are_located_errors() {
    let err = |src: &str| {
        Template::parse(Path::new("t.yaml"), src.to_owned())
            .map(|_| ())
            .expect_err("must fail")
    };
    let e = err("a: 1\nb: *nope\n");
    assert_eq!((e.at.line(), e.at.col()), (2, 4), "{e}");
    assert!(e.message.contains("unknown"), "{e}");

    let e = err("a: &s text\nm:\n  <<: *s\n");
    assert_eq!((e.at.line(), e.at.col()), (3, 7), "{e}");
    assert!(e.message.contains("merge key"), "{e}");

    let e = err("m:\n  <<: [{a: 1}, x]\n");
    assert_eq!((e.at.line(), e.at.col()), (2, 16), "{e}");
}

#[test]
fn alias_bombs_are_refused_by_size_not_by_allocation() {
    // Nine levels of ten aliases: 10^9 nodes once expanded.
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = Template::parse(Path::new("t.yaml"), src).expect_err("bomb");
    assert!(e.message.contains("aliases expand past"), "{e}");

    // A long string behind few aliases: refused by bytes (64 copies of 1 MiB).
    let big = "x".repeat(1 << 20);
    let mut src = format!("s: &s {big}\nl1: &l1 [*s, *s, *s, *s, *s, *s, *s, *s]\n");
    src.push_str("l2: [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n");
    let e = Template::parse(Path::new("t.yaml"), src).expect_err("bytes");
    assert!(e.message.contains("MiB"), "{e}");
    assert_eq!(e.at.line(), 3, "{e}");

    // Within the limits, expansion works.
    let t = parse("s: &s abc\nl: [*s, *s]\n");
    let NodeKind::Sequence(items) = &t.root().get("l").expect("l").kind else {
        panic!("a sequence");
    };
    assert_eq!(items.len(), 2);
}

#[test]
fn json_output_merges_and_expands() {
    let t = parse("d: &d {A: on, B: 0755}\nm:\n  <<: *d\n  C: *d\n  B: no\n");
    let json = t.render_json(&Edits::new()).expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(
        v,
        serde_json::json!({
            "d": {"A": true, "B": 493},
            "m": {"A": true, "C": {"A": true, "B": 493}, "B": false}
        })
    );
    assert!(!json.contains("<<"), "{json}");
}

/// The props of the unrolled output and its JSON reading (the property tests' check).
fn reads_the_same(src: &str) -> String {
    let t = parse(src);
    let out = t.render(&Edits::new());
    assert_eq!(yaml_props(&out), Vec::<String>::new(), "{out}");
    assert_eq!(
        parse(&out).render_json(&Edits::new()).expect("json"),
        t.render_json(&Edits::new()).expect("json"),
        "{out}"
    );
    out
}

#[test]
fn blanks_after_an_alias_do_not_become_part_of_the_block_scalar_it_ends_with() {
    // Found by mutated_templates_never_panic: the blanks after `*p` (a mapping ending in a
    // literal block) were left after the expansion, so the block's last line became "t ".
    let src = "P: &p\n  T: |\n    t\nQ:\n  <<: *p \n  X: *p\t\nS:\n- *p  \n- 1\n";
    assert_eq!(
        reads_the_same(src),
        "P:\n  T: |\n    t\nQ:\n  T: |\n    t\n  X:\n    T: |\n      t\nS:\n-\n  T: |\n    t\n- 1\n"
    );
    // A comment after the blanks stays.
    assert_eq!(
        reads_the_same("P: &p |\n  t\nQ: *p  # c\n"),
        "P: |\n  t\nQ: | # c\n  t\n"
    );
}

#[test]
fn an_empty_node_with_a_property_and_a_comment_is_merged_without_the_property() {
    // The anchor of `A: &1 # c` was dropped by a splice reaching the comment, past the end of
    // the value, so the merged copy (cut at the value's end) kept `&1`.
    assert_eq!(
        reads_the_same("B: &b\n  A: &1 # c\n  L: [x]\nM:\n  <<: *b\nN: {<<: *b}\n"),
        "B:\n  A: # c\n  L: [x]\nM:\n  A:\n  L: [x]\nN: {A: null, L: [x]}\n"
    );
    // A tagged empty node reads as null (CloudFormation: `!GetAZs` of nothing); in flow
    // style it is written as the bare tag, not as an empty string.
    assert_eq!(
        reads_the_same("B: &b\n  A: !GetAZs # c\nM:\n  <<: *b\nN: [*b]\n"),
        "B:\n  A: !GetAZs # c\nM:\n  A: !GetAZs\nN: [{A: !GetAZs }]\n"
    );
}

#[test]
fn a_merged_explicit_or_multi_line_key_is_written_in_flow_style() {
    // Found by mutated_templates_never_panic: `? t\n  t` (an explicit key over two lines) was
    // merged as the text `t\n t:`, which is no valid key.
    assert_eq!(
        reads_the_same("P: &p\n  A: 1\n  ? t\n   u\n  ? k\n  : v\nQ:\n  <<: *p\n  B: 2\n"),
        "P:\n  A: 1\n  ? t\n   u\n  ? k\n  : v\nQ:\n  A: 1\n  \"t u\": null\n  k: v\n  B: 2\n"
    );
}

#[test]
fn an_alias_of_an_empty_block_scalar_is_an_empty_string() {
    // Found by mutated_templates_never_panic: `*s` of `&s !Sub |` (no content) was written as
    // `!Sub |`, which at the end of the document reads as a line break.
    assert_eq!(
        reads_the_same("A:\n- &s !Sub |\n- *s\n"),
        "A:\n- !Sub |\n- !Sub ''\n"
    );
}

#[test]
fn a_lone_carriage_return_is_a_line_break_when_an_alias_is_re_indented() {
    // Found by mutated_templates_never_panic: YAML reads a lone `\r` as a line break, but
    // re-indenting split lines at `\n` only, so the line after it kept its old indentation
    // and left the mapping it belongs to.
    assert_eq!(
        reads_the_same("B: &b\n  A: 1 # c\r  L: x\nM:\n  K: *b\n"),
        "B:\n  A: 1 # c\r  L: x\nM:\n  K:\n    A: 1 # c\r    L: x\n"
    );
}

#[test]
fn an_anchor_dropped_after_a_tab_leaves_a_space() {
    // Found by yamlish_strings_never_panic: `0:\t&a 0` became `0:\t0`, which yaml-rust2
    // refuses (it takes a tab before a property, not before a plain scalar).
    assert_eq!(reads_the_same("0:\t&a 0\n1: *a\n"), "0: 0\n1: 0\n");
}
