//! Property tests: the template loader and compiler never panic, whatever the input.
//! Errors are fine; a panic or a hang is a bug.

use esb_config::{compile, Settings};
use proptest::prelude::*;
use std::path::Path;

fn settings() -> Settings {
    Settings { project: "p".into(), tag: "t".into(), region: "us-east-1".into(), parameters: Default::default() }
}

/// YAML-ish text built from the tokens templates are made of, so the fuzzer reaches deep paths.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("Resources:".to_string()),
        Just("Parameters:".to_string()),
        Just("Conditions:".to_string()),
        Just("Globals:".to_string()),
        Just("Function:".to_string()),
        Just("Type: AWS::Serverless::Function".to_string()),
        Just("Type: AWS::DynamoDB::Table".to_string()),
        Just("Type: AWS::S3::Bucket".to_string()),
        Just("Type: AWS::Serverless::Api".to_string()),
        Just("Properties:".to_string()),
        Just("Events:".to_string()),
        Just("Type: Api".to_string()),
        Just("Type: HttpApi".to_string()),
        Just("Path: /a/{id}".to_string()),
        Just("Method: get".to_string()),
        Just("!Ref X".to_string()),
        Just("!Sub '${X}'".to_string()),
        Just("!GetAtt A.Arn".to_string()),
        Just("!If [C, a, b]".to_string()),
        Just("!Equals [a, b]".to_string()),
        Just("!Condition C".to_string()),
        Just("!Join ['-', [a]]".to_string()),
        Just("!Select [0, !Split [',', 'a,b']]".to_string()),
        Just("{Fn::Sub: x}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("- ".to_string()),
        Just("&a".to_string()),
        Just("*a".to_string()),
        Just(":".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("Handler: app.handler".to_string()),
        Just("Runtime: python3.11".to_string()),
        Just("CodeUri: .".to_string()),
        Just("KeySchema: [{AttributeName: id, KeyType: HASH}]".to_string()),
        "[a-zA-Z0-9 ]{0,8}".prop_map(|s| s),
    ];
    let line =
        (0usize..6, prop::collection::vec(token, 0..4)).prop_map(|(indent, toks)| format!("{}{}", "  ".repeat(indent), toks.join(" ")));
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn structured_garbage_never_panics(text in yamlish()) {
        let _ = compile(Path::new("/nonexistent/template.yaml"), &text, &settings());
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,400}") {
        let _ = compile(Path::new("/nonexistent/template.yaml"), &text, &settings());
    }
}

#[test]
fn the_example_template_with_any_line_removed_never_panics() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/template.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/template.yaml"));
    let mut failures = 0;
    for skip in 0..lines.len() {
        let mutated: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| *l).collect();
        if compile(path, &mutated.join("\n"), &settings()).is_err() {
            failures += 1;
        }
    }
    // Removing a structural line breaks the template; most removals must be reported as errors.
    assert!(failures > lines.len() / 10, "only {failures} of {} mutations were rejected", lines.len());
}
