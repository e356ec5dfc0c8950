//! Which directory a project name belongs to, so two projects in directories of the same name stay
//! two projects (issue 19: `up -d` in the second said "already running", and the two shared
//! containers and volumes).
//!
//! Owns: the identity volume `esb-<project>-identity`, labelled with the project's absolute
//! directory (`esb.dir`). It holds no data: it is the engine's record of who took the name, and it
//! goes with the project's other volumes (`esb down -v`, `esb reset -y`). A project without
//! generator.yml whose directory's name is held by another directory takes
//! [`esb_config::Workspace::alternate_name`] and records it in `<output>/project-name` (which
//! `esb init` then writes as `app.name`). A name the user chose (`app.name`) *is* the identity:
//! two checkouts with the same `app.name` are one project on purpose, and the one-esb-per-project
//! lock and `esb status` keep them apart in time.
//! Must not: remove anything, or run inside the daemon container (its paths are not the host's:
//! the host-side `esb up -d` settled the name before starting it).

use crate::output::Output;
use esb_config::Workspace;
use esb_runtime::labels::{key, Labels, Role};
use esb_runtime::Runtime;

/// What the engine says about a name.
#[derive(Debug, PartialEq, Eq)]
enum Held {
    Free,
    Ours,
    /// By the project in this directory.
    Other(String),
}

fn volume(project: &str) -> String {
    format!("esb-{project}-identity")
}

async fn held(rt: &dyn Runtime, project: &str, dir: &str) -> anyhow::Result<Held> {
    Ok(match rt.volume_labels(&volume(project)).await? {
        None => Held::Free,
        Some(l) => match l.get(key::DIR) {
            Some(d) if d == dir => Held::Ours,
            Some(d) => Held::Other(d.to_string()),
            // Not esb's label: treat as another's, unnamed.
            None => Held::Other("an unknown directory".into()),
        },
    })
}

async fn take(rt: &dyn Runtime, project: &str, dir: &str) -> anyhow::Result<()> {
    let labels = Labels::new().with(key::PROJECT, project).role(Role::Identity).with(key::DIR, dir);
    rt.create_volume(&volume(project), &labels).await?;
    Ok(())
}

/// Makes sure `ws`'s project name is this directory's, taking it when free (an existing project
/// of an older esb, which had no identity volume, takes its own name this way). May change
/// `ws.settings.project` (and record it), as described in the module doc.
pub(super) async fn settle(rt: &dyn Runtime, ws: &mut Workspace, out: &Output) -> anyhow::Result<()> {
    if std::env::var_os(super::lock::DAEMON_ENV).is_some() {
        return Ok(());
    }
    if ws.name_is_settled() {
        return Ok(());
    }
    let dir = ws.project_dir().display().to_string();
    let name = ws.settings.project.clone();
    let other = match held(rt, &name, &dir).await? {
        Held::Ours => return Ok(()),
        Held::Free => return take(rt, &name, &dir).await,
        Held::Other(other) => other,
    };
    let alternate = ws.alternate_name();
    match held(rt, &alternate, &dir).await? {
        Held::Ours => {}
        Held::Free => take(rt, &alternate, &dir).await?,
        Held::Other(d) => anyhow::bail!("both `{name}` and `{alternate}` belong to other projects ({other}, {d})\n  hint: set `app.name` in generator.yml (`esb init --name ...`)"),
    }
    ws.record_name(&alternate)?;
    out.say(format!(
        "The project name `{name}` belongs to the project in {other}; this directory's project is `{alternate}` (recorded in {}; `app.name` in generator.yml sets another)",
        ws.output_dir.join(esb_config::workspace::NAME_FILE).display()
    ));
    Ok(())
}

/// [`settle`] for the project `esb serve`/`up`/`watch` is about to open, before it is compiled
/// (the name is in everything compiled).
pub(super) fn settle_before_open(global: &crate::cli::Global, out: &Output) -> anyhow::Result<()> {
    if std::env::var_os(super::lock::DAEMON_ENV).is_some() {
        return Ok(());
    }
    let mut ws = Workspace::open(&super::find_template(global)?, &Default::default())?;
    super::block_on(async move {
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        settle(&rt, &mut ws, out).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_runtime::fake::FakeRuntime;

    fn project(root: &std::path::Path, sub: &str, generator: Option<&str>) -> Workspace {
        let d = root.join(sub).join("app");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("template.yaml"), "Resources: {}\n").unwrap();
        if let Some(g) = generator {
            std::fs::write(d.join("generator.yml"), g).unwrap();
        }
        Workspace::open(&d.join("template.yaml"), &Default::default()).unwrap()
    }

    #[tokio::test]
    async fn two_directories_of_the_same_name_get_two_projects_and_a_chosen_name_is_the_identity() {
        let root = tempfile::tempdir().unwrap();
        let rt = FakeRuntime::new();
        let out = Output::new(true);
        let (mut one, mut two) = (project(root.path(), "one", None), project(root.path(), "two", None));
        settle(&rt, &mut one, &out).await.unwrap();
        assert_eq!(one.settings.project, "app");
        settle(&rt, &mut two, &out).await.unwrap();
        assert!(two.settings.project.starts_with("app-"), "{}", two.settings.project);
        // Both keep their names on the next start, whichever starts first.
        let (mut one, mut two) = (project(root.path(), "one", None), project(root.path(), "two", None));
        assert!(two.settings.project.starts_with("app-"), "recorded: {}", two.settings.project);
        settle(&rt, &mut two, &out).await.unwrap();
        settle(&rt, &mut one, &out).await.unwrap();
        assert_eq!(one.settings.project, "app");
        let labels = rt.volume_labels("esb-app-identity").await.unwrap().unwrap();
        assert_eq!(labels.get(key::DIR), Some(one.project_dir().display().to_string().as_str()));

        // A name the user chose is the identity, wherever the directory is.
        let mut three = project(root.path(), "three", Some("app:\n  name: app\npaths:\n  sam_template: template.yaml\n"));
        settle(&rt, &mut three, &out).await.unwrap();
        assert_eq!(three.settings.project, "app", "never renamed");
    }
}
