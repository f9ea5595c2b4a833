//! `hookline console link`: a sign-in link to the console for a development token. In production the
//! host product's backend makes the same link: its own short-lived token for the user, signed with a key
//! in `auth.public_keys`, appended to `<console>/sign-in?token=`.

use hookline_core::brand::{is_colour, logo_origin};

use crate::token::MintArgs;

#[derive(clap::Subcommand)]
pub enum ConsoleCommand {
    /// Prints a sign-in link carrying a development token (`token mint`'s options).
    Link(LinkArgs),
}

#[derive(clap::Args)]
pub struct LinkArgs {
    #[command(flatten)]
    token: MintArgs,
    /// The console's address, as the browser reaches it.
    #[arg(
        long,
        env = "HOOKLINE_CONSOLE",
        default_value = "http://127.0.0.1:8084"
    )]
    console: String,
    /// A brand colour for the session, `#rrggbb`.
    #[arg(long)]
    brand: Option<String>,
    /// A logo for the session, an `https://` address on the console's logo or embedding origins.
    #[arg(long)]
    logo: Option<String>,
}

impl ConsoleCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            ConsoleCommand::Link(args) => {
                println!("{}", args.link()?);
                Ok(())
            }
        }
    }
}

impl LinkArgs {
    fn link(self) -> anyhow::Result<String> {
        let base = self.console.trim_end_matches('/').to_owned();
        // A JWT is base64url and dots: it needs no escaping in a query.
        let mut link = format!("{base}/sign-in?token={}", self.token.mint()?);
        if let Some(brand) = self.brand {
            anyhow::ensure!(is_colour(&brand), "--brand must be #rrggbb");
            link.push_str(&format!("&brand=%23{}", &brand[1..]));
        }
        if let Some(logo) = self.logo {
            anyhow::ensure!(
                logo_origin(&logo).is_some(),
                "--logo must be an https:// address without credentials"
            );
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("logo", &logo)
                .finish();
            link.push_str(&format!("&{query}"));
        }
        Ok(link)
    }
}
