//! The console started in-process beside a [`Stack`], calling its registry.

use hookline_proto::v1;
use hookline_runtime::config::Settings;
use tokio_util::sync::CancellationToken;

use crate::Stack;

/// The key the tests' consoles seal sessions with.
const TEST_SESSION_KEY: &str = "test:dGVzdHMtb25seS1jb25zb2xlLXNlc3Npb24ta2V5ISE=";

/// A running console; it stops when dropped.
pub struct Console {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shutdown: CancellationToken,
}

impl Stack {
    /// Starts a console that calls this stack's registry, on plain HTTP as in development.
    pub async fn console(&self) -> Console {
        self.console_with(|_| {}).await
    }

    /// Like [`Stack::console`], with its settings changed by `adjust` last (another registry address, a
    /// shorter timeout).
    pub async fn console_with(&self, adjust: impl FnOnce(&mut Settings)) -> Console {
        let mut settings = self.settings.clone();
        settings.console.listen = "127.0.0.1:0".parse().expect("an address");
        settings.console.registry_url = format!("http://{}", self.registry_addr);
        settings.console.secure_cookies = false;
        settings.console.session_keys = vec![TEST_SESSION_KEY.parse().expect("a session key")];
        adjust(&mut settings);
        let console = hookline_console::Console::build(&settings)
            .await
            .expect("the console binds");
        let url = format!("http://{}", console.addr());
        let shutdown = CancellationToken::new();
        tokio::spawn(console.run_until_stopped(shutdown.clone()));
        Console { url, shutdown }
    }

    /// The webhooks `organisation` has, as the registry lists them: what a console form stored, or
    /// that it stored nothing.
    pub async fn webhooks(&self, organisation: &str) -> Vec<v1::Webhook> {
        self.registry
            .clone()
            .list_webhooks(v1::ListWebhooksRequest {
                organisation_id: organisation.into(),
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner()
            .webhooks
    }
}

impl Console {
    /// The sign-in link for `token`.
    pub fn sign_in_link(&self, token: &str) -> String {
        format!("{}/sign-in?token={token}", self.url)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
