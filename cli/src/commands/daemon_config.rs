//! Applying the daemon's config file (`--config`, `ESB_CONFIG`) to a serve: its values fill in what
//! the command line left at its default (flags win), and its users, storage and logs sections
//! replace generator.yml's. Read at start and again on every SIGHUP, checked before anything starts.

use crate::cli::defaults::{DEFAULT_CONCURRENCY, GLOBAL_LIMIT, GRACE, IDLE_TIMEOUT, MANAGER_WAIT};
use crate::cli::{Global, Role, ServeArgs};
use esb_config::daemon::Daemon;

/// `global` and `args` with the config file (if any) applied, and the file itself.
pub(super) fn apply(global: &Global, args: &ServeArgs) -> anyhow::Result<(Global, ServeArgs, Option<Daemon>)> {
    let Some(path) = &args.config else { return Ok((global.clone(), args.clone(), None)) };
    let d = Daemon::load(path)?;
    let (mut g, mut a) = (global.clone(), args.clone());
    let c = &d.config;
    if g.template.is_none() {
        g.template = d.template.clone();
    }
    if a.role == Role::All {
        a.role = match c.role.as_deref() {
            Some("gateway") => Role::Gateway,
            Some("manager") => Role::Manager,
            _ => Role::All,
        };
    }
    // The public listener's settings are the gateway's; a manager started from the same file
    // (the systemd units share one) leaves them alone.
    let public = a.role != Role::Manager;
    if public && a.listen.is_none() && a.http.is_none() {
        a.listen = d.listen;
    }
    if public {
        a.admin = a.admin.or(d.admin);
    }
    a.manager_socket = a.manager_socket.or_else(|| d.manager_socket.clone());
    if public && a.tls_cert.is_none() {
        if let Some((cert, key)) = &d.tls {
            a.tls_cert = Some(cert.clone());
            a.tls_key = Some(key.clone());
        }
    }
    let l = &c.limits;
    if a.idle_timeout == IDLE_TIMEOUT {
        a.idle_timeout = l.idle_timeout.unwrap_or(a.idle_timeout);
    }
    if a.default_concurrency == DEFAULT_CONCURRENCY {
        a.default_concurrency = l.default_concurrency.unwrap_or(a.default_concurrency);
    }
    if a.global_limit == GLOBAL_LIMIT {
        a.global_limit = l.global_limit.unwrap_or(a.global_limit);
    }
    if a.grace == GRACE {
        a.grace = l.grace.unwrap_or(a.grace);
    }
    if a.manager_wait == MANAGER_WAIT {
        a.manager_wait = l.manager_wait.unwrap_or(a.manager_wait);
    }
    // The file's parameters first: the command line's, later in the list, win.
    let mut parameters: Vec<(String, String)> = c.parameters.clone().into_iter().collect();
    parameters.extend(a.parameters);
    a.parameters = parameters;
    Ok((g, a, Some(d)))
}

/// Replaces the workspace's generator.yml sections with the config file's.
pub(super) fn overlay(ws: &mut esb_config::Workspace, daemon: Option<&Daemon>) {
    let Some(d) = daemon else { return };
    let generator = ws.generator.get_or_insert_with(|| esb_config::generator::Generator::defaults_for(&ws.template));
    d.overlay(generator);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_file_fills_in_defaults_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("esb.yml");
        std::fs::write(
            &path,
            "role: manager\nlisten: 0.0.0.0:8443\nlimits:\n  grace: 5\n  global_limit: 8\nparameters:\n  Stage: prod\n  Size: 3\n",
        )
        .unwrap();
        let cli =
            crate::cli::Cli::parse_from(["esb", "serve", "--config", path.to_str().unwrap(), "--global-limit", "20", "-p", "Stage=dev"]);
        let crate::cli::Command::Serve(args) = cli.command else { panic!() };
        let (_, a, d) = apply(&cli.global, &args).unwrap();
        assert!(d.is_some());
        assert_eq!(a.role, Role::Manager);
        assert_eq!(a.listen, None, "the listener is the gateway's, even from a shared file");
        assert_eq!((a.grace, a.global_limit), (5, 20), "the file fills in; the flag wins");
        let params: std::collections::BTreeMap<_, _> = a.parameters.into_iter().collect();
        assert_eq!((params["Stage"].as_str(), params["Size"].as_str()), ("dev", "3"));
        let cli = crate::cli::Cli::parse_from(["esb", "serve", "--config", path.to_str().unwrap(), "--role", "gateway"]);
        let crate::cli::Command::Serve(args) = cli.command else { panic!() };
        let (_, a, _) = apply(&cli.global, &args).unwrap();
        assert_eq!((a.role, a.listen), (Role::Gateway, Some("0.0.0.0:8443".parse().unwrap())), "the flag's role wins");
    }
}
