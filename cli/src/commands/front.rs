//! The public listener's setup, shared by `--role all` and `--role gateway`: where to listen,
//! TLS, secrets, users and tokens, the startup lines, the admin listener, and the SIGHUP reload
//! of certificates, keys and users.
//!
//! Must not: touch Docker or the actors (the gateway role has neither).

use super::show;
use crate::cli::{Global, ServeArgs};
use crate::output::Output;
use esb_config::generator::GatewaySettings;
use esb_gateway::auth::{ApiKeys, Auth, Tokens, User, Users};
use esb_gateway::secrets::{Created, Secrets, ADMIN_USER};
use esb_gateway::Gateway;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default listen address of a development session (`serve`, `up`, `watch` without a daemon
/// config file): loopback, so a laptop on a café network exposes nothing by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:443";
/// The edge daemon's default (a daemon config file in use): every address.
pub const DAEMON_LISTEN: &str = "0.0.0.0:443";
/// Access key id of the Lambda Invoke API's SigV4 credentials (the secret is the API key).
pub const INVOKE_KEY_ID: &str = "esb";

/// Where to listen and how.
pub(super) struct Listen {
    pub addr: SocketAddr,
    /// (certificate, key) files given by the operator; `None` uses the generated pair.
    pub tls: Option<Option<(PathBuf, PathBuf)>>,
}

pub(super) fn listen_plan(args: &ServeArgs, settings: &GatewaySettings, base: &Path) -> anyhow::Result<Listen> {
    if let Some(addr) = args.http {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "plain HTTP is only served on loopback, not {addr}\n  hint: use 127.0.0.1:{port}, or drop --http to serve HTTPS on any address",
                port = addr.port()
            );
        }
        return Ok(Listen { addr, tls: None });
    }
    let addr = listen_addr(args, settings)?;
    let files = match (&args.tls_cert, &args.tls_key, &settings.tls_cert, &settings.tls_key) {
        (Some(c), Some(k), _, _) => Some((c.clone(), k.clone())),
        (_, _, Some(c), Some(k)) => Some((base.join(c), base.join(k))),
        (_, _, Some(_), None) | (_, _, None, Some(_)) => {
            anyhow::bail!(
                "generator.yml gateway: tls_cert and tls_key go together\n  hint: set both, or neither to use a generated certificate"
            )
        }
        _ => None,
    };
    Ok(Listen { addr, tls: Some(files) })
}

/// The HTTPS address: `--listen`, else generator.yml `gateway.listen`, else [`DAEMON_LISTEN`] for
/// the edge daemon (a config file in use) and [`DEFAULT_LISTEN`] for a development session.
pub(super) fn listen_addr(args: &ServeArgs, settings: &GatewaySettings) -> anyhow::Result<SocketAddr> {
    Ok(match (&args.listen, &settings.listen) {
        (Some(a), _) => *a,
        (None, Some(s)) => {
            s.parse().map_err(|_| anyhow::anyhow!("generator.yml gateway.listen `{s}` is not an address like 0.0.0.0:443"))?
        }
        (None, None) if args.config.is_some() => DAEMON_LISTEN.parse()?,
        (None, None) => DEFAULT_LISTEN.parse()?,
    })
}

fn users(secrets: &Secrets, settings: &GatewaySettings) -> anyhow::Result<Users> {
    let mut list = vec![User { username: ADMIN_USER.into(), hash: secrets.admin_hash.clone(), groups: vec!["admin".into()], email: None }];
    for u in &settings.users {
        if u.username == ADMIN_USER {
            anyhow::bail!("generator.yml gateway.users: `admin` is esb's generated user\n  hint: pick another username");
        }
        list.push(User { username: u.username.clone(), hash: u.password_hash.clone(), groups: u.groups.clone(), email: u.email.clone() });
    }
    Users::new(list).map_err(|e| anyhow::anyhow!("generator.yml {e}"))
}

pub(super) fn report_created(created: &[Created], out: &Output) {
    if created.is_empty() || out.json() {
        return;
    }
    // Where the secrets are, never the secrets: a terminal is scrolled back, shared and recorded.
    println!("esb: generated on first start (kept 0600 in the secrets directory):");
    for c in created {
        match c {
            Created::AdminPassword(_, path) => println!("  admin password   {}   (user `admin`)", show(path)),
            Created::ApiKey(_, path) => println!("  API key          {}", show(path)),
            Created::Certificate(path) => println!("  TLS certificate  {} (self-signed; trust it or pass --tls-cert)", show(path)),
            Created::SigningKey(path) => println!("  token key        {}", show(path)),
        }
    }
}

pub(super) fn gateway_error(e: esb_gateway::GatewayError) -> anyhow::Error {
    match e.hint() {
        Some(h) => anyhow::anyhow!("{e}\n  hint: {h}"),
        None => anyhow::anyhow!("{e}"),
    }
}

/// What the public listener needs: where, TLS, auth, the Invoke API's credentials.
pub(super) struct Front {
    pub plan: Listen,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where SIGHUP puts a new certificate.
    pub slot: Option<Arc<esb_gateway::tls::CertSlot>>,
    pub auth: Auth,
    pub invoke_credentials: Option<esb_gateway::sigv4::Credentials>,
    pub secrets: Secrets,
}

/// Loads (or on first start creates) the secrets and makes the listener's TLS and auth from them.
pub(super) fn front(ws: &esb_config::Workspace, args: &ServeArgs, out: &Output) -> anyhow::Result<Front> {
    let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
    let base = ws.generator_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let plan = listen_plan(args, &settings, &base)?;
    let secrets = Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(gateway_error)?;
    let (tls, slot) = match certificate(&plan, &secrets)? {
        Some((cert, key, origin)) => {
            let (config, slot) = esb_gateway::tls::reloadable(&cert, &key, &origin).map_err(gateway_error)?;
            (Some(config), Some(slot))
        }
        None => (None, None),
    };
    let auth = make_auth(ws, &secrets, &settings)?;
    let invoke_credentials = tls.as_ref().map(|_| esb_gateway::sigv4::Credentials {
        access_key_id: INVOKE_KEY_ID.into(),
        secret_access_key: secrets.api_key.clone(),
        region: ws.settings.region.clone(),
    });
    report_created(&secrets.created, out);
    Ok(Front { plan, tls, slot, auth, invoke_credentials, secrets })
}

/// A certificate chain and key (PEM), and where they came from.
type Pem = (String, String, String);

/// The certificate and key to serve, `None` for plain HTTP.
fn certificate(plan: &Listen, secrets: &Secrets) -> anyhow::Result<Option<Pem>> {
    Ok(match &plan.tls {
        None => None,
        Some(None) => Some((secrets.tls_cert_pem.clone(), secrets.tls_key_pem.clone(), "the generated certificate".into())),
        Some(Some((cert, key))) => {
            let (c, k) = esb_gateway::tls::load_files(cert, key).map_err(gateway_error)?;
            Some((c, k, cert.display().to_string()))
        }
    })
}

/// Tokens (with the key retired by the last rotation, during its grace period), users, API keys.
fn make_auth(ws: &esb_config::Workspace, secrets: &Secrets, settings: &GatewaySettings) -> anyhow::Result<Auth> {
    let mut tokens = Tokens::new(&secrets.signing_key_pem, &ws.settings.project).map_err(gateway_error)?;
    if let Some((pem, until)) = &secrets.previous_signing_key {
        tokens = tokens.with_previous(pem, *until).map_err(gateway_error)?;
    }
    Ok(Auth::new(tokens, users(secrets, settings)?, ApiKeys::new(&[secrets.api_key.as_str()])))
}

/// On every SIGHUP: re-reads the daemon config file and generator.yml (users, certificate files) and the secrets (a rotated
/// signing key, a new admin password, a renewed certificate) and applies them from the next request
/// and handshake on; open connections are not touched. A reload that fails changes nothing.
/// Listen addresses, roles and limits need a restart.
pub(super) fn reload_on_hup(
    template: PathBuf,
    args: ServeArgs,
    gateway: Arc<Gateway>,
    slot: Option<Arc<esb_gateway::tls::CertSlot>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            let reread = || -> anyhow::Result<(Auth, Option<Pem>)> {
                let (_, args, daemon) =
                    super::daemon_config::apply(&Global { template: Some(template.clone()), json: false, verbose: 0 }, &args)?;
                let mut ws = esb_config::Workspace::open(&template, &args.parameters.iter().cloned().collect())?;
                super::daemon_config::overlay(&mut ws, daemon.as_ref());
                let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
                let base = ws.generator_path.parent().unwrap_or(Path::new(".")).to_path_buf();
                let plan = listen_plan(&args, &settings, &base)?;
                let secrets = Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(gateway_error)?;
                Ok((make_auth(&ws, &secrets, &settings)?, certificate(&plan, &secrets)?))
            };
            let applied = reread().and_then(|(auth, cert)| {
                if let (Some(slot), Some((c, k, origin))) = (&slot, &cert) {
                    slot.replace(c, k, origin).map_err(gateway_error)?;
                }
                gateway.set_auth(auth);
                Ok(())
            });
            match applied {
                Ok(()) => {
                    tracing::info!("reloaded on SIGHUP");
                    println!("esb serve: reloaded (certificate, token keys, users)");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP reload failed");
                    println!("esb serve: reload failed; still serving the previous configuration\n{e:#}");
                }
            }
            let _ = std::io::stdout().flush();
        }
    })
}

/// The "ready" lines (`up -d` waits for "Lambda Invoke API on").
pub(super) fn announce(out: &Output, tls: bool, secrets: &Secrets, addr: SocketAddr, what: &str, functions: usize, routes: usize) {
    let scheme = if tls { "https" } else { "http" };
    let shown = if addr.ip().is_unspecified() { format!("localhost:{}", addr.port()) } else { addr.to_string() };
    if out.json() {
        println!(
            "{}",
            serde_json::json!({ "event": "ready", "url": format!("{scheme}://{shown}"), "functions": functions, "routes": routes })
        );
    } else {
        println!("esb serve: {what}{functions} functions, {routes} routes");
        println!("  API Gateway on {scheme}://{shown} (listening on {addr})");
        if addr.ip().is_loopback() && tls {
            println!("  (this machine only; --listen 0.0.0.0:{} serves other machines too)", addr.port());
        }
        println!("  Lambda Invoke API on {scheme}://{shown}");
        if tls {
            println!("  (SigV4: access key id `{INVOKE_KEY_ID}`, secret = the API key in {})", show(&secrets.dir.join("api-key")));
        }
    }
    let _ = std::io::stdout().flush();
}

/// The admin listener (`--admin`), if asked for.
pub(super) async fn admin(
    args: &ServeArgs,
    out: &Output,
    ready: esb_gateway::admin::Ready,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(a) = args.admin else { return Ok(None) };
    let l = esb_gateway::server::bind(a).await.map_err(gateway_error)?;
    let shown = l.local_addr()?;
    if !out.json() {
        println!("  metrics on http://{shown}/metrics (health: /healthz, /readyz)");
        let _ = std::io::stdout().flush();
    }
    Ok(Some(tokio::spawn(esb_gateway::admin::serve(l, Arc::new(esb_actors::metrics::render), ready))))
}
