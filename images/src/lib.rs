//! esb-images: every image esb needs, built locally, with no registry.
//!
//! # Layout
//! - [`rie`]: the real `aws-lambda-rie`, from the pinned aws-sam-cli wheel, verified and cached.
//! - [`rootfs`]: the Python root filesystem (debootstrap + host-side pip), cached as a tarball.
//! - [`base`]: `esb/base-provided` and `esb/base-python` (or an official AWS base image found locally).
//! - [`function`]: function images from generated Dockerfiles, tagged by content hash.
//! - [`tarballs`]: loading image tarballs (air-gapped sites) and `esb images export`.
//! - [`context`], [`cache`], [`events`]: deterministic build contexts, the cache dir, progress events.
//!
//! [`build_project`] ties them together for `esb build`. Every network fetch happens on the host
//! (pip, debootstrap); Dockerfiles only copy. Must not: run function containers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod base;
pub mod cache;
pub mod compiled;
pub mod container;
pub mod context;
pub mod daemon;
pub mod dynamodb;
mod error;
pub mod esbuild;
pub mod events;
pub mod function;
pub mod golang;
pub mod java;
pub mod java_build;
pub mod npm;
pub mod rie;
pub mod rootfs;
pub mod tarballs;

pub use error::ImageError;
pub use events::{Event, Events, Status};
pub use function::FunctionImage;

use esb_config::Project;
use esb_runtime::Runtime;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The last `n` lines of a tool's output, for error reports.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
#[test]
fn tail_keeps_the_last_lines() {
    assert_eq!(tail("a\nb\nc", 2), "b\nc");
    assert_eq!(tail("a", 5), "a");
}

/// Where built images are recorded, relative to the output dir.
pub const MANIFEST: &str = "build/images.json";

/// What `esb build` asks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rebuild even when an image with the same content hash exists.
    pub no_cache: bool,
    /// Image tarballs to load first.
    pub images_dir: PathBuf,
    /// Only these functions (all when empty).
    pub only: Vec<String>,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Tarballs looked at.
    pub loaded: Vec<(PathBuf, Status)>,
    /// Base images used, by reference.
    pub bases: BTreeMap<String, base::Base>,
    /// Function images, by function id.
    pub functions: BTreeMap<String, (FunctionImage, Status)>,
    /// Functions (or bases) that failed, with why. Their previous images are untouched.
    pub failures: Vec<(String, ImageError)>,
}

/// Function images built at once.
const PARALLEL_BUILDS: usize = 3;

/// Loads tarballs, makes sure bases exist, builds changed function images (a few at once), and
/// records the result in [`MANIFEST`] (a function that failed keeps its previous entry).
pub async fn build_project(
    rt: &dyn Runtime,
    project: &Project,
    root: &Path,
    output_dir: &Path,
    options: &Options,
    events: &Events<'_>,
) -> Result<Report, ImageError> {
    rt.ping().await?;
    let mut report = Report { loaded: tarballs::load_dir(rt, &options.images_dir).await?, ..Default::default() };
    let mut bases: BTreeMap<String, Result<base::Base, String>> = BTreeMap::new();
    let inputs = function::Inputs { root, output_dir, project: &project.functions.project };
    let mut manifest = read_manifest(output_dir);
    // Bases first (few, shared), then the functions' images, a few at a time: each build is mostly
    // the engine's fixed cost per image, which overlaps well.
    let mut jobs = vec![];
    for (id, spec) in &project.functions.functions {
        if !options.only.is_empty() && !options.only.contains(id) {
            continue;
        }
        // An image function's own base: an ImageUri on the engine, or a Dockerfile whose FROM is
        // not Lambda's (built as it is).
        if let esb_config::model::Code::Image(code) = &spec.code {
            if let Some(uri) = &code.uri {
                match rt.image(uri).await? {
                    Some(info) => jobs.push((id, spec, base::Base { reference: uri.clone(), id: info.id, official: false })),
                    None => report.failures.push((
                        id.clone(),
                        ImageError::Tool {
                            tool: "image function".into(),
                            reason: format!("ImageUri {uri} is not on this engine, and esb cannot pull it (no registry)"),
                            output: Some(format!(
                                "load it first (`docker load -i image.tar`, or put its tarball in {}), or give the function \
                                 Metadata (DockerContext, Dockerfile) for esb to build it",
                                options.images_dir.display()
                            )),
                        },
                    )),
                }
                continue;
            }
            if code.lambda_base.is_none() {
                jobs.push((id, spec, base::Base { reference: String::new(), id: String::new(), official: false }));
                continue;
            }
        }
        let key = format!("{}|{}", spec.base.image(), spec.runtime);
        if !bases.contains_key(&key) {
            let made = base::ensure(rt, &spec.base, &spec.runtime, options.no_cache, events).await;
            let entry = match made {
                Ok(b) => {
                    report.bases.insert(b.reference.clone(), b.clone());
                    Ok(b)
                }
                Err(e) => {
                    let why = e.to_string();
                    report.failures.push((spec.base.image(), e));
                    Err(why)
                }
            };
            bases.insert(key.clone(), entry);
        }
        match &bases[&key] {
            Ok(b) => jobs.push((id, spec, b.clone())),
            Err(why) => {
                let first_line = why.lines().next().unwrap_or_default().to_string();
                report.failures.push((id.clone(), ImageError::Tool { tool: "base image".into(), reason: first_line, output: None }));
            }
        }
    }
    let inputs = &inputs;
    type Built<'a> = (&'a String, Result<(FunctionImage, Status), ImageError>);
    // Boxed with an explicit `Send` bound: the compiler cannot prove it for the closure's futures
    // otherwise (its higher-ranked lifetimes), and callers spawn this.
    let futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Built<'_>> + Send + '_>>> = jobs
        .into_iter()
        .map(|(id, spec, base)| {
            Box::pin(async move { (id, function::build(rt, inputs, id, spec, &base, options.no_cache, events).await) })
                as std::pin::Pin<Box<dyn std::future::Future<Output = Built<'_>> + Send + '_>>
        })
        .collect();
    let built: Vec<Built<'_>> = futures_util::stream::iter(futures).buffer_unordered(PARALLEL_BUILDS).collect().await;
    for (id, result) in built {
        match result {
            Ok((image, status)) => {
                manifest.insert(id.clone(), image.clone());
                report.functions.insert(id.clone(), (image, status));
            }
            Err(e) => report.failures.push((id.clone(), e)),
        }
    }
    manifest.retain(|id, _| project.functions.functions.contains_key(id));
    write_manifest(output_dir, &manifest)?;
    Ok(report)
}

/// The recorded function images (empty when nothing was built yet).
pub fn read_manifest(output_dir: &Path) -> BTreeMap<String, FunctionImage> {
    std::fs::read(output_dir.join(MANIFEST)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn write_manifest(output_dir: &Path, manifest: &BTreeMap<String, FunctionImage>) -> Result<(), ImageError> {
    let text =
        serde_json::to_vec_pretty(manifest).map_err(|e| ImageError::io("writing", output_dir.join(MANIFEST))(std::io::Error::other(e)))?;
    cache::write_atomic(&output_dir.join(MANIFEST), &text, 0o644)
}
