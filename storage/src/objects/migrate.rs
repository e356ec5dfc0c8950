//! The one-time move of an s3s-fs volume (`<data>/<bucket>/<key as a path>`, metadata in
//! `<data>/.bucket-<b64>.object-<b64>.metadata.json`) into the store: bytes, content type and user
//! metadata, then the old files are removed. Idempotent: a move cut off is finished by the next start.
//!
//! Owns: reading the old layout. Must not: be needed after the first start of a new esb.

use super::{md5_hex, write_atomic, Attrs, Checksums, Meta, Store, StoreError};
use std::path::{Path, PathBuf};

impl Store {
    /// Moves buckets of the s3s-fs layout (`<data>/<bucket>/<key path>`) into the store, once.
    pub(super) fn migrate(&self, data: &Path) -> Result<(), StoreError> {
        let Ok(entries) = std::fs::read_dir(data) else { return Ok(()) };
        let mut moved = 0usize;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.path().is_dir() || !s3s::path::check_bucket_name(&name) {
                continue;
            }
            if !self.has_bucket(&name) {
                self.add_bucket(&name)?;
            }
            let mut files = Vec::new();
            walk(&entry.path(), &entry.path(), &mut files);
            for (key, path) in files {
                let tmp = self.tmp_path();
                let bytes = std::fs::read(&path)?;
                write_atomic(&self.tmp_path(), &tmp, &bytes)?;
                let attrs = old_attrs(data, &name, &key);
                let meta = Meta {
                    key: key.clone(),
                    size: bytes.len() as u64,
                    etag: md5_hex(&bytes),
                    modified_ms: 0,
                    data: String::new(),
                    attrs,
                    checksums: Checksums::default(),
                };
                self.commit(&name, &key, &tmp, meta)?;
                moved += 1;
            }
            std::fs::remove_dir_all(entry.path())?;
        }
        // s3s-fs's own files at the data root (metadata, uploads, temp files).
        for entry in std::fs::read_dir(data)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && (name.starts_with(".bucket-") || name.starts_with(".upload") || name.starts_with(".tmp.")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        if moved > 0 {
            tracing::info!(objects = moved, "S3 objects moved to the store layout where keys are not paths");
        }
        Ok(())
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(base, &p, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            let key = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
            out.push((key, p));
        }
    }
}

/// Content type and user metadata s3s-fs kept for an object, if any.
fn old_attrs(data: &Path, bucket: &str, key: &str) -> Attrs {
    use base64::Engine as _;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let path = data.join(format!(".bucket-{}.object-{}.metadata.json", enc(bucket), enc(key)));
    let Some(v) = std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) else {
        return Attrs::default();
    };
    let metadata = v
        .get("user_metadata")
        .and_then(|m| m.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    Attrs { content_type: v.get("content_type").and_then(|c| c.as_str()).map(str::to_string), metadata, ..Attrs::default() }
}
