//! The offline DynamoDB service image: moto's DynamoDB API on esb's Python base, made durable by a
//! write-ahead journal (`assets/esb_dynamodb.py`).
//!
//! Owns: `esb/storage-dynamodb:<hash of base + pins + launcher>`, the pinned packages (resolved by
//! the host's pip for the image's Python, binary wheels only, cached under the esb cache), never
//! rebuilt when unchanged. Must not: start containers.

use crate::context::Context;
use crate::error::ImageError;
use crate::events::Events;
use esb_config::model::BaseImage;
use esb_runtime::{BuildRequest, Runtime};
use std::process::Command;

/// Packages of the service (pinned: the image hash depends on them).
pub const PACKAGES: &[&str] = &["moto[dynamodb]==5.2.5", "flask==3.1.3", "flask-cors==6.0.5"];
/// Repository of the image.
pub const REPOSITORY: &str = "esb/storage-dynamodb";
const LAUNCHER: &str = include_str!("../assets/esb_dynamodb.py");

/// Builds (or finds) the DynamoDB service image; returns its reference.
///
/// The tag hashes the packages and the launcher, not the base: an existing image is found without
/// touching the base (the daemon container, which has no RIE download, relies on that).
pub async fn ensure(rt: &dyn Runtime, events: &Events<'_>) -> Result<String, ImageError> {
    let pins = PACKAGES.join(",");
    // The interpreter's path is in the recipe: the suites' root filesystems carry `python3.X`
    // only, and an image whose entry point named `/usr/bin/python3` could not start (one built
    // before that change, cached or loaded from a tarball, must not be found by its old tag).
    let python = format!("/usr/bin/python{}", crate::rootfs::PYTHON);
    let recipe = format!("{pins}|{}|{}|{python}", crate::rootfs::PYTHON, crate::cache::sha256(LAUNCHER.as_bytes()));
    let reference = format!("{REPOSITORY}:{}", &crate::cache::sha256(recipe.as_bytes())[..16]);
    if rt.image(&reference).await?.is_some() {
        return Ok(reference);
    }
    let base = crate::base::ensure(rt, &BaseImage::Python { version: crate::rootfs::PYTHON.into() }, "python3.11", false, events).await?;
    let site = crate::cache::dir().join(format!("dynamodb-site-{}", &crate::cache::sha256(pins.as_bytes())[..12]));
    if !site.join(".complete").exists() {
        // Per process: two esb runs on a fresh machine must not install into one directory.
        let partial = site.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-warn-conflicts", "--quiet", "--target"])
            .arg(&partial)
            .args(crate::rootfs::pip_platform_args(crate::rootfs::PYTHON))
            .args(PACKAGES)
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .output()
            .map_err(|e| ImageError::Tool { tool: "pip".into(), reason: format!("cannot run python3 -m pip: {e}"), output: None })?;
        if !out.status.success() {
            return Err(ImageError::Tool {
                tool: "pip".into(),
                reason: format!("installing {} failed", PACKAGES.join(" ")),
                output: Some(crate::tail(&String::from_utf8_lossy(&out.stderr), 15)),
            });
        }
        std::fs::write(partial.join(".complete"), b"").map_err(ImageError::io("writing", &partial))?;
        if site.join(".complete").exists() {
            // Another run finished first; its copy is as good as ours.
            let _ = std::fs::remove_dir_all(&partial);
        } else {
            let _ = std::fs::remove_dir_all(&site);
            std::fs::rename(&partial, &site).map_err(ImageError::io("writing", &site))?;
        }
    }
    let mut ctx = Context::new();
    let dockerfile = format!(
        "FROM {}\nCOPY site/ /opt/esb-dynamodb/site/\nCOPY esb_dynamodb.py /opt/esb-dynamodb/esb_dynamodb.py\n\
         ENV PYTHONPATH=/opt/esb-dynamodb/site PYTHONDONTWRITEBYTECODE=1\n\
         ENTRYPOINT [\"{python}\", \"/opt/esb-dynamodb/esb_dynamodb.py\"]\nCMD []\nLABEL esb.role=storage-image\n",
        base.reference
    );
    ctx.file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    ctx.file("esb_dynamodb.py", LAUNCHER.as_bytes(), 0o644)?;
    ctx.tree("site", &site)?;
    let request = BuildRequest { context: ctx.finish()?.into(), tags: vec![reference.clone()], ..Default::default() };
    rt.build_image(request, &|line| events(crate::events::Event::Line { image: &reference, text: line })).await.map_err(|e| match e {
        esb_runtime::RuntimeError::BuildFailed { message, output } => ImageError::Build { function: reference.clone(), message, output },
        other => other.into(),
    })?;
    Ok(reference)
}
