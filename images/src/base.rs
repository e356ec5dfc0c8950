//! Base images: `esb/base-provided` (scratch + RIE), `esb/base-python:<version>` (Debian + CPython +
//! awslambdaric + RIE), `esb/base-nodejs:<major>` (Debian + Node.js + esb's runtime client + RIE),
//! `esb/base-provided-glibc` (Debian + RIE) and `esb/base-java:<version>` (Debian, a JRE, Jackson,
//! esb's Java runtime client and RIE), the Debian ones on their suite's shared root filesystem
//! (see `rootfs`).
//!
//! Owns: choosing the base for a runtime (an official AWS base image already present locally wins,
//! since it matches Lambda exactly), and building esb's own when needed: once, labelled with a hash
//! of its inputs (recipe + RIE binary), so an unchanged base is never rebuilt and a changed recipe
//! always is. Both keep the AWS base images' contract: code in `/var/task` (`LAMBDA_TASK_ROOT`),
//! layers in `/opt`, the handler as CMD (RIE sets `_HANDLER` from it).
//! Must not: build function images (see `function`).

use crate::context::Context;
use crate::events::{Event, Events, Status};
use crate::{cache, rie, rootfs, ImageError};
use esb_config::model::BaseImage;
use esb_runtime::labels::{key, Role};
use esb_runtime::{BuildRequest, Labels, Runtime};
use std::time::Instant;

/// The RIE inside every esb base image. Its entry point pins `--log-level info`: RIE otherwise takes
/// its level from `LOG_LEVEL`, a variable functions commonly set for themselves.
const RIE_PATH: &str = "/usr/local/bin/aws-lambda-rie";
/// The Python launcher: awslambdaric plus the trace id RIE drops (see the file's docstring).
const PYTHON_LAUNCHER: &str = include_str!("../assets/esb_bootstrap.py");
/// esb's Node.js runtime interface client (see the file's header).
const NODE_CLIENT: &str = include_str!("../assets/esb_runtime.mjs");

/// A base image ready for function builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Reference passed as `BASE_IMAGE`.
    pub reference: String,
    /// Image id (part of every function image's content hash).
    pub id: String,
    /// True for an official AWS image found locally.
    pub official: bool,
}

/// The official AWS base image for a runtime, e.g. `python3.12` -> `public.ecr.aws/lambda/python:3.12`.
pub fn official_reference(runtime: &str) -> Option<String> {
    if let Some(v) = runtime.strip_prefix("python") {
        return Some(format!("public.ecr.aws/lambda/python:{v}"));
    }
    if let Some(v) = runtime.strip_prefix("nodejs").and_then(|v| v.strip_suffix(".x")) {
        return Some(format!("public.ecr.aws/lambda/nodejs:{v}"));
    }
    if let Some(v) = runtime.strip_prefix("java") {
        return Some(format!("public.ecr.aws/lambda/java:{v}"));
    }
    match runtime {
        "provided.al2023" => Some("public.ecr.aws/lambda/provided:al2023".into()),
        "provided.al2" => Some("public.ecr.aws/lambda/provided:al2".into()),
        _ => None,
    }
}

const PROVIDED_DOCKERFILE: &str = "\
FROM scratch
COPY rootfs/ /
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime PATH=/usr/local/bin:/var/task
WORKDIR /var/task
ENTRYPOINT [\"/usr/local/bin/aws-lambda-rie\", \"--log-level\", \"info\", \"/var/task/bootstrap\"]
";

fn python_dockerfile(rootfs_image: &str, v: &str) -> String {
    format!(
        "FROM {rootfs_image}\n\
         COPY aws-lambda-rie {RIE_PATH}\n\
         COPY esb_bootstrap.py /var/runtime/esb_bootstrap.py\n\
         ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 \\\n    \
         PYTHONPATH=/var/task:/opt/python/lib/python{v}/site-packages:/opt/python:/var/runtime\n\
         WORKDIR /var/task\n\
         ENTRYPOINT [\"{RIE_PATH}\", \"--log-level\", \"info\", \"/usr/bin/python{v}\", \"-m\", \"esb_bootstrap\"]\n"
    )
}

/// Layers' modules where Lambda's Node.js runtimes look: `/opt/nodejs/node<major>/node_modules`,
/// then `/opt/nodejs/node_modules` (NODE_PATH, for CommonJS `require`, as in Lambda).
fn node_dockerfile(rootfs_image: &str, v: &str) -> String {
    format!(
        "FROM {rootfs_image}\n\
         COPY aws-lambda-rie {RIE_PATH}\n\
         COPY esb_runtime.mjs /var/runtime/esb_runtime.mjs\n\
         ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 \\\n    \
         NODE_PATH=/opt/nodejs/node{v}/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task\n\
         WORKDIR /var/task\n\
         ENTRYPOINT [\"{RIE_PATH}\", \"--log-level\", \"info\", \"/usr/bin/node\", \"/var/runtime/esb_runtime.mjs\"]\n"
    )
}

/// A `bootstrap` dynamically linked against glibc runs on the suite's root filesystem as it is:
/// the provided base's contract (`/var/task/bootstrap` under RIE) with a C library.
fn provided_glibc_dockerfile(rootfs_image: &str) -> String {
    format!(
        "FROM {rootfs_image}\n\
         COPY aws-lambda-rie {RIE_PATH}\n\
         ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8\n\
         WORKDIR /var/task\n\
         ENTRYPOINT [\"{RIE_PATH}\", \"--log-level\", \"info\", \"/var/task/bootstrap\"]\n"
    )
}

/// A Debian-based base: the root filesystem it starts from, its Dockerfile, the files its
/// Dockerfile copies besides RIE (runtime clients: path in the context, bytes), and for Java the
/// key of esb's compiled Java client (compiled only when the base is built: a base loaded from a
/// tarball at an air-gapped site needs no javac and no mirror).
struct DebianBase {
    suite: &'static esb_config::runtimes::Suite,
    flavour: rootfs::Flavour,
    dockerfile: String,
    files: Vec<(String, Vec<u8>)>,
    java_client: Option<String>,
}

/// The Dockerfile and files of a Debian-based base, with the root filesystem it comes from.
fn debian_base(base: &BaseImage) -> Option<DebianBase> {
    let suite = esb_config::runtimes::suite_of(base)?;
    let flavour = if matches!(base, BaseImage::Java { .. }) { rootfs::Flavour::Java } else { rootfs::Flavour::Interpreters };
    let rootfs_image = rootfs::image_name(suite, flavour);
    let (dockerfile, files) = match base {
        BaseImage::Python { version } => {
            (python_dockerfile(&rootfs_image, version), vec![("esb_bootstrap.py".to_string(), PYTHON_LAUNCHER.as_bytes().to_vec())])
        }
        BaseImage::Node { version } => {
            (node_dockerfile(&rootfs_image, version), vec![("esb_runtime.mjs".to_string(), NODE_CLIENT.as_bytes().to_vec())])
        }
        BaseImage::Java { version } => (crate::java::dockerfile(&rootfs_image, version, RIE_PATH), vec![]),
        BaseImage::ProvidedGlibc => (provided_glibc_dockerfile(&rootfs_image), vec![]),
        BaseImage::Provided => return None,
    };
    let java_client = matches!(base, BaseImage::Java { .. }).then(crate::java::client_key);
    Some(DebianBase { suite, flavour, dockerfile, files, java_client })
}

/// Makes sure the base for `base`/`runtime` exists; builds esb's own if needed.
pub async fn ensure(rt: &dyn Runtime, base: &BaseImage, runtime: &str, no_cache: bool, events: &Events<'_>) -> Result<Base, ImageError> {
    if let Some(official) = official_reference(runtime) {
        if let Some(info) = rt.image(&official).await? {
            return Ok(Base { reference: official, id: info.id, official: true });
        }
    }
    let reference = base.image();
    let rie = rie::ensure()?;
    let rie_hash = cache::sha256_file(&rie)?;
    let debian = debian_base(base);
    if debian.is_none() && *base != BaseImage::Provided {
        return Err(ImageError::Tool {
            tool: "esb build".into(),
            reason: format!("no Debian suite carries the interpreter of {}", base.image()),
            output: None,
        });
    }
    let inputs = match &debian {
        None => cache::sha256(format!("{PROVIDED_DOCKERFILE}|{rie_hash}").as_bytes()),
        Some(d) => {
            let mut files: Vec<String> = d.files.iter().map(|(name, bytes)| format!("{name}={}", cache::sha256(bytes))).collect();
            files.extend(d.java_client.iter().map(|key| format!("java-client={key}")));
            cache::sha256(format!("{}|{}|{rie_hash}", d.dockerfile, files.join(",")).as_bytes())
        }
    }[..16]
        .to_string();
    if !no_cache {
        if let Some(info) = rt.image(&reference).await? {
            if info.labels.get(key::CONTENT_HASH) == Some(inputs.as_str()) {
                events(Event::Done { image: &reference, status: Status::Cached, seconds: 0.0 });
                return Ok(Base { reference, id: info.id, official: false });
            }
        }
    }
    let started = Instant::now();
    events(Event::Start { image: &reference, detail: "base image" });
    let rie_bytes = std::fs::read(&rie).map_err(ImageError::io("reading", &rie))?;
    let labels = crate::function::label_line(&Labels::new().role(Role::Base).with(key::CONTENT_HASH, inputs));
    let mut ctx = Context::new();
    match debian {
        None => {
            ctx.file("Dockerfile", format!("{PROVIDED_DOCKERFILE}{labels}").as_bytes(), 0o644)?;
            for (dir, mode) in [
                ("rootfs", 0o755),
                ("rootfs/tmp", 0o1777),
                ("rootfs/var", 0o755),
                ("rootfs/var/task", 0o755),
                ("rootfs/var/runtime", 0o755),
                ("rootfs/opt", 0o755),
            ] {
                ctx.dir(dir, mode)?;
            }
            ctx.dir("rootfs/usr", 0o755)?;
            ctx.dir("rootfs/usr/local", 0o755)?;
            ctx.dir("rootfs/usr/local/bin", 0o755)?;
            ctx.file(&format!("rootfs{RIE_PATH}"), &rie_bytes, 0o755)?;
        }
        Some(d) => {
            let rootfs_image = rootfs::image_name(d.suite, d.flavour);
            if rt.image(&rootfs_image).await?.is_none() {
                let tarball = rootfs::ensure(d.suite, d.flavour, &|line| events(Event::Line { image: &reference, text: line }))?;
                events(Event::Line { image: &reference, text: "importing the root filesystem" });
                rt.import_rootfs(&tarball, &rootfs_image).await?;
            }
            ctx.file("Dockerfile", format!("{}{labels}", d.dockerfile).as_bytes(), 0o644)?;
            ctx.file("aws-lambda-rie", &rie_bytes, 0o755)?;
            for (name, bytes) in &d.files {
                ctx.file(name, bytes, 0o644)?;
            }
            if d.java_client.is_some() {
                let classes = crate::java::client_classes(&|line| events(Event::Line { image: &reference, text: line }))?;
                ctx.tree("java", &classes)?;
            }
        }
    }
    let request = BuildRequest { context: ctx.finish()?.into(), tags: vec![reference.clone()], no_cache, ..Default::default() };
    let id = rt.build_image(request, &|line| events(Event::Line { image: &reference, text: line })).await.map_err(|e| match e {
        esb_runtime::RuntimeError::BuildFailed { message, output } => ImageError::Build { function: reference.clone(), message, output },
        other => other.into(),
    })?;
    events(Event::Done { image: &reference, status: Status::Built, seconds: started.elapsed().as_secs_f64() });
    Ok(Base { reference, id, official: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_images_are_named_like_aws_names_them() {
        assert_eq!(official_reference("python3.12").as_deref(), Some("public.ecr.aws/lambda/python:3.12"));
        assert_eq!(official_reference("provided.al2023").as_deref(), Some("public.ecr.aws/lambda/provided:al2023"));
        assert_eq!(official_reference("nodejs24.x").as_deref(), Some("public.ecr.aws/lambda/nodejs:24"));
        assert_eq!(official_reference("provided"), None);
    }

    #[tokio::test]
    async fn a_local_official_image_is_preferred_without_building() {
        let rt = esb_runtime::fake::FakeRuntime::new();
        let id = rt.add_image("public.ecr.aws/lambda/python:3.12", Labels::default());
        let base = ensure(&rt, &BaseImage::Python { version: "3.11".into() }, "python3.12", false, &|_| {}).await.unwrap();
        assert_eq!(base, Base { reference: "public.ecr.aws/lambda/python:3.12".into(), id, official: true });
        assert!(rt.builds().is_empty());
    }
}
