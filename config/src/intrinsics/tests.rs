use super::*;
use crate::yaml::parse;

fn ctx() -> Context {
    let mut c = Context { region: "eu-west-1".into(), account: "123456789012".into(), stack: "demo".into(), ..Context::default() };
    c.params.insert("Stage".into(), ParamValue::Scalar("dev".into()));
    c.params.insert("Zones".into(), ParamValue::List(vec!["a".into(), "b".into()]));
    c.resources.insert("Items".into(), ResourceRef { kind: "AWS::DynamoDB::Table".into(), physical: "items-dev".into() });
    c.resources.insert("Files".into(), ResourceRef { kind: "AWS::S3::Bucket".into(), physical: "files".into() });
    c.resources.insert("Fn".into(), ResourceRef { kind: "AWS::Serverless::Function".into(), physical: "demo-fn".into() });
    c.resources.insert("Queue".into(), ResourceRef { kind: "AWS::Batch::JobQueue".into(), physical: "jobs".into() });
    c.resources.insert("Topic".into(), ResourceRef { kind: "AWS::SNS::Topic".into(), physical: "alerts".into() });
    c.conditions.insert("IsDev".into(), true);
    c.conditions.insert("IsProd".into(), false);
    c.mappings = Some(parse("Sizes: {dev: {mem: '128'}, prod: {mem: '1024'}}").unwrap());
    c
}

/// Resolves `v` in `x: <v>` and returns the scalar, or the sink's errors.
fn eval(yaml: &str) -> Result<String, Vec<String>> {
    let doc = parse(&format!("x: {yaml}")).unwrap();
    let mut sink = Sink::new("t.yaml");
    match ctx().resolve(doc.get("x").unwrap(), "x", &mut sink) {
        Ok(Some(n)) => Ok(match &n.value {
            Value::Seq(items) => items.iter().map(|i| i.as_scalar_str().unwrap()).collect::<Vec<_>>().join("|"),
            _ => n.as_scalar_str().unwrap_or_default(),
        }),
        Ok(None) => Ok("<novalue>".into()),
        Err(Failed) => Err(sink.errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect()),
    }
}

#[test]
fn ref_resolves_parameters_pseudo_parameters_and_resources_in_both_forms() {
    assert_eq!(eval("!Ref Stage").unwrap(), "dev");
    assert_eq!(eval("{Ref: Stage}").unwrap(), "dev");
    assert_eq!(eval("!Ref AWS::Region").unwrap(), "eu-west-1");
    assert_eq!(eval("!Ref AWS::AccountId").unwrap(), "123456789012");
    assert_eq!(eval("!Ref AWS::StackName").unwrap(), "demo");
    assert_eq!(eval("!Ref AWS::Partition").unwrap(), "aws");
    assert_eq!(eval("!Ref Items").unwrap(), "items-dev");
    assert_eq!(eval("!Ref Zones").unwrap(), "a|b");
    assert_eq!(eval("!Ref AWS::NoValue").unwrap(), "<novalue>");
}

#[test]
fn novalue_removes_the_property_from_its_mapping() {
    let doc = parse("x: {a: 1, b: !Ref AWS::NoValue, c: !If [IsProd, 1, !Ref AWS::NoValue]}").unwrap();
    let mut sink = Sink::new("t.yaml");
    let out = ctx().resolve(doc.get("x").unwrap(), "x", &mut sink).unwrap().unwrap();
    let keys: Vec<&str> = out.as_map().unwrap().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a"]);
}

#[test]
fn sub_replaces_variables_attributes_and_keeps_escaped_literals() {
    assert_eq!(eval("!Sub '${AWS::StackName}-${Stage}'").unwrap(), "demo-dev");
    assert_eq!(eval("{'Fn::Sub': '${Items}'}").unwrap(), "items-dev");
    assert_eq!(eval("!Sub '${Items.Arn}'").unwrap(), "arn:aws:dynamodb:eu-west-1:123456789012:table/items-dev");
    assert_eq!(eval("!Sub '${!Literal}-x'").unwrap(), "${Literal}-x");
    assert_eq!(eval("!Sub ['${Name}/${Stage}', {Name: !Ref Files}]").unwrap(), "files/dev");
}

#[test]
fn sub_errors_name_the_variable() {
    let e = eval("!Sub '${Nope}'").unwrap_err();
    assert!(e[0].contains("`${Nope}` names no parameter"), "{e:?}");
    let e = eval("!Sub '${Zones}'").unwrap_err();
    assert!(e[0].contains("list parameter"), "{e:?}");
    let e = eval("!Sub 'abc${Stage'").unwrap_err();
    assert!(e[0].contains("unclosed"), "{e:?}");
}

#[test]
fn get_att_gives_arns_and_names_of_local_resources() {
    assert_eq!(eval("!GetAtt Files.Arn").unwrap(), "arn:aws:s3:::files");
    assert_eq!(eval("!GetAtt [Fn, Arn]").unwrap(), "arn:aws:lambda:eu-west-1:123456789012:function:demo-fn");
    assert_eq!(eval("{'Fn::GetAtt': [Items, StreamArn]}").unwrap(), "arn:aws:dynamodb:eu-west-1:123456789012:table/items-dev/stream/local");
    assert_eq!(eval("!GetAtt Files.DomainName").unwrap(), "files.s3.amazonaws.com");
    let e = eval("!GetAtt Items.Nope").unwrap_err();
    assert!(e[0].contains("has no attribute `Nope`"), "{e:?}");
    let e = eval("!GetAtt Missing.Arn").unwrap_err();
    assert!(e[0].contains("Fn::GetAtt on `Missing`"), "{e:?}");
}

#[test]
fn join_select_split_compose() {
    assert_eq!(eval("!Join ['-', [a, !Ref Stage, c]]").unwrap(), "a-dev-c");
    assert_eq!(eval("!Join [',', !Ref Zones]").unwrap(), "a,b");
    assert_eq!(eval("!Select [1, !Ref Zones]").unwrap(), "b");
    assert_eq!(eval("!Select [0, !Split ['/', 'x/y/z']]").unwrap(), "x");
    assert_eq!(eval("{'Fn::Split': [',', 'a,b']}").unwrap(), "a|b");
    assert!(eval("!Select [5, [a]]").unwrap_err()[0].contains("out of range"));
    assert!(eval("!Join ['-']").unwrap_err()[0].contains("takes a list of 2 arguments"));
}

#[test]
fn if_picks_a_branch_by_condition() {
    assert_eq!(eval("!If [IsDev, yes, no]").unwrap(), "yes");
    assert_eq!(eval("{'Fn::If': [IsProd, yes, no]}").unwrap(), "no");
    let e = eval("!If [Unknown, a, b]").unwrap_err();
    assert!(e[0].contains("`Unknown`, which is not defined"), "{e:?}");
}

#[test]
fn find_in_map_and_get_azs() {
    assert_eq!(eval("!FindInMap [Sizes, !Ref Stage, mem]").unwrap(), "128");
    assert!(eval("!FindInMap [Sizes, qa, mem]").unwrap_err()[0].contains("no entry Mappings.Sizes.qa.mem"));
    assert_eq!(eval("!GetAZs ''").unwrap(), "eu-west-1a|eu-west-1b|eu-west-1c");
}

#[test]
fn base64_and_refs_that_are_arns_as_cloudformation_gives_them() {
    assert_eq!(eval("!Base64 'echo hi'").unwrap(), "ZWNobyBoaQ==");
    assert_eq!(eval("{'Fn::Base64': !Sub '${AWS::Region}'}").unwrap(), "ZXUtd2VzdC0x");
    // A corpus template (apigw-rest-api-batch-sam) selects the name out of a job queue's ARN.
    assert_eq!(eval("!Select [1, !Split ['/', !Ref Queue]]").unwrap(), "jobs");
    assert_eq!(eval("!Ref Topic").unwrap(), "arn:aws:sns:eu-west-1:123456789012:alerts");
    assert_eq!(eval("!Sub '${Topic}'").unwrap(), "arn:aws:sns:eu-west-1:123456789012:alerts");
    assert_eq!(eval("!Ref Items").unwrap(), "items-dev", "a table's Ref is its name");
}

#[test]
fn unknown_and_unsupported_intrinsics_are_errors_with_a_hint() {
    let doc = parse("x: !Frobnicate abc").unwrap();
    let mut sink = Sink::new("t.yaml");
    assert!(ctx().resolve(doc.get("x").unwrap(), "x", &mut sink).is_err());
    assert!(sink.errors[0].message.contains("unknown intrinsic function `Fn::Frobnicate`"));
    assert!(sink.errors[0].hint.as_deref().unwrap().contains("Fn::Sub"));
    assert_eq!(sink.errors[0].line, Some(1));
    assert!(eval("{'Fn::Nope': 1}").unwrap_err()[0].contains("unknown intrinsic function `Fn::Nope`"));
    assert!(eval("!ImportValue other").unwrap_err()[0].contains("another stack"));
    assert!(eval("!Equals [a, a]").unwrap_err()[0].contains("only allowed inside the Conditions"));
}

#[test]
fn ref_to_nothing_and_to_an_excluded_resource_are_told_apart() {
    assert!(eval("!Ref Ghost").unwrap_err()[0].contains("neither a parameter nor a resource"));
    let mut c = ctx();
    c.excluded.insert("ProdOnly".into());
    let doc = parse("x: !Ref ProdOnly").unwrap();
    let mut sink = Sink::new("t.yaml");
    assert!(c.resolve(doc.get("x").unwrap(), "x", &mut sink).is_err());
    assert!(sink.errors[0].message.contains("Condition is false"));
}

#[test]
fn every_error_in_a_tree_is_reported_with_its_own_path() {
    let doc = parse("x:\n  a: !Ref Nope1\n  b: [ok, !Ref Nope2]\n").unwrap();
    let mut sink = Sink::new("t.yaml");
    assert!(ctx().resolve(doc.get("x").unwrap(), "x", &mut sink).is_err());
    let located: Vec<(String, Option<usize>)> = sink.errors.iter().map(|d| (d.path.clone(), d.line)).collect();
    assert_eq!(located, [("x.a.Ref".to_string(), Some(2)), ("x.b[1].Ref".to_string(), Some(3))]);
}

// === Conditions ===

fn conditions(yaml: &str) -> (BTreeMap<String, bool>, Vec<String>) {
    let doc = parse(yaml).unwrap();
    let mut sink = Sink::new("t.yaml");
    let out = evaluate_conditions(&ctx(), Some(&doc), &mut sink);
    (out, sink.errors.iter().map(|d| d.message.clone()).collect())
}

#[test]
fn condition_functions_evaluate_in_both_forms() {
    let (c, errors) = conditions(
        "A: !Equals [!Ref Stage, dev]\nB: {'Fn::Not': [{Condition: A}]}\nC: !And [!Condition A, !Not [!Condition B]]\nD: !Or [!Condition B, {'Fn::Equals': [1, '1']}]\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(c, BTreeMap::from([("A".into(), true), ("B".into(), false), ("C".into(), true), ("D".into(), true)]));
}

#[test]
fn circular_conditions_are_reported_with_the_cycle() {
    let (c, errors) = conditions("A: !Condition B\nB: !Not [!Condition C]\nC: !Condition A\nD: !Equals [x, x]\n");
    assert!(errors.iter().any(|e| e.contains("circular Conditions: A -> B -> C -> A")), "{errors:?}");
    assert_eq!(c.get("D"), Some(&true), "independent conditions still evaluate");
    assert!(!c.contains_key("A"));
}

#[test]
fn undefined_condition_references_and_non_condition_functions_fail() {
    let (_, errors) = conditions("A: !Condition Missing\nB: !Sub x\nC: !Or [!Condition A]\n");
    assert!(errors.iter().any(|e| e.contains("`Missing` is not defined")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("`Fn::Sub` is not a condition function")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("takes 2 to 10 conditions")), "{errors:?}");
}
