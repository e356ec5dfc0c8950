//! Image tarballs: loading them (air-gapped sites) and writing them (`esb images export`).
//!
//! Owns: reading a `docker save` tarball's manifest to learn its image ids and tags without loading
//! it, so tarballs whose images are all present are skipped (loading is idempotent and cheap when
//! nothing changed), and writing one tarball per image.
//! Must not: decide which images a project needs (the caller passes them).

use crate::events::Status;
use crate::ImageError;
use esb_runtime::Runtime;
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Default directory for tarballs, relative to the project.
pub const DEFAULT_DIR: &str = "build/lambda-images";

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
}

/// Image ids (`sha256:...`) and tags in a `docker save` tarball (`.tar`, `.tar.gz` or `.tgz`).
pub fn manifest(path: &Path) -> Result<Vec<(String, Vec<String>)>, ImageError> {
    let file = std::fs::File::open(path).map_err(ImageError::io("reading", path))?;
    let name = path.to_string_lossy();
    let reader: Box<dyn Read> =
        if name.ends_with(".gz") || name.ends_with(".tgz") { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(ImageError::io("reading", path))? {
        let mut entry = entry.map_err(ImageError::io("reading", path))?;
        if entry.path().map(|p| p.as_os_str() == "manifest.json").unwrap_or(false) {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(ImageError::io("reading", path))?;
            let parsed: Vec<ManifestEntry> = serde_json::from_str(&text).map_err(|e| ImageError::Io {
                action: "reading manifest.json of",
                path: path.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
            return Ok(parsed
                .into_iter()
                .map(|m| {
                    // Legacy format: `<hex>.json`; OCI layout: `blobs/sha256/<hex>`.
                    let hex = m.config.rsplit('/').next().unwrap_or_default().trim_end_matches(".json").to_string();
                    (format!("sha256:{hex}"), m.repo_tags.unwrap_or_default())
                })
                .collect());
        }
    }
    Err(ImageError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source: std::io::Error::other("no manifest.json: not a `docker save` tarball"),
    })
}

/// Loads every tarball in `dir` whose images are not all present. A missing dir is nothing to do.
pub async fn load_dir(rt: &dyn Runtime, dir: &Path) -> Result<Vec<(PathBuf, Status)>, ImageError> {
    let Ok(read) = std::fs::read_dir(dir) else { return Ok(vec![]) };
    let mut files: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
        })
        .collect();
    files.sort();
    let mut out = vec![];
    for file in files {
        let mut present = true;
        for (id, tags) in manifest(&file)? {
            for tag in tags.iter().map(String::as_str).chain(std::iter::once(id.as_str())) {
                if rt.image(tag).await?.is_none_or(|i| i.id != id) {
                    present = false;
                }
            }
        }
        if present {
            out.push((file, Status::Cached));
        } else {
            rt.load_images(&file).await?;
            out.push((file, Status::Loaded));
        }
    }
    Ok(out)
}

/// File name for an image's tarball: `esb/base-python:3.11` -> `esb_base-python_3.11.tar`.
pub fn file_name(reference: &str) -> String {
    format!("{}.tar", reference.replace(['/', ':'], "_"))
}

/// Writes one tarball per reference into `dir`; returns the files.
pub async fn export(rt: &dyn Runtime, references: &[String], dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    std::fs::create_dir_all(dir).map_err(ImageError::io("creating", dir))?;
    let mut out = vec![];
    for reference in references {
        let path = dir.join(file_name(reference));
        rt.save_images(std::slice::from_ref(reference), &path).await?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_runtime::fake::{Call, FakeRuntime};
    use esb_runtime::Labels;

    fn save_tarball(path: &Path, config: &str, tags: &[&str]) {
        let manifest = serde_json::json!([{ "Config": config, "RepoTags": tags, "Layers": [] }]).to_string();
        let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(manifest.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", manifest.as_bytes()).unwrap();
        b.finish().unwrap();
    }

    #[test]
    fn manifests_of_both_layouts_give_ids_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("a.tar");
        save_tarball(&legacy, "abc123.json", &["esb/base-python:3.11"]);
        assert_eq!(manifest(&legacy).unwrap(), [("sha256:abc123".to_string(), vec!["esb/base-python:3.11".to_string()])]);
        let oci = dir.path().join("b.tar");
        save_tarball(&oci, "blobs/sha256/def456", &["x:1"]);
        assert_eq!(manifest(&oci).unwrap()[0].0, "sha256:def456");
    }

    #[tokio::test]
    async fn tarballs_are_loaded_once_and_skipped_when_present() {
        let dir = tempfile::tempdir().unwrap();
        save_tarball(&dir.path().join("python.tar"), "abc.json", &["public.ecr.aws/lambda/python:3.12"]);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let rt = FakeRuntime::new();
        let first = load_dir(&rt, dir.path()).await.unwrap();
        assert_eq!(first[0].1, Status::Loaded);
        assert_eq!(first.len(), 1);
        // The fake does not unpack tarballs; simulate the engine now holding the image.
        let id = rt.add_image("public.ecr.aws/lambda/python:3.12", Labels::default());
        save_tarball(
            &dir.path().join("python.tar"),
            &format!("{}.json", id.trim_start_matches("sha256:")),
            &["public.ecr.aws/lambda/python:3.12"],
        );
        let second = load_dir(&rt, dir.path()).await.unwrap();
        assert_eq!(second[0].1, Status::Cached);
        assert_eq!(rt.calls().iter().filter(|c| matches!(c, Call::Load(_))).count(), 1);
        assert!(load_dir(&rt, &dir.path().join("missing")).await.unwrap().is_empty());
    }
}
