//! `PackageType: Image` functions: what their image is built from, and which runtime it is.
//!
//! Owns: reading `Metadata` (`DockerContext`, `Dockerfile`, `DockerBuildArgs`,
//! `DockerBuildTarget`), `ImageConfig` and `ImageUri`, and the Dockerfile's `FROM` and `CMD`
//! lines: a `FROM public.ecr.aws/lambda/<runtime>:<tag>` (or `amazon/aws-lambda-<runtime>`)
//! names the runtime, so the image can be built on esb's base for it (see the images crate).
//! Must not: build anything, or rewrite the Dockerfile (the images crate does, in the context).

use super::props::Props;
use crate::error::Sink;
use crate::model::{BaseImage, Code, ImageCode};
use crate::runtimes::{self, Lookup};
use crate::yaml::{Node, Value};
use std::path::Path;

/// An image function's runtime id (`python3.14`, or `image` when its base is not Lambda's), base,
/// handler (the command's first word) and code.
pub(crate) struct ImageFunction {
    pub runtime: String,
    pub base: BaseImage,
    pub handler: String,
    pub code: Code,
}

/// Reads an image function (see the module doc). `None` after an error or a leave-out.
pub(crate) fn compile(id: &str, props: &Props, metadata: Option<&Node>, root: &Path, sink: &mut Sink) -> Option<ImageFunction> {
    let config = props.map("ImageConfig", sink);
    let config_path = props.at("ImageConfig");
    let config_props = config.map(|n| Props::new(n, &config_path));
    let list = |key: &str, sink: &mut Sink| config_props.as_ref().map(|p| p.strings(key, sink)).unwrap_or_default();
    let command = list("Command", sink);
    let entry_point = list("EntryPoint", sink);
    let working_directory = config_props.as_ref().and_then(|p| p.string("WorkingDirectory", sink));
    let text = |key: &str| metadata.and_then(|m| m.get(key)).and_then(|n| n.as_scalar_str());
    let mut code = ImageCode {
        context: None,
        dockerfile: String::new(),
        build_args: Default::default(),
        target: text("DockerBuildTarget"),
        uri: None,
        lambda_base: None,
        command: command.clone(),
        entry_point,
        working_directory,
    };
    let built = metadata.is_some_and(|m| m.get("DockerContext").is_some() || m.get("Dockerfile").is_some());
    let (runtime, base, cmd) = if built {
        let context = text("DockerContext").unwrap_or_else(|| ".".into());
        let dockerfile = text("Dockerfile").unwrap_or_else(|| "Dockerfile".into());
        let line = metadata.map_or(props.node.line, |m| m.line);
        let path = root.join(&context).join(&dockerfile);
        let Ok(source) = std::fs::read_to_string(&path) else {
            sink.error(
                Some(line),
                &format!("Resources.{id}.Metadata"),
                format!("the Dockerfile of image function {id} is not there ({})", path.display()),
                Some("Metadata.DockerContext is a directory relative to the template, Metadata.Dockerfile a file in it"),
            );
            return None;
        };
        if let Some(Value::Map(args)) = metadata.and_then(|m| m.get("DockerBuildArgs")).map(|n| &n.value) {
            for (k, v) in args {
                code.build_args.insert(k.clone(), v.as_scalar_str().unwrap_or_default());
            }
        }
        let parsed = parse(&source);
        code.context = Some(super::functions::normalize_rel(&context));
        code.dockerfile = dockerfile;
        match parsed.lambda_base.as_deref().map(|b| (b, runtime_of(b))) {
            Some((from, Some(runtime))) => match runtimes::lookup(&runtime) {
                Lookup::Runs(entry) => {
                    code.lambda_base = Some(from.to_string());
                    // A custom runtime's image runs RUN steps and a bootstrap that is often a
                    // script: the glibc base has the shell both need.
                    let base = if entry.base() == BaseImage::Provided { BaseImage::ProvidedGlibc } else { entry.base() };
                    (runtime, base, parsed.cmd)
                }
                Lookup::NotYet(why) => {
                    sink.left_out(id, format!("its image starts FROM {from}: {why}"));
                    return None;
                }
                Lookup::Unknown(_) => {
                    sink.left_out(id, format!("its image starts FROM {from}, a Lambda base image esb has no runtime for"));
                    return None;
                }
            },
            // Not a Lambda base: built as it is, so its FROM must be on the engine.
            _ => ("image".to_string(), BaseImage::Provided, parsed.cmd),
        }
    } else if let Some(uri) = props.string("ImageUri", sink) {
        code.uri = Some(uri);
        ("image".to_string(), BaseImage::Provided, vec![])
    } else {
        sink.error(
            Some(props.node.line),
            &props.at("PackageType"),
            format!("image function {id} has neither Metadata to build its image nor an ImageUri"),
            Some("add `Metadata: {DockerContext: ./src, Dockerfile: Dockerfile}` to the resource, as `sam build` needs too"),
        );
        return None;
    };
    let handler = command.first().or(cmd.first()).cloned().unwrap_or_default();
    Some(ImageFunction { runtime, base, handler, code: Code::Image(code) })
}

/// What esb reads from a Dockerfile.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Dockerfile {
    /// The last `FROM` that is an AWS Lambda base image.
    pub lambda_base: Option<String>,
    /// The last `CMD`, as words.
    pub cmd: Vec<String>,
}

/// Reads the `FROM` and `CMD` lines of a Dockerfile (comments skipped, `\` continuations joined).
pub(crate) fn parse(text: &str) -> Dockerfile {
    let mut out = Dockerfile::default();
    for line in instructions(text) {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line.as_str(), ""));
        match word.to_ascii_uppercase().as_str() {
            "FROM" => {
                if let Some(image) = from_image(rest).filter(|i| is_lambda_base(i)) {
                    out.lambda_base = Some(image.to_string());
                }
            }
            "CMD" => out.cmd = words(rest.trim()),
            _ => {}
        }
    }
    out
}

/// A Dockerfile's instructions, one per entry.
pub fn instructions(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if current.is_empty() && (line.starts_with('#') || line.is_empty()) {
            continue;
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The image of a `FROM` instruction's arguments (`--platform=...` skipped, `AS name` dropped).
pub fn from_image(args: &str) -> Option<&str> {
    args.split_whitespace().find(|w| !w.starts_with("--"))
}

/// `CMD ["a", "b"]` (exec form) or `CMD a b` (shell form) as words.
fn words(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(rest) {
            return list;
        }
    }
    rest.split_whitespace().map(str::to_string).collect()
}

/// An AWS Lambda base image reference (`public.ecr.aws/lambda/python:3.14`,
/// `amazon/aws-lambda-nodejs:24`).
pub fn is_lambda_base(image: &str) -> bool {
    lambda_name(image).is_some()
}

fn lambda_name(image: &str) -> Option<(&str, &str)> {
    let rest = image.strip_prefix("public.ecr.aws/lambda/").or_else(|| image.strip_prefix("amazon/aws-lambda-"))?;
    let rest = rest.split('@').next().unwrap_or(rest);
    Some(rest.split_once(':').unwrap_or((rest, "latest")))
}

/// The Lambda runtime id of a Lambda base image (`python:3.14` -> `python3.14`, `nodejs:24` ->
/// `nodejs24.x`, `java:21` -> `java21`, `provided:al2023` -> `provided.al2023`); `latest` is the
/// newest esb runs. Architecture and date suffixes of tags (`3.13-arm64`, `3.12.2024.01.05`) are
/// dropped.
pub fn runtime_of(image: &str) -> Option<String> {
    let (name, tag) = lambda_name(image)?;
    let version = |tag: &str, dots: usize| -> String {
        let head = tag.split('-').next().unwrap_or(tag);
        head.split('.').take(dots).collect::<Vec<_>>().join(".")
    };
    let newest = |family: &str| runtimes::CATALOG.iter().rev().find(|e| e.id.starts_with(family)).map(|e| e.id.to_string());
    match name {
        "python" if tag == "latest" => newest("python"),
        "python" => Some(format!("python{}", version(tag, 2))),
        "nodejs" if tag == "latest" => newest("nodejs"),
        "nodejs" => Some(format!("nodejs{}.x", version(tag, 1))),
        "java" if tag == "latest" => newest("java"),
        "java" if tag.starts_with("8.al2") => Some("java8.al2".into()),
        "java" => Some(format!("java{}", version(tag, 1))),
        "provided" if tag == "latest" => Some("provided.al2023".into()),
        "provided" => Some(format!("provided.{}", tag.split('-').next().unwrap_or(tag))),
        other => Some(format!("{other}{}", version(tag, 2))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_base_images_name_their_runtime() {
        assert_eq!(runtime_of("public.ecr.aws/lambda/python:3.14").as_deref(), Some("python3.14"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/python:3.12.2024.01.05-x86_64").as_deref(), Some("python3.12"));
        assert_eq!(runtime_of("amazon/aws-lambda-nodejs:24").as_deref(), Some("nodejs24.x"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/nodejs:20-arm64").as_deref(), Some("nodejs20.x"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/java:21").as_deref(), Some("java21"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/java:8.al2").as_deref(), Some("java8.al2"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/provided:al2023").as_deref(), Some("provided.al2023"));
        assert_eq!(runtime_of("public.ecr.aws/lambda/python").as_deref(), Some("python3.14"), "latest is the newest");
        assert_eq!(runtime_of("python:3.12-slim"), None, "not a Lambda base");
    }

    #[test]
    fn a_dockerfile_gives_its_lambda_base_and_command() {
        let text = "# build stage\nFROM --platform=linux/amd64 golang:1.24 AS build\nRUN go build \\\n  -o /out .\nFROM public.ecr.aws/lambda/python:3.13 AS final\nCOPY app.py ${LAMBDA_TASK_ROOT}/\nCMD [ \"app.lambda_handler\" ]\n";
        let d = parse(text);
        assert_eq!(d.lambda_base.as_deref(), Some("public.ecr.aws/lambda/python:3.13"));
        assert_eq!(d.cmd, ["app.lambda_handler"]);
        assert_eq!(instructions(text)[1], "RUN go build  -o /out .");
        assert_eq!(parse("FROM x\nCMD app.handler\n").cmd, ["app.handler"]);
    }
}
