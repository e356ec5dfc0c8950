//! Benchmark: config generation for a synthetic template with 1,000 functions and 1,000 routes.
//!
//! Run: `cargo bench -p esb-config --bench generate`. Prints absolute medians and ratios against a
//! baseline measured in the same run: parsing the same template's YAML (the least any compile must
//! do). Also prints one JSON line for machines. Target (issue 3): compile + render under 1 s.

use esb_config::{compile, generate, yaml, Settings};
use std::time::{Duration, Instant};

const FUNCTIONS: usize = 1000;
const RUNS: usize = 15;

fn template(functions: usize) -> String {
    let mut t = String::from(
        "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}\n\
         Conditions:\n  IsProd: !Equals [!Ref Stage, prod]\n\
         Globals:\n  Function:\n    Runtime: python3.11\n    Timeout: 10\n    Environment:\n      Variables:\n        STAGE: !Ref Stage\n        LEVEL: !If [IsProd, INFO, DEBUG]\n\
         Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n      KeySchema: [{AttributeName: id, KeyType: HASH}]\n",
    );
    for i in 0..functions {
        t.push_str(&format!(
            "  Fn{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Sub '${{AWS::StackName}}-fn{i}'\n      CodeUri: src\n      Handler: app.handler\n      Environment:\n        Variables:\n          TABLE: !Ref Table\n          ARN: !GetAtt Table.Arn\n      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /r{}/items{i}/{{id}}\n            Method: get\n",
            i % 10
        ));
    }
    t
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    let samples = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(dir.path().join("src/app.py"), "def handler(e, c): pass\n").expect("write");
    let path = dir.path().join("template.yaml");
    let settings = Settings { project: "bench".into(), tag: "latest".into(), region: "us-east-1".into(), parameters: Default::default() };
    // `cargo test --all-targets` runs this too, in debug and without `--bench`: check that the
    // benchmark works on a small template and leave the timing to `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        let project = compile(&path, &template(20), &settings).expect("synthetic template compiles");
        assert_eq!((project.functions.functions.len(), project.routing.routes.len()), (20, 20));
        generate::render(&project).expect("render");
        println!("test generate_bench_smoke ... ok (run `cargo bench -p esb-config --bench generate` for timings)");
        return;
    }
    let text = template(FUNCTIONS);

    let project = compile(&path, &text, &settings).expect("synthetic template compiles");
    assert_eq!((project.functions.functions.len(), project.routing.routes.len()), (FUNCTIONS, FUNCTIONS));
    let files = generate::render(&project).expect("render");

    let parse = time(|| yaml::parse(&text).expect("parse"));
    let compiled = time(|| compile(&path, &text, &settings).expect("compile"));
    let rendered = time(|| generate::render(&project).expect("render"));
    let total = time(|| generate::render(&compile(&path, &text, &settings).expect("compile")).expect("render"));
    let first_write = time(|| {
        let out = tempfile::tempdir_in(dir.path()).expect("out dir");
        generate::write(out.path(), &files).expect("write");
        out
    });
    let out = dir.path().join("out");
    generate::write(&out, &files).expect("write");
    let unchanged = time(|| generate::write(&out, &files).expect("write"));

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "esb-config generate: {FUNCTIONS} functions, {FUNCTIONS} routes, template {} KiB, {} files; median of {RUNS}",
        text.len() / 1024,
        files.len()
    );
    println!("{:<34} {:>10} {:>8}", "step", "ms", "x parse");
    for (name, d) in [
        ("baseline: YAML parse only", parse),
        ("compile (params..routes)", compiled),
        ("render files", rendered),
        ("compile + render", total),
        ("write, first time", first_write),
        ("write, nothing changed", unchanged),
    ] {
        println!("{name:<34} {:>10.1} {:>8.2}", ms(d), ms(d) / ms(parse));
    }
    println!(
        "{{\"bench\":\"config_generate\",\"functions\":{FUNCTIONS},\"parse_ms\":{:.2},\"compile_ms\":{:.2},\"render_ms\":{:.2},\"total_ms\":{:.2},\"first_write_ms\":{:.2},\"unchanged_write_ms\":{:.2},\"total_vs_parse\":{:.2}}}",
        ms(parse), ms(compiled), ms(rendered), ms(total), ms(first_write), ms(unchanged), ms(total) / ms(parse)
    );
}
