use super::*;
use crate::model::{ApiKind, Authorizer, BaseImage, Code};

/// A temp project with code dirs `src/a`, `src/b` (each with app.py) and `bin` (with bootstrap).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["src/a", "src/b"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join("app.py"), "def handler(e, c): return 1\n").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/bootstrap"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("layer/python")).unwrap();
        Fixture { dir }
    }

    fn compile(&self, text: &str) -> Result<Project, ConfigError> {
        self.compile_with(text, &[])
    }

    fn compile_with(&self, text: &str, params: &[(&str, &str)]) -> Result<Project, ConfigError> {
        let settings = Settings {
            project: "demo".into(),
            tag: "latest".into(),
            region: "us-east-1".into(),
            parameters: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        compile(&self.dir.path().join("template.yaml"), text, &settings)
    }

    /// The diagnostics of a failing compile, as `path: message` lines.
    fn errors(&self, text: &str) -> Vec<Diagnostic> {
        match self.compile(text) {
            Ok(p) => panic!("expected errors, compiled: {p:?}"),
            Err(e) => e.diagnostics().to_vec(),
        }
    }
}

const FN: &str = "
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
";

#[test]
fn a_minimal_function_gets_lambda_defaults() {
    let p = Fixture::new().compile(FN).unwrap();
    let f = &p.functions.functions["A"];
    assert_eq!(f.function_name, "A");
    assert_eq!(f.base, BaseImage::Python { version: "3.11".into() });
    assert_eq!(f.code, Code::Dir { path: "src/a".into() });
    assert_eq!((f.timeout, f.memory_size, f.architecture.as_str()), (3, 128, "x86_64"));
    assert_eq!(f.image, "esb-demo/a:latest");
    assert_eq!(f.dockerfile, "functions/A/Dockerfile");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn function_properties_are_read_and_globals_merged() {
    let p = Fixture::new()
        .compile(
            "
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
    MemorySize: 512
    Environment: {Variables: {SHARED: g, OVER: g}}
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub '${AWS::StackName}-a'
      CodeUri: ./src/a/
      Handler: app.handler
      Timeout: 5
      Architectures: [arm64]
      ReservedConcurrentExecutions: 8
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}
      Environment: {Variables: {OVER: local, NUM: 3, FLAG: true}}
",
        )
        .unwrap();
    let f = &p.functions.functions["A"];
    assert_eq!(f.function_name, "demo-a");
    assert_eq!(f.runtime, "python3.12");
    assert_eq!(f.code, Code::Dir { path: "src/a".into() });
    assert_eq!((f.timeout, f.memory_size, f.architecture.as_str()), (5, 512, "arm64"));
    assert_eq!((f.reserved_concurrency, f.provisioned_concurrency), (Some(8), Some(2)));
    let env: Vec<(&str, &str)> = f.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("FLAG", "true"), ("NUM", "3"), ("OVER", "local"), ("SHARED", "g")]);
    assert!(p.warnings.iter().any(|w| w.contains("python3.12 functions run on Python 3.13")), "{:?}", p.warnings);
}

#[test]
fn provided_runtimes_default_the_handler_to_bootstrap_and_inline_code_is_kept() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Rust:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: bin, Runtime: provided.al2023}
  Inline:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: |
        def handler(e, c):
            return 'hi'
",
        )
        .unwrap();
    let rust = &p.functions.functions["Rust"];
    assert_eq!((rust.base.clone(), rust.handler.as_str()), (BaseImage::Provided, "bootstrap"));
    assert_eq!(p.functions.functions["Inline"].code, Code::Inline { source: "def handler(e, c):\n    return 'hi'\n".into() });
}

#[test]
fn globals_typos_are_errors_naming_their_line_and_the_key_meant() {
    let e = Fixture::new()
        .compile(
            "
Globals:
  Function:
    Runtme: python3.11
  Functon:
    Timeout: 3
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a, Handler: app.handler, Runtime: python3.11}
",
        )
        .unwrap_err();
    let d = e.diagnostics();
    assert_eq!(d.len(), 2, "{e}");
    assert_eq!(
        (d[0].line, d[0].path.as_str(), d[0].hint.as_deref()),
        (Some(4), "Globals.Function.Runtme", Some("did you mean `Runtime`?"))
    );
    assert_eq!((d[1].path.as_str(), d[1].hint.as_deref()), ("Globals.Functon", Some("did you mean `Function`?")), "{e}");
}

#[test]
fn unsupported_runtimes_and_unknown_things_warn_and_never_fail() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Dotnet:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: App::App.Function::Handle
      Runtime: dotnet8
      Events: {Get: {Type: Api, Properties: {Path: '/dotnet/{id}', Method: get}}, Q: {Type: SQS, Properties: {Queue: x}}}
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a, Handler: app.handler, Runtime: python3.11, VpcConfig: {SubnetIds: []}, Events: {Q: {Type: SQS, Properties: {Queue: x}}}}
  Topic:
    Type: AWS::SNS::Topic
  Topic2:
    Type: AWS::SNS::Topic
  Role:
    Type: AWS::IAM::Role
",
        )
        .unwrap();
    assert_eq!(p.functions.functions.keys().collect::<Vec<_>>(), ["A"]);
    let w = p.warnings.join("\n");
    assert!(w.contains("function Dotnet is left out: runtime dotnet8: .NET"), "{w}");
    assert_eq!(p.left_out.keys().collect::<Vec<_>>(), ["Dotnet"], "listed with its reason, never dropped silently");
    let u = &p.routing.unavailable;
    assert_eq!((u.len(), u[0].method.as_str(), u[0].path.as_str(), u[0].function.as_str()), (1, "GET", "/dotnet/{id}", "Dotnet"), "{u:?}");
    assert!(u[0].reason.contains("dotnet8"), "{u:?}");
    assert!(w.contains("accepted, not emulated: AWS::Serverless::Function VpcConfig"), "{w}");
    assert!(w.contains("event type SQS"), "{w}");
    assert_eq!(w.matches("AWS::SNS::Topic").count(), 1, "warned once: {w}");
    assert!(!w.contains("IAM"), "{w}");
}

#[test]
fn parameters_take_defaults_overrides_and_constraints() {
    let t = "
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 256, MinValue: 128, MaxValue: 1024}
  Name: {Type: String, Default: abc, AllowedPattern: '[a-z]+'}
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      MemorySize: !Ref Size
      Environment: {Variables: {S: !Ref Stage, N: !Ref Name}}
";
    let fx = Fixture::new();
    let p = fx.compile_with(t, &[("Stage", "prod")]).unwrap();
    assert_eq!(p.functions.functions["A"].environment["S"], "prod");
    assert_eq!(p.functions.functions["A"].memory_size, 256);
    for (k, v, needle) in [
        ("Stage", "qa", "not one of the AllowedValues"),
        ("Size", "4096", "outside MinValue"),
        ("Name", "ABC", "does not match AllowedPattern"),
        ("Size", "big", "not a number"),
    ] {
        let e = fx.compile_with(t, &[(k, v)]).unwrap_err();
        assert!(e.diagnostics()[0].message.contains(needle), "{k}={v}: {e}");
        assert_eq!(e.diagnostics()[0].path, format!("Parameters.{k}"));
    }
    // A parameter nobody gave a value runs with a stand-in (as SAM CLI does), said once with its line.
    let p = fx
        .compile("Parameters:\n  X: {Type: String}\n  N: {Type: Number, MinValue: 2}\n  E: {Type: String, AllowedValues: [dev, prod]}\n  L: {Type: CommaDelimitedList}\n  SourceBucketName: {Type: String}\nResources: {}\n")
        .unwrap();
    let w = p.warnings.join("\n");
    assert!(w.contains("template.yaml:2: parameter `X` has no Default and no value was given; using `esb-x` locally"), "{w}");
    assert!(w.contains("using `sourcebucketname`"), "a stand-in is a valid bucket or table name: {w}");
    assert!(w.contains("generator.yml") && w.contains("--parameter X=VALUE"), "{w}");
    assert!(
        w.contains("`N` has no Default and no value was given; using `2`")
            && w.contains("using `dev`")
            && w.contains("using `esb-l,esb-l-2,esb-l-3`"),
        "{w}"
    );
    let p = fx.compile_with(t, &[("Unused", "1")]).unwrap();
    assert!(p.warnings.iter().any(|w| w.contains("`Unused` names no template parameter")));
}

#[test]
fn conditions_exclude_resources_and_drive_if() {
    let p = Fixture::new()
        .compile(
            "
Parameters: {Stage: {Type: String, Default: dev}}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Timeout: !If [IsProd, 30, 3]
",
        )
        .unwrap();
    assert!(p.resources.buckets.is_empty());
    assert_eq!(p.functions.functions["A"].timeout, 3);
}

#[test]
fn api_events_become_routes_on_implicit_and_explicit_apis_most_specific_first() {
    let p = Fixture::new()
        .compile(
            "
Globals:
  Api:
    BinaryMediaTypes: ['image~1png']
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Events:
        Proxy: {Type: Api, Properties: {Path: '/{proxy+}', Method: any}}
        One: {Type: Api, Properties: {Path: '/items/{id}', Method: get}}
        New: {Type: Api, Properties: {Path: /items/new, Method: get}}
        Private: {Type: Api, Properties: {Path: /me, Method: get, RestApiId: !Ref Secure}}
        Open: {Type: Api, Properties: {Path: /open, Method: get, RestApiId: !Ref Secure, Auth: {Authorizer: NONE}}}
        V2: {Type: HttpApi, Properties: {Path: /v2, Method: post}}
        Default: {Type: HttpApi}
  Secure:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Cors: \"'https://example.com'\"
      Auth:
        DefaultAuthorizer: Pool
        ApiKeyRequired: true
        Authorizers:
          Pool: {UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/x, Identity: {Header: X-Token}}
",
        )
        .unwrap();
    let routes: Vec<String> = p.routing.routes.iter().map(|r| format!("{} {} {} {}", r.api, r.method, r.path, r.payload_version)).collect();
    assert_eq!(
        routes,
        [
            "Secure GET /me 1.0",
            "Secure GET /open 1.0",
            "ServerlessHttpApi POST /v2 2.0",
            "ServerlessHttpApi ANY $default 2.0",
            "ServerlessRestApi GET /items/new 1.0",
            "ServerlessRestApi GET /items/{id} 1.0",
            "ServerlessRestApi ANY /{proxy+} 1.0",
        ]
    );
    let me = &p.routing.routes[0];
    assert_eq!((me.authorizer.as_deref(), me.api_key_required, me.source.as_str()), (Some("Pool"), true, "A.Private"));
    assert_eq!(p.routing.routes[1].authorizer, None);
    let secure = &p.routing.apis["Secure"];
    assert_eq!(secure.stage, "v1");
    assert_eq!(secure.authorizers["Pool"], Authorizer::Cognito { header: "X-Token".into() });
    assert_eq!(secure.cors.as_ref().unwrap().allow_origins, ["https://example.com"]);
    let implicit = &p.routing.apis["ServerlessRestApi"];
    assert_eq!((implicit.stage.as_str(), implicit.kind), ("Prod", ApiKind::Rest));
    assert_eq!(implicit.binary_media_types, ["image/png"]);
    assert_eq!(p.routing.apis["ServerlessHttpApi"].stage, "$default");
}

#[test]
fn http_api_jwt_auth_and_cors_configuration() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: {AllowOrigins: ['*'], AllowMethods: [GET], MaxAge: 600}
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {issuer: https://issuer.local, audience: [app]}
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /x, Method: GET, PayloadFormatVersion: '1.0'}}
",
        )
        .unwrap();
    let api = &p.routing.apis["Http"];
    assert_eq!(
        api.authorizers["Jwt"],
        Authorizer::Jwt { issuer: Some("https://issuer.local".into()), audience: vec!["app".into()], header: "Authorization".into() }
    );
    assert_eq!(api.cors.as_ref().unwrap().max_age, Some(600));
    let r = &p.routing.routes[0];
    assert_eq!((r.authorizer.as_deref(), r.payload_version.as_str()), (Some("Jwt"), "1.0"));
}

#[test]
fn schedules_are_validated_and_kept() {
    let fx = Fixture::new();
    let t = |expr: &str| {
        format!("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/a\n      Handler: app.handler\n      Runtime: python3.11\n      Events:\n        S: {{Type: Schedule, Properties: {{Schedule: '{expr}', Input: '{{\"a\": 1}}', Enabled: false}}}}\n")
    };
    let p = fx.compile(&t("cron(0 12 * * ? *)")).unwrap();
    let s = &p.functions.functions["A"].schedules[0];
    assert_eq!((s.expression.as_str(), s.input.as_deref(), s.enabled), ("cron(0 12 * * ? *)", Some("{\"a\": 1}"), false));
    for bad in ["rate(0 minutes)", "rate(5 fortnights)", "cron(* * * * *)", "every day"] {
        let e = fx.compile(&t(bad)).unwrap_err();
        assert!(e.diagnostics()[0].path.ends_with("Events.S.Properties.Schedule"), "{bad}: {e}");
    }
}

const STREAMS: &str = "
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Plain:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: STREAM
            StartingPosition: POSITION
            EXTRA
";

fn streams(stream: &str, position: &str, extra: &str) -> String {
    STREAMS.replace("STREAM", stream).replace("POSITION", position).replace("EXTRA", extra)
}

#[test]
fn stream_events_follow_a_table_of_the_template_with_lambdas_defaults() {
    let fx = Fixture::new();
    let p = fx.compile(&streams("!GetAtt Orders.StreamArn", "TRIM_HORIZON", "")).unwrap();
    let e = &p.functions.functions["A"].stream_events[0];
    assert_eq!((e.name.as_str(), e.table.as_str(), e.starting_position.as_str()), ("Changes", "Orders", "TRIM_HORIZON"));
    assert_eq!((e.batch_size, e.enabled, e.max_retries, e.max_record_age), (100, true, None, None));
    let p = fx
        .compile(&streams(
            "!GetAtt Orders.StreamArn",
            "LATEST",
            "BatchSize: 10\n            MaximumRetryAttempts: 2\n            MaximumRecordAgeInSeconds: 120\n            Enabled: false\n            FilterCriteria: {Filters: []}",
        ))
        .unwrap();
    let e = &p.functions.functions["A"].stream_events[0];
    assert_eq!((e.batch_size, e.enabled, e.max_retries, e.max_record_age), (10, false, Some(2), Some(120)));
    let w = p.warnings.join("\n");
    assert!(w.contains("A.Changes: FilterCriteria not applied locally"), "{w}");
}

#[test]
fn stream_events_on_tables_without_a_stream_or_outside_the_template_are_located_errors() {
    let fx = Fixture::new();
    for (stream, position, extra, says) in [
        ("!GetAtt Plain.StreamArn", "LATEST", "", "follows table `Plain`, which has no stream"),
        (
            "arn:aws:dynamodb:eu-west-1:123456789012:table/Elsewhere/stream/2024",
            "LATEST",
            "",
            "`Elsewhere`, which is not an AWS::DynamoDB::Table of this template",
        ),
        ("not-an-arn", "LATEST", "", "is not a DynamoDB stream ARN"),
        ("!GetAtt Orders.StreamArn", "AT_TIMESTAMP", "", "must be TRIM_HORIZON or LATEST"),
        ("!GetAtt Orders.StreamArn", "LATEST", "MaximumRetryAttempts: -2", "MaximumRetryAttempts must be -1 (no limit) or 0 to 10000"),
        ("!GetAtt Orders.StreamArn", "LATEST", "BatchSize: 0", "out of range 1..=10000"),
    ] {
        let e = fx.compile(&streams(stream, position, extra)).unwrap_err();
        let d = &e.diagnostics()[0];
        assert!(d.message.contains(says), "{stream} {position} {extra}: {e}");
        assert!(d.path.starts_with("Resources.A.Properties.Events.Changes.Properties"), "{}", d.path);
        assert!(d.line.is_some(), "located: {e}");
    }
}

const ASYNC: &str = "
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      DeadLetterQueue: {Type: SQS, TargetArn: arn:aws:sqs:eu-west-1:123456789012:dlq}
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 120
        DestinationConfig:
          OnFailure: {Type: Lambda, Destination: !GetAtt B.Arn}
          OnSuccess: {Type: SQS, Destination: arn:aws:sqs:eu-west-1:123456789012:done}
      Events:
        Put:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: [s3:ObjectCreated:*]
            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}, {Name: suffix, Value: .csv}]}}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a, Handler: app.handler, Runtime: python3.11, FunctionName: failures-fn}
";

#[test]
fn event_invoke_config_and_s3_events_are_read_and_resolved() {
    let fx = Fixture::new();
    let p = fx.compile(ASYNC).unwrap();
    let a = &p.functions.functions["A"];
    assert_eq!(a.async_invoke.max_retries, 1);
    assert_eq!(a.async_invoke.max_event_age, 120);
    assert_eq!(a.async_invoke.on_failure.as_deref(), Some("B"), "the ARN of FunctionName failures-fn is function B");
    assert_eq!(a.async_invoke.on_success, None, "an SQS destination has no local service");
    let e = &a.s3_events[0];
    assert_eq!((e.bucket.as_str(), e.prefix.as_deref(), e.suffix.as_deref()), ("uploads", Some("in/"), Some(".csv")));
    assert!(e.matches("uploads", "ObjectCreated:Put", "in/a.csv"));
    assert!(e.matches("uploads", "ObjectCreated:CompleteMultipartUpload", "in/b.csv"));
    assert!(!e.matches("uploads", "ObjectRemoved:Delete", "in/a.csv"), "a created-only rule");
    assert!(!e.matches("uploads", "ObjectCreated:Put", "out/a.csv"), "prefix");
    assert!(!e.matches("uploads", "ObjectCreated:Put", "in/a.json"), "suffix");
    assert!(!e.matches("other", "ObjectCreated:Put", "in/a.csv"), "bucket");
    let w = p.warnings.join("\n");
    assert!(w.contains("DeadLetterQueue (SQS) has no local service"), "{w}");
    assert!(w.contains("OnSuccess destination of type SQS has no local service"), "{w}");
    assert!(p.functions.functions["B"].async_invoke.is_default());
}

#[test]
fn bad_async_settings_and_foreign_buckets_are_located_errors() {
    let fx = Fixture::new();
    let e = fx.compile(&ASYNC.replace("MaximumRetryAttempts: 1", "MaximumRetryAttempts: 5")).unwrap_err();
    assert!(e.diagnostics()[0].path.ends_with("EventInvokeConfig.MaximumRetryAttempts"), "{e}");
    let e = fx.compile(&ASYNC.replace("!GetAtt B.Arn", "arn:aws:lambda:eu-west-1:123456789012:function:elsewhere")).unwrap_err();
    assert!(e.to_string().contains("`elsewhere` is not a function of this template"), "{e}");
    let e = fx.compile(&ASYNC.replace("!Ref Uploads", "some-other-bucket")).unwrap_err();
    assert!(e.to_string().contains("bucket `some-other-bucket`, which is not an AWS::S3::Bucket of this template"), "{e}");
    let e = fx.compile(&ASYNC.replace("[s3:ObjectCreated:*]", "[s3:ObjectRestore:Post]")).unwrap_err();
    assert!(e.to_string().contains("s3:ObjectRestore:Post"), "{e}");
}

#[test]
fn tables_of_both_kinds_and_buckets() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: gsi, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by-gsi
          KeySchema: [{AttributeName: gsi, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [total]}
      LocalSecondaryIndexes:
        - IndexName: by-sk
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      TableName: simple
      PrimaryKey: {Name: userId, Type: Number}
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      CorsConfiguration:
        CorsRules: [{AllowedMethods: [GET, PUT], AllowedOrigins: ['*'], MaxAge: 300}]
",
        )
        .unwrap();
    let t = &p.resources.tables["Orders"];
    assert_eq!(t.table_name, "Orders");
    assert_eq!(t.billing_mode, "PROVISIONED");
    assert_eq!(t.provisioned_throughput.unwrap().write_capacity_units, 3);
    assert_eq!(t.global_secondary_indexes[0].non_key_attributes, ["total"]);
    assert_eq!(t.global_secondary_indexes[0].provisioned_throughput.unwrap().read_capacity_units, 5);
    assert_eq!(t.local_secondary_indexes[0].projection_type, "KEYS_ONLY");
    assert_eq!((t.stream_view_type.as_deref(), t.ttl_attribute.as_deref()), (Some("NEW_AND_OLD_IMAGES"), Some("ttl")));
    let s = &p.resources.tables["Simple"];
    assert_eq!((s.table_name.as_str(), s.billing_mode.as_str()), ("simple", "PAY_PER_REQUEST"));
    assert_eq!((s.key_schema[0].attribute_name.as_str(), s.attribute_definitions[0].attribute_type.as_str()), ("userId", "N"));
    let b = &p.resources.buckets["Uploads"];
    assert_eq!((b.bucket_name.as_str(), b.versioning), ("uploads", true));
    assert_eq!(b.cors_rules[0].allowed_methods, ["GET", "PUT"]);
}

#[test]
fn table_definitions_are_checked_like_dynamodb_would() {
    let errors = Fixture::new().errors(
        "
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: unused, AttributeType: X}
        - {AttributeName: extra, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
  B:
    Type: AWS::S3::Bucket
    Properties: {BucketName: Bad_Name}
",
    );
    let msgs: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("AttributeType `X` must be S, N or B")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("`sk` is not in AttributeDefinitions")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("`extra` is defined but used by no key")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("PROVISIONED but has no ProvisionedThroughput")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("bucket name `Bad_Name` contains `B`")), "{msgs:?}");
}

#[test]
fn table_and_index_names_follow_dynamodb_rules() {
    let errors = Fixture::new().errors(
        "
Resources:
  Short:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: ab
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Spaced:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: fine-name
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: g, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - {IndexName: by g, KeySchema: [{AttributeName: g, KeyType: HASH}], Projection: {ProjectionType: ALL}}
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties: {TableName: 'bad!name'}
",
    );
    let got: Vec<(&str, Option<usize>)> = errors.iter().map(|d| (d.message.as_str(), d.line)).collect();
    assert_eq!(
        got,
        [
            ("table name `ab` is not valid in DynamoDB", Some(6)),
            ("index name `by g` is not valid in DynamoDB", Some(18)),
            ("table name `bad!name` is not valid in DynamoDB", Some(21)),
        ],
        "{errors:?}"
    );
}

#[test]
fn local_layers_reach_the_function_and_its_dockerfile() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Common:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/}
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref Common, arn:aws:lambda:us-east-1:1:layer:remote:3]
",
        )
        .unwrap();
    let f = &p.functions.functions["A"];
    assert_eq!(f.layers, [crate::model::Layer { name: "Common".into(), content_uri: "layer".into(), build: None }]);
    assert!(crate::dockerfile::render("A", f).contains("COPY layers/Common/ /opt/\n"));
    assert!(p.warnings.iter().any(|w| w.contains("layer:remote:3` is not a local")));
}

// === The error classes, each with file, line, path and hint ===

#[test]
fn yaml_syntax_errors_have_the_file_and_line() {
    let e = Fixture::new().errors("Resources:\n  A:\n    Type: [unclosed\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].message.starts_with("YAML syntax"), "{e:?}");
    assert!(e[0].file.ends_with("template.yaml"));
    assert!(e[0].line.is_some());
}

#[test]
fn missing_handler_is_located_and_hinted() {
    let e = Fixture::new().errors(
        "Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/a\n      Runtime: python3.11\n",
    );
    assert_eq!(e[0].path, "Resources.A.Properties.Handler");
    assert_eq!(e[0].line, Some(5));
    assert!(e[0].message.contains("missing `Handler`"));
    assert!(e[0].hint.as_deref().unwrap().contains("app.handler"));
}

#[test]
fn bad_paths_and_methods_are_located_at_the_event() {
    let e = Fixture::new().errors(
        "Resources:\n  Orders:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/a\n      Handler: app.handler\n      Runtime: python3.11\n      Events:\n        Get:\n          Type: Api\n          Properties: {Path: 'orders/{id}', Method: get}\n        Bad:\n          Type: Api\n          Properties: {Path: /x, Method: FETCH}\n",
    );
    assert_eq!(e[0].path, "Resources.Orders.Properties.Events.Get.Properties.Path");
    assert!(e[0].message.contains("must start with `/`"));
    assert_eq!(e[0].line, Some(11), "the line of the Path value");
    assert!(e[1].message.contains("`FETCH` is not an HTTP method"));
}

#[test]
fn duplicate_routes_name_both_sources() {
    let e = Fixture::new().errors(
        "
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a, Handler: app.handler, Runtime: python3.11, Events: {G: {Type: Api, Properties: {Path: '/items/{id}', Method: get}}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/b, Handler: app.handler, Runtime: python3.11, Events: {G: {Type: Api, Properties: {Path: '/items/{itemId}', Method: GET}}}}
",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.contains("route GET /items/{itemId} on API ServerlessRestApi is already declared by A.G"), "{e:?}");
    assert_eq!(e[0].path, "Resources.B.Properties.Events.G.Properties.Path");
}

#[test]
fn ref_to_nothing_and_circular_conditions_are_reported_together() {
    let e = Fixture::new().errors(
        "
Conditions:
  A: !Condition B
  B: !Condition A
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Environment: {Variables: {T: !Ref Missing}}
",
    );
    let all: Vec<String> = e.iter().map(|d| format!("{} | {}", d.path, d.message)).collect();
    assert!(all.iter().any(|m| m.contains("circular Conditions: A -> B -> A")), "{all:?}");
    assert!(all.iter().any(|m| m.starts_with("Resources.F.Properties.Environment.Variables.T.Ref | Ref to `Missing`")), "{all:?}");
}

#[test]
fn unknown_intrinsic_in_a_resource_is_an_error_with_its_line() {
    let e = Fixture::new().errors("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: !Magic src/a\n");
    assert_eq!(e[0].path, "Resources.A.Properties.CodeUri.Fn::Magic");
    assert_eq!(e[0].line, Some(5));
}

#[test]
fn a_function_whose_code_is_not_here_is_left_out_with_the_reason() {
    let fx = Fixture::new();
    let t = |uri: &str| {
        format!("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: {uri}, Handler: app.handler, Runtime: python3.11}}\n  B:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: src/b, Handler: app.handler, Runtime: python3.11}}\n")
    };
    let why = |uri: &str| {
        let p = fx.compile(&t(uri)).unwrap();
        assert_eq!(p.functions.functions.keys().collect::<Vec<_>>(), ["B"], "the rest of the template runs");
        p.left_out["A"].clone()
    };
    assert!(why("src/missing").contains("template.yaml:4: CodeUri `src/missing` does not exist"), "{}", why("src/missing"));
    // A directory that differs only in case (or a letter or two) is named.
    assert!(why("src/A").contains("did you mean `src/a`?"), "{}", why("src/A"));
    assert!(why("s3://bucket/code.zip").contains("in S3"));
    // A single source file is a CodeUri for Python and Node.js (packaged alone); a custom
    // runtime's CodeUri is a directory.
    let provided =
        "Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: bin/bootstrap, Runtime: provided.al2023}\n";
    assert!(fx.compile(provided).unwrap().left_out["A"].contains("is not a directory"));
}

#[test]
fn lambda_rules_reserved_env_timeout_memory_names() {
    let e = Fixture::new().errors(
        "
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: same, CodeUri: src/a, Handler: app.handler, Runtime: python3.11, Timeout: 901, MemorySize: 64, Environment: {Variables: {AWS_REGION: x, 1BAD: y}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: same, CodeUri: src/b, Handler: app.handler, Runtime: python3.11}
",
    );
    let all = e.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n");
    for needle in [
        "901 is out of range 1..=900",
        "64 is out of range 128..=10240",
        "`AWS_REGION` is reserved by Lambda",
        "`1BAD` is not a valid",
        "function name `same` is also used by A",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
}

#[test]
fn auth_references_must_exist() {
    let e = Fixture::new().errors(
        "
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: v1, Auth: {DefaultAuthorizer: Missing}}
  NoStage:
    Type: AWS::Serverless::Api
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Events:
        G: {Type: Api, Properties: {Path: /a, Method: get, RestApiId: !Ref Api, Auth: {Authorizer: Ghost}}}
        H: {Type: Api, Properties: {Path: /b, Method: get, RestApiId: !Ref NoStage}}
",
    );
    let all = e.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n");
    for needle in ["DefaultAuthorizer `Missing` is not one", "missing `StageName`", "authorizer `Ghost` is not defined"] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
    // A RestApiId naming nothing fails when intrinsics are resolved.
    let e = Fixture::new().errors(&FN.replace(
        "Runtime: python3.11",
        "Runtime: python3.11\n      Events: {H: {Type: Api, Properties: {Path: /b, Method: get, RestApiId: !Ref Elsewhere}}}",
    ));
    assert!(e[0].message.contains("Ref to `Elsewhere`"), "{e:?}");
}

#[test]
fn a_template_without_resources_or_not_a_mapping_fails_clearly() {
    let fx = Fixture::new();
    assert!(fx.errors("Description: x\n")[0].message.contains("no Resources"));
    assert!(fx.errors("- a\n- b\n")[0].message.contains("a template is a mapping"));
    assert!(fx.errors("Resources:\n  A:\n    Properties: {}\n")[0].message.contains("has no Type"));
}

#[test]
fn a_plain_cloudformation_lambda_function_runs_like_a_serverless_one() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  Inline:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: inline-fn
      Runtime: nodejs20.x
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/x
      Timeout: 7
      MemorySize: 256
      Environment: {Variables: {MODE: plain}}
      TracingConfig: {Mode: Active}
      Code:
        ZipFile: |
          exports.handler = async () => ({ statusCode: 200, body: 'inline' });
  Local:
    Type: AWS::Lambda::Function
    Properties: {Runtime: python3.13, Handler: app.handler, Code: src/a}
  InS3:
    Type: AWS::Lambda::Function
    Properties: {Runtime: python3.13, Handler: app.handler, Code: {S3Bucket: b, S3Key: k.zip}}
",
        )
        .unwrap();
    let f = &p.functions.functions["Inline"];
    assert_eq!((f.function_name.as_str(), f.timeout, f.memory_size), ("inline-fn", 7, 256));
    assert_eq!(f.base, BaseImage::Node { version: "20".into() });
    assert!(matches!(&f.code, Code::Inline { source } if source.contains("inline")), "{:?}", f.code);
    assert_eq!(f.environment.get("MODE").map(String::as_str), Some("plain"));
    assert_eq!(p.functions.functions["Local"].code, Code::Dir { path: "src/a".into() });
    assert!(p.left_out["InS3"].contains("S3"), "{:?}", p.left_out);
    assert!(!p.warnings.iter().any(|w| w.contains("not run locally") || w.contains("unknown property")), "{:?}", p.warnings);
}

#[test]
fn a_node_function_importing_the_aws_sdk_it_does_not_ship_is_named_at_build_time() {
    let fx = Fixture::new();
    let dir = fx.dir.path().join("node");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("app.mjs"), "import { handle } from './lib/db.mjs';\nexport const handler = handle;\n").unwrap();
    std::fs::write(
        dir.join("lib/db.mjs"),
        "import { DynamoDBClient } from \"@aws-sdk/client-dynamodb\";\nexport const handle = async () => 1;\n",
    )
    .unwrap();
    let t = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: node/, Handler: app.handler, Runtime: nodejs24.x}\n";
    let w = fx.compile(t).unwrap().warnings.join("\n");
    assert!(w.contains("node/lib/db.mjs imports @aws-sdk/client-dynamodb") && w.contains("npm install @aws-sdk/client-dynamodb"), "{w}");
    // Vendored: no warning.
    std::fs::create_dir_all(dir.join("node_modules/@aws-sdk/client-dynamodb")).unwrap();
    let w = fx.compile(t).unwrap().warnings.join("\n");
    assert!(!w.contains("@aws-sdk"), "{w}");
}

#[test]
fn templates_the_reference_translator_accepts_load_sam_generated_names_includes_and_duplicates() {
    // Measured on aws-samples/serverless-patterns: each of these stopped real templates.
    let fx = Fixture::new();
    std::fs::write(fx.dir.path().join("app.py"), "def handler(e, c): return 1\n").unwrap();
    std::fs::write(fx.dir.path().join("api.yaml"), "openapi: 3.0.1\ninfo: {title: t}\npaths: {}\n").unwrap();
    let p = fx
        .compile(
            "\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {AutoPublishAlias: live, Timeout: 3}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      DefinitionBody:
        Fn::Transform: {Name: AWS::Include, Parameters: {Location: ./api.yaml}}
      Auth: {DefaultAuthorizer: AWS_IAM}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.13
      FunctionUrlConfig: {AuthType: NONE}
      Timeout: 5
      Timeout: 7
      Environment:
        Variables:
          ALIAS: !Ref Fn.Alias
          ALIAS_SUB: !Sub '${Fn.Alias}'
          STAGE: !Ref Api.Stage
          IMPLICIT: !Ref ServerlessRestApi
          ROLE: !GetAtt FnRole.Arn
          HOST: !Select [2, !Split ['/', !GetAtt FnUrl.FunctionUrl]]
      Events:
        Get: {Type: Api, Properties: {Path: /x, Method: get}}
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let f = &p.functions.functions["Fn"];
    assert_eq!(f.timeout, 7, "a duplicate key keeps its last value, as CloudFormation does");
    let w = p.warnings.join("\n");
    assert!(w.contains("template.yaml:19: key `Timeout` is also given at line 18"), "{w}");
    assert!(w.contains("function Fn has no CodeUri; its code is the template's directory"), "{w}");
    assert_eq!(f.code, Code::Dir { path: ".".into() }, "no CodeUri: the template's directory, as SAM CLI takes it");
    let env = &f.environment;
    assert_eq!(env["ALIAS"], "arn:aws:lambda:us-east-1:123456789012:function:Fn:live", "{env:?}");
    assert_eq!(env["ALIAS_SUB"], env["ALIAS"]);
    assert_eq!((env["STAGE"].as_str(), env["IMPLICIT"].as_str()), ("dev", "ServerlessRestApi"));
    assert!(env["ROLE"].ends_with(":role/FnRole"), "{env:?}");
    assert_eq!(env["HOST"], "fn.lambda-url.us-east-1.on.aws");
    assert_eq!(p.routing.apis["Api"].authorizers.get("AWS_IAM"), Some(&Authorizer::Iam), "checked by the gateway (SigV4)");
}

#[test]
fn compiled_build_methods_rust_packages_and_makefiles_are_builds_not_missing_bootstraps() {
    let f = Fixture::new();
    for d in ["rs", "mk", "empty"] {
        std::fs::create_dir_all(f.dir.path().join(d)).unwrap();
    }
    std::fs::write(f.dir.path().join("rs/Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let text = "
Resources:
  Explicit:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties: {Binary: api, Features: [a, b]}
    Properties: {CodeUri: rs, Handler: bootstrap, Runtime: provided.al2023}
  Detected:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: rs, Handler: bootstrap, Runtime: provided.al2023}
  Made:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties: {CodeUri: mk, Handler: bootstrap, Runtime: provided.al2}
  MadePy:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties: {CodeUri: mk, Handler: app.handler, Runtime: python3.11}
  Unbuilt:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: empty, Handler: bootstrap, Runtime: provided.al2023}
";
    let p = f.compile(text).unwrap();
    let fns = &p.functions.functions;
    use crate::model::Build;
    assert_eq!(fns["Explicit"].build, Some(Build::Cargo { binary: Some("api".into()), features: vec!["a".into(), "b".into()] }));
    assert_eq!(fns["Detected"].build, Some(Build::Cargo { binary: None, features: vec![] }), "a Cargo package without bootstrap");
    assert_eq!(fns["Made"].build, Some(Build::Makefile));
    assert_eq!(fns["Made"].base, BaseImage::ProvidedGlibc, "a makefile's bootstrap may be a script or dynamically linked");
    assert_eq!(fns["Unbuilt"].build, None);
    let w = p.warnings.join("\n");
    assert!(w.contains("function Unbuilt: no `bootstrap`") && w.contains("BuildMethod: makefile"), "{w}");
    assert!(!w.contains("Explicit") && !w.contains("Detected") && !w.contains("Made"), "built functions need no code yet: {w}");
    assert_eq!(fns["MadePy"].build, Some(Build::Makefile));
}

#[test]
fn a_dynamically_linked_or_script_bootstrap_runs_on_the_glibc_base_and_a_foreign_one_is_named() {
    let f = Fixture::new();
    let put = |d: &str, bytes: &[u8]| {
        std::fs::create_dir_all(f.dir.path().join(d)).unwrap();
        std::fs::write(f.dir.path().join(d).join("bootstrap"), bytes).unwrap();
    };
    // This test binary is dynamically linked against glibc.
    put("dynamic", &std::fs::read(std::env::current_exe().unwrap()).unwrap());
    put("script", b"#!/bin/sh\nexec echo hi\n");
    let mut arm = vec![0u8; 64];
    arm[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    arm[18] = 0xb7;
    put("arm", &arm);
    let function = |id: &str, dir: &str| {
        format!("  {id}:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: {dir}, Handler: bootstrap, Runtime: provided.al2023}}\n")
    };
    let text = format!(
        "Resources:\n{}{}{}{}",
        function("Dynamic", "dynamic"),
        function("Script", "script"),
        function("Arm", "arm"),
        function("Static", "bin")
    );
    let p = f.compile(&text).unwrap();
    let base = |id: &str| p.functions.functions[id].base.clone();
    assert_eq!((base("Dynamic"), base("Script")), (BaseImage::ProvidedGlibc, BaseImage::ProvidedGlibc));
    assert_eq!(base("Arm"), BaseImage::Provided);
    let w = p.warnings.join("\n");
    assert!(w.contains("function Arm: `bootstrap` in arm is a program for aarch64") && w.contains("exec format error"), "{w}");
    assert!(!w.contains("Dynamic:") && !w.contains("function Dynamic"), "{w}");
}

#[test]
fn sam_build_artifacts_serve_functions_esb_cannot_build_and_only_those() {
    let f = Fixture::new();
    for d in ["go/cmd/fn", ".aws-sam/build/Go", ".aws-sam/build/Custom", ".aws-sam/build/Py", ".aws-sam/build/Other", "custom"] {
        std::fs::create_dir_all(f.dir.path().join(d)).unwrap();
    }
    std::fs::write(f.dir.path().join("go/go.mod"), "module example.com/fns\n").unwrap();
    std::fs::write(f.dir.path().join("go/cmd/fn/main.go"), "package main\n").unwrap();
    std::fs::write(f.dir.path().join(".aws-sam/build/Other/bootstrap"), std::fs::read(std::env::current_exe().unwrap()).unwrap()).unwrap();
    let text = "
Resources:
  Go:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: go1.x}
    Properties: {CodeUri: go/cmd/fn, Handler: bootstrap, Runtime: provided.al2023}
  Custom:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: custom, Handler: bootstrap, Runtime: provided.al2023}
  Py:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a, Handler: app.handler, Runtime: python3.11}
  Other:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: dotnet7}
    Properties: {CodeUri: custom, Handler: bootstrap, Runtime: provided.al2023}
  NoArtifacts:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: dotnet7}
    Properties: {CodeUri: custom, Handler: bootstrap, Runtime: provided.al2023}
  Legacy:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: go/cmd/fn, Handler: main, Runtime: go1.x}
";
    let p = f.compile(text).unwrap();
    let fns = &p.functions.functions;
    let code = |id: &str| match &fns[id].code {
        Code::Dir { path } => path.clone(),
        other => panic!("{other:?}"),
    };
    let go = Some(crate::model::Build::Go { module: "go".into(), package: "cmd/fn".into(), artifacts: Some(".aws-sam/build/Go".into()) });
    assert_eq!((code("Go"), &fns["Go"].build), ("go/cmd/fn".into(), &go), "esb builds Go itself; the artifacts are its fallback");
    assert_eq!(fns["Legacy"].build, Some(crate::model::Build::Go { module: "go".into(), package: "cmd/fn".into(), artifacts: None }));
    assert_eq!(fns["Legacy"].base, BaseImage::Provided, "go1.x runs as provided.al2023 does");
    assert_eq!(code("Other"), ".aws-sam/build/Other");
    assert_eq!(fns["Other"].base, BaseImage::ProvidedGlibc, "the artifact's bootstrap decides the base");
    assert_eq!(code("Custom"), ".aws-sam/build/Custom", "a custom runtime without bootstrap");
    assert_eq!(code("Py"), "src/a", "esb builds Python itself");
    assert_eq!(code("NoArtifacts"), "custom");
    let w = p.warnings.join("\n");
    assert!(
        w.contains("function Other: runs the `sam build` artifacts in .aws-sam/build/Other (esb does not run BuildMethod dotnet7)"),
        "{w}"
    );
    assert!(w.contains("function NoArtifacts: BuildMethod dotnet7 is not run by esb yet"), "{w}");
    assert!(w.contains("function Legacy: go1.x is retired by Lambda"), "{w}");
}

#[test]
fn java_code_is_a_maven_or_gradle_project_an_archive_or_classes_and_a_bad_handler_is_an_error() {
    let f = Fixture::new();
    let root = f.dir.path();
    for (dir, file) in [("mvn", "pom.xml"), ("gradle", "build.gradle.kts"), ("classes/example", "App.class"), ("empty", "README")] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(file), "x").unwrap();
    }
    std::fs::write(root.join("app.jar"), "PK").unwrap();
    std::fs::create_dir_all(root.join(".aws-sam/build/Gradle")).unwrap();
    let function = |id: &str, code: &str, handler: &str| {
        format!(
            "  {id}:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: {code}, Handler: '{handler}', Runtime: java21}}\n"
        )
    };
    let text = format!(
        "Resources:\n{}{}{}{}{}",
        function("Maven", "mvn", "example.App::handleRequest"),
        function("Gradle", "gradle", "example.App"),
        function("Classes", "classes", "example.App::run"),
        function("Jar", "app.jar", "example.App"),
        function("Empty", "empty", "example.App"),
    ) + &function("Assembled", "mvn/target/sourceCode.zip", "example.App");
    let p = f.compile(&text).unwrap();
    let build = |id: &str| p.functions.functions[id].build.clone();
    assert_eq!(build("Maven"), Some(crate::model::Build::Maven { artifacts: None, output: None }));
    assert_eq!(build("Gradle"), Some(crate::model::Build::Gradle { artifacts: Some(".aws-sam/build/Gradle".into()), output: None }));
    assert_eq!((build("Classes"), build("Jar")), (None, None));
    assert_eq!(p.functions.functions["Jar"].code, Code::Dir { path: "app.jar".into() }, "a jar is the code as it is");
    assert_eq!(p.functions.functions["Maven"].base, BaseImage::Java { version: "21".into() });
    let w = p.warnings.join("\n");
    assert!(w.contains("function Empty: empty has no .class files or jars"), "{w}");
    assert!(!w.contains("function Classes"), "{w}");
    let assembled = &p.functions.functions["Assembled"];
    assert_eq!(assembled.code, Code::Dir { path: "mvn".into() }, "the project that makes the zip is the code");
    assert_eq!(assembled.build, Some(crate::model::Build::Maven { artifacts: None, output: Some("target/sourceCode.zip".into()) }));
    assert!(w.contains("CodeUri mvn/target/sourceCode.zip is not built yet; esb builds it with Maven"), "{w}");

    let errors = f.errors(&format!("Resources:\n{}", function("Bad", "classes", "example/App.handle")));
    assert!(errors[0].message.contains("`example/App.handle` is not a Java handler"), "{errors:?}");
}

#[test]
fn image_functions_take_their_runtime_from_the_dockerfiles_lambda_base() {
    let f = Fixture::new();
    let root = f.dir.path();
    std::fs::create_dir_all(root.join("img")).unwrap();
    std::fs::write(root.join("img/Dockerfile"), "FROM public.ecr.aws/lambda/nodejs:22\nCOPY . .\nCMD [\"app.handler\"]\n").unwrap();
    std::fs::write(root.join("img/Dotnet.Dockerfile"), "FROM public.ecr.aws/lambda/dotnet:8\n").unwrap();
    let p = f
        .compile(
            "
Resources:
  Img:
    Type: AWS::Serverless::Function
    Metadata: {DockerContext: ./img, Dockerfile: Dockerfile, DockerBuildArgs: {A: b}, DockerBuildTarget: final}
    Properties: {PackageType: Image, ImageConfig: {WorkingDirectory: /w}}
  Dotnet:
    Type: AWS::Serverless::Function
    Metadata: {DockerContext: ./img, Dockerfile: Dotnet.Dockerfile}
    Properties: {PackageType: Image}
  Uri:
    Type: AWS::Serverless::Function
    Properties: {PackageType: Image, ImageUri: 'mine:1', ImageConfig: {Command: [x.y]}}
",
        )
        .unwrap();
    let img = &p.functions.functions["Img"];
    assert_eq!(
        (img.runtime.as_str(), &img.base, img.handler.as_str()),
        ("nodejs22.x", &BaseImage::Node { version: "24".into() }, "app.handler")
    );
    let Code::Image(code) = &img.code else { panic!("{:?}", img.code) };
    assert_eq!(
        (code.context.as_deref(), code.target.as_deref(), code.working_directory.as_deref()),
        (Some("img"), Some("final"), Some("/w"))
    );
    assert_eq!(code.build_args.get("A").map(String::as_str), Some("b"));
    let uri = &p.functions.functions["Uri"];
    assert!(matches!(&uri.code, Code::Image(c) if c.uri.as_deref() == Some("mine:1")), "{:?}", uri.code);
    assert_eq!(uri.handler, "x.y");
    assert!(p.left_out["Dotnet"].contains("FROM public.ecr.aws/lambda/dotnet:8"), "{:?}", p.left_out);

    let errors = f.errors("Resources:\n  Bare:\n    Type: AWS::Serverless::Function\n    Properties: {PackageType: Image}\n");
    assert!(errors[0].message.contains("neither Metadata to build its image nor an ImageUri"), "{errors:?}");
}

#[test]
fn a_single_source_file_is_a_codeuri_and_its_handler_must_name_it() {
    let f = Fixture::new();
    let p = f
        .compile(
            "
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/a/app.py, Handler: app.handler, Runtime: python3.11}
  Other:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/b/app.py, Handler: index.handler, Runtime: python3.11}
",
        )
        .unwrap();
    assert_eq!(p.functions.functions["One"].code, Code::Dir { path: "src/a/app.py".into() });
    let w = p.warnings.join("\n");
    assert!(!w.contains("function One"), "{w}");
    assert!(w.contains("function Other: CodeUri src/b/app.py is one file, and Handler `index.handler` names module `index`"), "{w}");
}

#[test]
fn an_aws_iam_route_on_a_rest_api_needs_no_declaration() {
    let p = Fixture::new()
        .compile(
            "
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/a
      Handler: app.handler
      Runtime: python3.11
      Events: {Signed: {Type: Api, Properties: {Path: /signed, Method: get, Auth: {Authorizer: AWS_IAM}}}}
",
        )
        .unwrap();
    assert_eq!(p.routing.routes[0].authorizer.as_deref(), Some("AWS_IAM"));
    assert_eq!(p.routing.apis["ServerlessRestApi"].authorizers.get("AWS_IAM"), Some(&Authorizer::Iam));
}

#[test]
fn for_each_loops_expand_into_resources_from_a_list_parameter() {
    let p = Fixture::new()
        .compile(
            "
Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]
Parameters:
  Names: {Type: CommaDelimitedList, Default: 'a,b'}
Resources:
  Fn::ForEach::Functions:
    - Name
    - !Ref Names
    - 'Fn${Name}':
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: !Sub 'src/${Name}'
          Handler: app.handler
          Runtime: python3.11
          Environment: {Variables: {CONFIG: !ToJsonString {name: !Ref Name, size: !Length [1, 2]}}}
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.functions.functions.keys().collect::<Vec<_>>(), ["Fna", "Fnb"]);
    assert_eq!(p.functions.functions["Fnb"].code, Code::Dir { path: "src/b".into() });
    assert_eq!(p.functions.functions["Fna"].environment["CONFIG"], r#"{"name":"a","size":2}"#);
}
