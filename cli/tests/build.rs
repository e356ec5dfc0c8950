//! `esb build --config-only` and `esb init` run as a user runs them: the real binary on the example
//! project. No Docker here; image builds are tested in `e2e_images.rs`.

use esb_tests::{assert_golden, example_project, run_esb, tests_dir, text};
use std::path::Path;
use std::process::{Command, Output};

fn esb(dir: &Path, args: &[&str]) -> Output {
    run_esb(env!("CARGO_BIN_EXE_esb"), dir, args)
}

#[test]
fn build_generates_the_golden_files_of_the_example_project() {
    let project = example_project();
    let out = esb(project.path(), &["build", "--config-only"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("10 functions, 14 routes, 1 table, 1 bucket, 1 schedule, 1 S3 event, 1 stream"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("--config-only: no images built"), "says plainly that no images were built");
    assert_golden(&project.path().join(".esb"), &tests_dir().join("golden/example"));
}

#[test]
fn a_second_build_rewrites_nothing_and_keeps_mtimes() {
    let project = example_project();
    assert!(esb(project.path(), &["build", "--config-only"]).status.success());
    let file = project.path().join(".esb/config/functions.yml");
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = esb(project.path(), &["build", "--config-only"]);
    assert!(text(&out.stdout).contains("wrote 0, 14 unchanged"), "{}", text(&out.stdout));
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), before);
}

#[test]
fn dry_run_lists_everything_and_writes_nothing() {
    let project = example_project();
    let out = esb(project.path(), &["build", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "HelloFunction",
        "GET     /items/{id}",
        "auth CognitoAuth",
        "items-dev",
        "example-files-dev",
        "rate(1 minute)",
        "esb/base-python:3.13",
        "Nothing was written",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    assert!(!project.path().join(".esb").exists(), "dry run wrote files");
}

#[test]
fn json_output_is_one_document_a_machine_can_read() {
    let project = example_project();
    let out = esb(project.path(), &["build", "--dry-run", "--json", "-p", "Stage=prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["project"], "example");
    assert_eq!(doc["functions"]["HelloFunction"]["environment"]["STAGE"], "prod");
    assert_eq!(doc["functions"]["HelloFunction"]["environment"]["LOG_LEVEL"], "INFO");
    assert_eq!(doc["tables"]["ItemsTable"]["table_name"], "items-prod");
    assert_eq!(doc["functions"]["TickFunction"]["schedules"][0]["enabled"], false);
    assert_eq!(doc["routes"].as_array().unwrap().len(), 14);
    assert_eq!(doc["images_built"], false);
}

#[test]
fn a_broken_template_fails_clearly_and_leaves_the_previous_output_alone() {
    let project = example_project();
    assert!(esb(project.path(), &["build", "--config-only"]).status.success());
    let routing = project.path().join(".esb/config/routing.yml");
    let before = std::fs::read(&routing).unwrap();
    let template = project.path().join("template.yaml");
    let broken = std::fs::read_to_string(&template)
        .unwrap()
        .replace("Path: /items/{id}\n            Method: put", "Path: /items/{id}\n            Method: fetch")
        .replace(
            "Handler: app.handler\n      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /private",
            "Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /private",
        );
    std::fs::write(&template, broken).unwrap();
    let out = esb(project.path(), &["build", "--config-only"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2 errors in the template"), "{stderr}");
    assert!(
        stderr.contains(
            "template.yaml:121: Resources.ItemsFunction.Properties.Events.Update.Properties.Method: `fetch` is not an HTTP method"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Resources.WhoamiFunction.Properties.Handler: function WhoamiFunction is missing `Handler`"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(std::fs::read(&routing).unwrap(), before, "previous output untouched");

    let out = esb(project.path(), &["build", "--config-only", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("errors are JSON too");
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 2);
    assert_eq!(doc["diagnostics"][0]["line"], 121, "diagnostics come in line order");
    assert_eq!(doc["diagnostics"][1]["path"], "Resources.WhoamiFunction.Properties.Handler");
}

#[test]
fn yaml_syntax_errors_name_the_line() {
    let project = example_project();
    std::fs::write(project.path().join("template.yaml"), "Resources:\n  A:\n    Type: [oops\n").unwrap();
    let out = esb(project.path(), &["build", "--config-only"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("template.yaml:4: YAML syntax"), "{}", text(&out.stderr));
}

#[test]
fn no_template_anywhere_says_where_it_looked() {
    let empty = tempfile::tempdir().unwrap();
    let out = esb(empty.path(), &["build", "--config-only"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no SAM template found") && stderr.contains("template.yaml") && stderr.contains("--template"), "{stderr}");
}

#[test]
fn init_writes_generator_yml_and_refuses_to_overwrite() {
    let project = example_project();
    std::fs::remove_file(project.path().join("generator.yml")).unwrap();
    let out = esb(project.path(), &["init", "--yes", "--name", "shop", "--tag", "v1", "-p", "Stage=prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(project.path().join("generator.yml")).unwrap();
    assert!(written.contains("name: shop") && written.contains("tag: v1") && written.contains("Stage: prod"), "{written}");
    // The build uses generator.yml's values.
    let out = esb(project.path(), &["build", "--dry-run", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["project"], "shop");
    assert_eq!(doc["functions"]["HelloFunction"]["image"], "esb-shop/hellofunction:v1");
    assert_eq!(doc["functions"]["HelloFunction"]["environment"]["STAGE"], "prod");
    let again = esb(project.path(), &["init", "--yes"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists") && text(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(project.path().join("generator.yml")).unwrap(), written, "not overwritten");
    assert!(esb(project.path(), &["init", "--yes", "--force"]).status.success());
    let rewritten = std::fs::read_to_string(project.path().join("generator.yml")).unwrap();
    assert!(!rewritten.contains("name: shop") && rewritten.contains("tag: latest"), "--force rewrites with defaults: {rewritten}");
}

#[test]
fn init_checks_parameter_values_before_writing() {
    let project = example_project();
    std::fs::remove_file(project.path().join("generator.yml")).unwrap();
    let out = esb(project.path(), &["init", "--yes", "-p", "Stage=qa"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not one of the AllowedValues (dev, prod)"), "{}", text(&out.stderr));
    assert!(!project.path().join("generator.yml").exists(), "nothing written");
}

#[test]
fn template_flag_and_env_take_precedence() {
    let project = example_project();
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_esb"))
        .args(["build", "--dry-run", "--json"])
        .current_dir(other.path())
        .env("ESB_TEMPLATE", project.path().join("template.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = esb(other.path(), &["build", "--dry-run", "-t", project.path().join("nope.yaml").to_str().unwrap()]);
    assert!(text(&out.stderr).contains("(from --template)"), "{}", text(&out.stderr));
}

/// A project in a temp dir with `template` and a `src/` holding app.py and app.js.
fn project_with(template: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/app.py"), "def handler(e, c):\n    return e\n").unwrap();
    std::fs::write(dir.path().join("src/app.js"), "exports.handler = async (e) => e;\n").unwrap();
    std::fs::write(dir.path().join("template.yaml"), template).unwrap();
    dir
}

#[test]
fn a_function_esb_cannot_run_is_listed_with_its_reason_never_dropped_silently() {
    let fn_of = |id: &str, runtime: &str| {
        format!(
            "  {id}:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: src, Handler: app.handler, Runtime: {runtime}}}\n"
        )
    };
    let mixed =
        project_with(&format!("Resources:\n{}{}{}", fn_of("Py", "python3.14"), fn_of("Node", "nodejs22.x"), fn_of("Ruby", "ruby3.3")));
    let out = esb(mixed.path(), &["build", "--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("2 functions"), "{stdout}");
    assert!(stdout.contains("left out: Ruby: runtime ruby3.3: Ruby functions need a Ruby runtime client"), "{stdout}");
    assert!(stdout.contains("esb/base-python:3.14") && stdout.contains("esb/base-nodejs:24"), "{stdout}");
    assert!(text(&out.stderr).contains("nodejs22.x functions run on Node.js 24"), "the nearest version is said: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&esb(mixed.path(), &["build", "--dry-run", "--json"]).stdout).unwrap();
    assert!(json["left_out"]["Ruby"].as_str().unwrap().contains("ruby3.3"), "{json}");

    // Nothing that can run: the build fails instead of reporting "0 functions".
    let none = project_with(&format!("Resources:\n{}", fn_of("Net", "dotnet8")));
    let out = esb(none.path(), &["build", "--dry-run"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("none of the template's 1 function(s) can run here"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("left out: Net: runtime dotnet8: .NET"), "{}", text(&out.stdout));

    // A misspelt runtime is an error with its line and the nearest valid one.
    let typo = project_with(&format!("Resources:\n{}", fn_of("Typo", "pyhton3.12")));
    let out = esb(typo.path(), &["build", "--dry-run"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("template.yaml:4") && stderr.contains("`pyhton3.12` is not a Lambda runtime"), "{stderr}");
    assert!(stderr.contains("did you mean `python3.12`?"), "{stderr}");
}

#[test]
fn debug_flags_are_checked_before_anything_starts() {
    let project = example_project();
    let out = esb(project.path(), &["up", "-d", "--debug-function", "HelloFunction", "--debug-port", "9229"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot hold a function under a debugger"), "{}", text(&out.stderr));
    let out = esb(project.path(), &["serve", "--debug-function", "HelloFunction"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--debug-port"), "the two go together: {}", text(&out.stderr));
    let out = esb(project.path(), &["invoke", "HelloFunction", "-d", "80"]);
    assert!(!out.status.success() && text(&out.stderr).contains("80"), "no privileged ports: {}", text(&out.stderr));
}

#[test]
fn generate_event_prints_events_lambdas_types_accept_and_names_unknown_ones() {
    use aws_lambda_events::event as e;
    let dir = tempfile::tempdir().unwrap();
    let out = esb(dir.path(), &["generate-event", "sqs", "receive-message", "--body", "from the cli"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sqs: e::sqs::SqsEvent = serde_json::from_slice(&out.stdout).expect("an SQS event as Lambda delivers it");
    assert_eq!(sqs.records[0].body.as_deref(), Some("from the cli"));
    let out = esb(dir.path(), &["generate-event", "apigateway", "http-api-proxy", "--path", "/items/1"]);
    let v2: e::apigw::ApiGatewayV2httpRequest = serde_json::from_slice(&out.stdout).expect("an HTTP API event");
    assert_eq!(v2.raw_path.as_deref(), Some("/items/1"));
    let out = esb(dir.path(), &["generate-event", "kinesis"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("hint: one of apigateway"), "{}", text(&out.stderr));
}

#[test]
fn a_node_function_that_imports_an_aws_sdk_it_does_not_ship_is_named_by_build() {
    let dir = project_with(
        "Resources:\n  Node:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src, Handler: db.handler, Runtime: nodejs24.x}\n",
    );
    std::fs::write(
        dir.path().join("src/db.mjs"),
        "import { DynamoDBClient } from \"@aws-sdk/client-dynamodb\";\nexport const handler = async () => new DynamoDBClient({}) && 1;\n",
    )
    .unwrap();
    let out = esb(dir.path(), &["build", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("imports @aws-sdk/client-dynamodb") && said.contains("npm install @aws-sdk/client-dynamodb"), "{said}");
}

#[test]
fn typos_fail_the_build_with_their_line_and_the_name_meant() {
    let dir = project_with(
        "Globals:\n  Function:\n    Timout: 3\nResources:\n  Py:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: app.handler\n      Runtime: python3.14\n      VpcConfig: {SubnetIds: []}\n      Events:\n        Get: {Type: APi, Properties: {Path: /, Method: get}}\n",
    );
    let out = esb(dir.path(), &["build", "--dry-run"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("template.yaml:3: Globals.Function.Timout") && stderr.contains("did you mean `Timeout`?"), "{stderr}");
    assert!(stderr.contains("template.yaml:13: Resources.Py.Properties.Events.Get.Type: `APi` is not a SAM event type"), "{stderr}");
    assert!(stderr.contains("did you mean `Api`?"), "{stderr}");
    let fixed = std::fs::read_to_string(dir.path().join("template.yaml")).unwrap().replace("Timout", "Timeout").replace("APi", "Api");
    std::fs::write(dir.path().join("template.yaml"), fixed).unwrap();
    let out = esb(dir.path(), &["build", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("accepted, not emulated: AWS::Serverless::Function VpcConfig"), "{said}");
}
