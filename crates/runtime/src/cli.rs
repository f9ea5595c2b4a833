//! The command-line part every binary shares: where the configuration comes from, and start-up logging.

use std::path::PathBuf;

use crate::config::{ConfigError, Settings};
use crate::telemetry::Telemetry;

/// `--config FILE` (or `HOOKLINE_CONFIG`): a TOML file layered over the built-in defaults and under the
/// `HOOKLINE__*` environment variables.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML), layered over the built-in defaults and under HOOKLINE__* variables.
    #[arg(long, env = "HOOKLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the settings and starts logging as they say, and trace export as the `OTEL_*` variables
    /// say, naming the process `service`.
    pub fn load(&self, service: &'static str) -> Result<(Settings, Telemetry), ConfigError> {
        let settings = Settings::load(self.config.as_deref())?;
        let telemetry = crate::telemetry::init(service, &settings.log)?;
        Ok((settings, telemetry))
    }

    /// Every service binary's `main`: loads the settings and telemetry of `service`, runs `serve` with
    /// the settings, and then flushes the telemetry, whatever `serve` returned, so the spans and log
    /// lines of a failed start are not lost.
    pub async fn run<E: From<ConfigError>>(
        &self,
        service: &'static str,
        serve: impl AsyncFnOnce(&Settings) -> Result<(), E>,
    ) -> Result<(), E> {
        let (settings, telemetry) = self.load(service)?;
        let result = serve(&settings).await;
        telemetry.shutdown().await;
        result
    }
}
