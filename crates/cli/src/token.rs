//! `hookline token mint`: HS256 tokens signed with the development secret, for local use and tests.
//! Production tokens come from your identity provider, signed with a key in `auth.public_keys`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hookline_core::tokens::{Claims, Role, mint_hs256};
use secrecy::{ExposeSecret, SecretString};

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Prints a signed development token.
    Mint(MintArgs),
}

#[derive(clap::Args)]
pub struct MintArgs {
    /// The organisation the token acts for; `*` for every organisation (internal publishers).
    #[arg(long)]
    org: Option<String>,
    /// A role: super_admin, org_admin, publisher or viewer. Repeat for several.
    #[arg(long = "role")]
    roles: Vec<Role>,
    /// A permission, e.g. org.webhooks. Repeat for several.
    #[arg(long = "permission")]
    permissions: Vec<String>,
    /// The subject (who the caller is).
    #[arg(long, default_value = "dev")]
    sub: String,
    /// How long the token is valid.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// The HS256 secret: the services' `auth.hs256_secret`.
    #[arg(long, env = "HOOKLINE__AUTH__HS256_SECRET", hide_env_values = true)]
    secret: SecretString,
}

impl TokenCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            TokenCommand::Mint(args) => {
                println!("{}", args.mint()?);
                Ok(())
            }
        }
    }
}

impl MintArgs {
    pub fn mint(self) -> anyhow::Result<String> {
        anyhow::ensure!(
            !self.secret.expose_secret().is_empty(),
            "--secret (or HOOKLINE__AUTH__HS256_SECRET) is empty"
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            sub: self.sub,
            org: self.org,
            roles: self.roles,
            permissions: self.permissions,
            exp: now + self.ttl.as_secs(),
            iss: None,
            aud: None,
        };
        mint_hs256(&self.secret, &claims).context("signing the token")
    }
}
