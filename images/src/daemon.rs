//! The daemon image: esb itself in a container, for `esb up -d`.
//!
//! Owns: `esb/daemon:<hash of the esb binary>`, built from the running executable with no registry:
//! `FROM scratch` when esb is statically linked, otherwise on the imported Debian root filesystem
//! esb already uses for Python functions (same glibc family as the build host). Never rebuilt when
//! the binary is unchanged. Must not: start containers (the CLI does).

use crate::context::Context;
use crate::error::ImageError;
use esb_runtime::{BuildRequest, Labels, Runtime};
use std::path::Path;

/// Repository of daemon images.
pub const REPOSITORY: &str = "esb/daemon";

/// True when the ELF file `bytes` has no program interpreter (is statically linked).
pub fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
    if bytes.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else { return false };
    // PT_INTERP = 3.
    !(0..phnum).any(|i| bytes.get(phoff + i * phentsize..phoff + i * phentsize + 4) == Some(&3u32.to_le_bytes()[..]))
}

/// Builds (or finds) the daemon image for the executable at `exe`; returns its reference.
pub async fn ensure(rt: &dyn Runtime, exe: &Path) -> Result<String, ImageError> {
    let bytes = std::fs::read(exe).map_err(ImageError::io("reading", exe))?;
    let reference = format!("{REPOSITORY}:{}", &crate::cache::sha256(&bytes)[..16]);
    if rt.image(&reference).await?.is_some() {
        return Ok(reference);
    }
    let base = if is_static_elf(&bytes) {
        "scratch".to_string()
    } else {
        // Any suite's root filesystem carries a C library at least as new as the host's bookworm.
        let mut found = None;
        for suite in esb_config::runtimes::SUITES {
            let rootfs = crate::rootfs::image_name(suite, crate::rootfs::Flavour::Interpreters);
            if rt.image(&rootfs).await?.is_some() {
                found = Some(rootfs);
                break;
            }
        }
        found.ok_or_else(|| ImageError::Tool {
            tool: "esb up -d".into(),
            reason: format!(
                "this esb is dynamically linked, and no Debian root filesystem image ({}) it could run on is built\n  hint: build a static esb (scripts/build.sh does), or run `esb build` on a project with a Python or Node.js function first",
                crate::rootfs::image_name(crate::rootfs::default_suite(), crate::rootfs::Flavour::Interpreters)
            ),
            output: None,
        })?
    };
    let mut ctx = Context::new();
    let dockerfile = format!(
        "FROM {base}\nCOPY esb /usr/local/bin/esb\nENV ESB_LOG_FORMAT=json\nENTRYPOINT [\"/usr/local/bin/esb\"]\nLABEL esb.role=daemon-image\n"
    );
    ctx.file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    ctx.file("esb", &bytes, 0o755)?;
    let request =
        BuildRequest { context: ctx.finish()?.into(), tags: vec![reference.clone()], labels: Labels::default(), ..Default::default() };
    rt.build_image(request, &|_| {}).await.map_err(|e| match e {
        esb_runtime::RuntimeError::BuildFailed { message, output } => ImageError::Build { function: reference.clone(), message, output },
        other => other.into(),
    })?;
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_is_dynamic_and_garbage_is_not_static() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me), "test binaries link glibc dynamically");
        assert!(!is_static_elf(b"not an elf"));
    }
}
