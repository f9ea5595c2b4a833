//! The command-line part every binary shares: where the configuration comes from, and start-up logging.

use std::path::PathBuf;

use crate::config::{ConfigError, Settings};

/// `--config FILE` (or `HOOKLINE_CONFIG`): a TOML file layered over the built-in defaults and under the
/// `HOOKLINE__*` environment variables.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML), layered over the built-in defaults and under HOOKLINE__* variables.
    #[arg(long, env = "HOOKLINE_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads the settings and starts logging as they say.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        let settings = Settings::load(self.config.as_deref())?;
        crate::telemetry::init(&settings.log);
        Ok(settings)
    }
}
