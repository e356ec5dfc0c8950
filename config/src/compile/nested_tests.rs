//! Nested applications, on templates written for these tests in the shapes real projects use
//! (a child in its own directory with its own code, parameters from the parent, outputs back).

use super::*;
use crate::compile::compile;

fn settings() -> Settings {
    Settings { project: "demo".into(), tag: "latest".into(), region: "us-east-1".into(), parameters: BTreeMap::new() }
}

/// A parent template dir with `child/template.yaml` (one function in `child/src`, one table, an
/// output) and the parent's `template.yaml` as given.
fn project(parent: &str, child: &str) -> (tempfile::TempDir, Result<Project, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("child/src")).unwrap();
    std::fs::write(dir.path().join("child/src/app.py"), "def handler(e, c): return 1\n").unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/app.py"), "def handler(e, c): return 1\n").unwrap();
    std::fs::write(dir.path().join("child/template.yaml"), child).unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, parent).unwrap();
    let r = compile(&path, parent, &settings());
    (dir, r)
}

const CHILD: &str = "
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String}
  Stage: {Type: String, Default: dev}
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.13
      Environment: {Variables: {GREETING: !Ref Greeting, TABLE: !Ref Items}}
      Events: {Get: {Type: Api, Properties: {Path: /child/hello, Method: get}}}
  Items:
    Type: AWS::Serverless::SimpleTable
Outputs:
  TableName: {Value: !Ref Items}
  FunctionArn: {Value: !GetAtt Hello.Arn}
";

#[test]
fn a_local_nested_application_runs_with_the_parents_parameters_and_feeds_its_outputs_back() {
    let parent = "
Transform: AWS::Serverless-2016-10-31
Resources:
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: ./child/template.yaml
      Parameters: {Greeting: !Sub 'hello from ${AWS::Region}'}
  Main:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.13
      Environment: {Variables: {CHILD_TABLE: !GetAtt App.Outputs.TableName, CHILD_FN: !GetAtt App.Outputs.FunctionArn}}
";
    let (_dir, r) = project(parent, CHILD);
    let p = r.unwrap();
    let f = &p.functions.functions["App.Hello"];
    assert_eq!(f.function_name, "App-Hello", "a child's default physical name carries the nesting resource's id");
    assert_eq!(f.code, Code::Dir { path: "child/src".into() }, "code paths are the parent's");
    assert_eq!(f.environment["GREETING"], "hello from us-east-1", "the parameter the parent passes");
    assert_eq!(f.environment["TABLE"], "App-Items");
    assert_eq!((f.dockerfile.as_str(), f.image.as_str()), ("functions/App.Hello/Dockerfile", "esb-demo/app.hello:latest"));
    let main = &p.functions.functions["Main"];
    assert_eq!(main.environment["CHILD_TABLE"], "App-Items", "!GetAtt App.Outputs.TableName");
    assert!(main.environment["CHILD_FN"].ends_with(":function:App-Hello"), "{:?}", main.environment);
    assert_eq!(p.resources.tables["App.Items"].table_name, "App-Items");
    let route = p.routing.routes.iter().find(|r| r.path == "/child/hello").unwrap();
    assert_eq!((route.function.as_str(), route.api.as_str()), ("App.Hello", "App.ServerlessRestApi"));
    assert!(p.routing.apis.contains_key("App.ServerlessRestApi"), "{:?}", p.routing.apis.keys());
}

#[test]
fn a_cloudformation_stack_with_a_local_template_url_is_nested_the_same_way() {
    let parent = "
Resources:
  Stack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: child/template.yaml
      Parameters: {Greeting: hi}
";
    let (_dir, r) = project(parent, CHILD);
    assert_eq!(r.unwrap().functions.functions["Stack.Hello"].environment["GREETING"], "hi");
}

#[test]
fn a_child_parameter_without_a_value_is_the_parents_to_give_as_app_dot_name() {
    let parent = "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties: {Location: child/template.yaml}\n";
    let (dir, r) = project(parent, CHILD);
    let p = r.unwrap();
    let m: Vec<(&str, usize)> = p.missing_parameters.iter().map(|m| (m.name.as_str(), m.line)).collect();
    assert_eq!(m, [("App.Greeting", 3)], "a plan names it; a run refuses it");
    assert!(p.warnings.iter().any(|w| w.contains("--parameter App.Greeting=VALUE")), "{:?}", p.warnings);
    let path = dir.path().join("template.yaml");
    let given = Settings { parameters: [("App.Greeting".to_string(), "from the command line".to_string())].into(), ..settings() };
    let p = compile(&path, parent, &given).unwrap();
    assert!(p.missing_parameters.is_empty());
    assert_eq!(p.functions.functions["App.Hello"].environment["GREETING"], "from the command line");
    assert!(!p.warnings.iter().any(|w| w.contains("names no template parameter")), "{:?}", p.warnings);
}

#[test]
fn errors_in_the_child_name_the_childs_file_and_line() {
    let parent = "Resources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties: {Location: child/template.yaml, Parameters: {Greeting: x}}\n";
    let broken = CHILD.replace("Handler: app.handler", "Handler: app.handler\n      Timout: 3");
    let (_dir, r) = project(parent, &broken);
    let e = r.unwrap_err();
    let d = e.diagnostics();
    assert!(d[0].file.ends_with("child/template.yaml") && d[0].line == Some(12), "{e}");
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `Timeout`?"));
}

#[test]
fn remote_and_repository_applications_are_named_and_not_run_and_a_cycle_is_refused() {
    let parent = "
Resources:
  Sar:
    Type: AWS::Serverless::Application
    Properties:
      Location: {ApplicationId: 'arn:aws:serverlessrepo:us-east-1:123456789012:applications/x', SemanticVersion: 1.0.0}
  Remote:
    Type: AWS::CloudFormation::Stack
    Properties: {TemplateURL: 'https://example.com/t.yaml'}
  Main:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src, Handler: app.handler, Runtime: python3.13}
";
    let (_dir, r) = project(parent, CHILD);
    let p = r.unwrap();
    let w = p.warnings.join("\n");
    assert!(w.contains("nested application Sar comes from the Serverless Application Repository"), "{w}");
    assert!(w.contains("nested stack Remote's template is remote"), "{w}");
    assert_eq!(p.functions.functions.len(), 1);

    let selfish = "Resources:\n  Me:\n    Type: AWS::Serverless::Application\n    Properties: {Location: template.yaml}\n";
    let (_dir, r) = project(selfish, CHILD);
    assert!(r.unwrap_err().to_string().contains("includes itself"));
}

#[test]
fn a_parameter_from_an_output_esb_cannot_know_is_left_for_the_user_to_give() {
    let parent = "
Resources:
  Remote:
    Type: AWS::CloudFormation::Stack
    Properties: {TemplateURL: 'https://example.com/network.yaml'}
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: child/template.yaml
      Parameters: {Greeting: !GetAtt Remote.Outputs.Greeting}
";
    let (_dir, r) = project(parent, CHILD);
    let p = r.unwrap();
    assert_eq!(p.missing_parameters.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["App.Greeting"]);
    assert!(p.warnings.iter().any(|w| w.contains("nested stack Remote has no local value for this output")), "{:?}", p.warnings);
}
