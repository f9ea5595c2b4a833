//! A real browser for the console's tests: Debian's headless Chromium, driven over WebDriver by its
//! chromedriver (`make browser` installs both). Each test gets its own chromedriver and profile, both
//! gone when the [`Browser`] is dropped.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::eventually;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session, `width` CSS pixels
    /// wide.
    pub async fn start(width: u32) -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: run `make browser` (Debian's chromium and chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = TempDir::new();
        // Without the background-networking flags Chromium keeps dialling Google's hosts, which this
        // machine's closed network refuses; --no-sandbox because the tests may run as root.
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.0.display()),
                    format!("--window-size={width},900"),
                ]
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let client = eventually("chromedriver to accept a session", crate::DEADLINE, || {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            let webdriver = webdriver.clone();
            async move { builder.connect(&webdriver).await.ok() }
        })
        .await;
        Self {
            client,
            _driver: driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    /// The text of the first element `css` matches, waiting for it to appear.
    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.expect("element text")
    }

    /// Types `text` into the field `css` matches.
    pub async fn fill(&self, css: &str, text: &str) {
        self.element(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Clicks the element `css` matches.
    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// Clicks the link or button `css` matches and waits for the page it leads to: a new document,
    /// loaded. (A WebDriver click may return before the navigation it starts.)
    pub async fn follow(&self, css: &str) {
        self.eval("window.__hooklineBefore = true; return null;")
            .await;
        self.click(css).await;
        self.next_page().await;
    }

    /// Runs `script`, which leaves the page (a form it submits), and waits for the page it leads to.
    pub async fn follow_script(&self, script: &str) {
        self.eval("window.__hooklineBefore = true; return null;")
            .await;
        self.eval(script).await;
        self.next_page().await;
    }

    async fn next_page(&self) {
        eventually("the next page to load", crate::DEADLINE, || async {
            let script = "return window.__hooklineBefore === undefined && document.readyState === 'complete';";
            match self.client.execute(script, Vec::new()).await {
                Ok(serde_json::Value::Bool(true)) => Some(()),
                _ => None,
            }
        })
        .await;
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(crate::DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
    }

    /// Types `keys` into whatever has the focus, as a keyboard would.
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("an element has the focus")
            .send_keys(keys)
            .await
            .expect("keys are typed");
    }

    /// Presses Tab until the focused element matches `css`, as a keyboard user would reach it; fails
    /// if 60 presses do not get there.
    pub async fn tab_to(&self, css: &str) {
        let test = format!(
            "return document.activeElement !== null && document.activeElement.matches({});",
            serde_json::to_string(css).expect("a string")
        );
        for _ in 0..60 {
            if self.eval(&test).await == serde_json::Value::Bool(true) {
                return;
            }
            self.keys(&fantoccini::key::Key::Tab.to_string()).await;
        }
        panic!("Tab never reached `{css}`");
    }

    /// Presses Enter on the focused element and waits for the page it leads to.
    pub async fn enter(&self) {
        self.eval("window.__hooklineBefore = true; return null;")
            .await;
        self.keys(&fantoccini::key::Key::Enter.to_string()).await;
        self.next_page().await;
    }

    /// Reaches `css` with Tab and presses Enter on it, as a keyboard user follows a link or submits a
    /// form, and waits for the page it leads to.
    pub async fn activate(&self, css: &str) {
        self.tab_to(css).await;
        self.enter().await;
    }

    /// Reaches the checkbox `css` with Tab and ticks it with Space.
    pub async fn tick(&self, css: &str) {
        self.tab_to(css).await;
        self.keys(" ").await;
    }

    /// How many elements `css` matches now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("a query")
            .len()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("the page source")
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("a URL").to_string()
    }

    pub async fn title(&self) -> String {
        self.client.title().await.expect("a title")
    }

    /// The value of a script run in the page.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("the script runs")
    }

    /// The serious and critical accessibility violations axe-core finds in the page, one line each
    /// (rule, what it asks, where). axe-core comes from `tests/browser` (`make browser` installs it).
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("browser/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make browser`", axe.display()));
        self.client
            .execute(&format!("{source}; return null;"), Vec::new())
            .await
            .expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')})`)
                 ), e => done([`axe failed: ${e}`]));",
                Vec::new(),
            )
            .await
            .expect("axe-core runs");
        serde_json::from_value(found).expect("a list of violations")
    }

    /// Saves a screenshot of the page as `docs/console/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver (its Child is dropped after this) leaves the Chromium it started running,
        // an orphan holding a few hundred MB: hundreds were found after a day of test runs. So the
        // browser is killed here, found by the profile directory only this session uses; its renderers
        // and zygote exit with it.
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &self.profile.0.display().to_string()])
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("hookline-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("a profile directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
