//! `esb auth hash-password`: an argon2 hash for generator.yml `gateway.users`, from stdin.

use crate::cli::AuthCommand;
use crate::output::Output;
use std::io::Read;

pub fn run(cmd: AuthCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        AuthCommand::HashPassword => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            if password.len() < 8 {
                anyhow::bail!("the password read from stdin is shorter than 8 characters\n  hint: printf '%s' 'a longer password' | esb auth hash-password");
            }
            let hash = esb_gateway::auth::users::hash_password(password)?;
            if out.json() {
                println!("{}", serde_json::json!({ "password_hash": hash }));
            } else {
                println!("{hash}");
            }
            Ok(())
        }
    }
}
