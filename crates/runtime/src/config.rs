//! Typed, layered configuration: built-in defaults (`deploy/hookline.toml`), an optional file, then
//! `HOOKLINE__SECTION__KEY` environment variables, validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

mod console;
mod operations;

pub use console::ConsoleSettings;
pub use operations::OperationsSettings;

use crate::topology::Topology;
use hookline_core::address_policy::{AddressPolicy, Cidr};
use hookline_core::secret_box::{MasterKey, SecretBox};

/// The documented defaults; the same file ships as the example configuration.
const DEFAULTS: &str = include_str!("../../../deploy/hookline.toml");

/// Keys whose environment values are comma-separated lists.
const LIST_KEYS: &[&str] = &[
    "delivery.retry_schedule",
    "endpoints.allowed_cidrs",
    "endpoints.extra_root_certificates",
    "secrets.master_keys",
    "auth.public_keys",
    "console.session_keys",
    "console.frame_ancestors",
];

/// Everything any Hookline service can be configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    pub amqp: AmqpSettings,
    pub database: DatabaseSettings,
    pub endpoints: EndpointPolicy,
    pub secrets: SecretSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub registry: RegistrySettings,
    pub retention: RetentionSettings,
    pub ingest: IngestSettings,
    pub delivery: DeliverySettings,
    pub console: ConsoleSettings,
    pub operations: OperationsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: SecretString,
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

/// Where deliveries may be sent.
#[derive(Debug, Clone, Deserialize)]
pub struct EndpointPolicy {
    pub allow_insecure_http: bool,
    /// Exceptions to the refusal of non-public addresses.
    #[serde(deserialize_with = "cidrs")]
    pub allowed_cidrs: Vec<Cidr>,
    /// Extra trusted CA certificates (PEM files).
    #[serde(deserialize_with = "non_empty")]
    pub extra_root_certificates: Vec<PathBuf>,
}

impl EndpointPolicy {
    pub fn address_policy(&self) -> AddressPolicy {
        AddressPolicy::new(self.allowed_cidrs.clone())
    }
}

/// How signing secrets are kept.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    #[serde(deserialize_with = "master_keys")]
    pub master_keys: Vec<MasterKey>,
    #[serde(deserialize_with = "duration")]
    pub rotation_overlap: Duration,
}

impl SecretSettings {
    /// The secret box, or a start-up error for services that need one.
    pub fn secret_box(&self) -> Result<SecretBox, ConfigError> {
        SecretBox::new(&self.master_keys).ok_or_else(|| {
            ConfigError::Invalid(
                "secrets.master_keys must hold at least one `<id>:<base64 key>`".into(),
            )
        })
    }
}

/// How callers of the gRPC APIs are authenticated.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// The shared HS256 secret of development tokens; empty for none.
    pub hs256_secret: SecretString,
    /// PEM public keys (RSA, Ed25519 or P-256) that production tokens are signed with.
    #[serde(deserialize_with = "non_empty")]
    pub public_keys: Vec<PathBuf>,
    /// Required `iss` and `aud` claims; empty to accept any.
    pub issuer: String,
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(deserialize_with = "duration")]
    pub leeway: Duration,
}

impl AuthSettings {
    /// The token verifier, or a start-up error for services that need one.
    pub fn verifier(&self) -> Result<crate::auth::Verifier, ConfigError> {
        crate::auth::Verifier::from_settings(self)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegistrySettings {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub max_webhooks_per_organisation: u32,
    /// How often queue depths and the oldest dead letter's age are sampled for `/metrics`.
    #[serde(deserialize_with = "duration")]
    pub metrics_interval: Duration,
    /// A retry this far past its due time is published again (the broker did not bring it back).
    #[serde(deserialize_with = "duration")]
    pub retry_overdue_after: Duration,
    /// A webhook whose deliveries have all failed for this long is switched off; zero never does.
    #[serde(deserialize_with = "duration")]
    pub auto_disable_after: Duration,
}

/// How long the delivery log is kept.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    pub batch: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub max_data_bytes: usize,
    /// How many of one organisation's events may await the broker's confirm at once (see the ingest's
    /// `admission` module for why).
    pub organisation_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    pub http_listen: SocketAddr,
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    pub concurrency: u16,
    pub direct_attempts: u16,
    pub fanout_batch: usize,
    pub record_batch: usize,
    pub max_response_body: usize,
    #[serde(deserialize_with = "duration")]
    pub webhook_cache_ttl: Duration,
    pub endpoint_concurrency: u32,
    #[serde(deserialize_with = "duration")]
    pub max_local_wait: Duration,
    pub breaker_failures: u32,
    #[serde(deserialize_with = "duration")]
    pub breaker_cooloff: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_retry_after: Duration,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Why a service could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("a service task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Setup(String),
}

impl Settings {
    /// The exchange and queue names of this deployment.
    pub fn topology(&self) -> Topology {
        Topology::new(&self.amqp.prefix, &self.delivery.retry_schedule)
    }

    /// Loads the defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment given explicitly (tests use this instead of `set_var`).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let mut environment = config::Environment::with_prefix("HOOKLINE")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true)
            .source(Some(
                env.into_iter()
                    .filter(|(k, _)| k.starts_with("HOOKLINE__"))
                    .collect(),
            ));
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let prefix_ok = !self.amqp.prefix.is_empty()
            && self.amqp.prefix.len() <= 100
            && self
                .amqp
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !prefix_ok {
            return invalid(
                "amqp.prefix must be 1-100 characters of a-z, A-Z, 0-9, '.', '_' or '-'",
            );
        }
        let d = &self.delivery;
        if d.concurrency == 0 || d.fanout_batch == 0 || d.record_batch == 0 {
            return invalid(
                "delivery.concurrency, fanout_batch and record_batch must be at least 1",
            );
        }
        if d.endpoint_concurrency == 0 || d.breaker_failures == 0 {
            return invalid(
                "delivery.endpoint_concurrency and breaker_failures must be at least 1",
            );
        }
        if d.request_timeout.is_zero() {
            return invalid("delivery.request_timeout must be positive");
        }
        if d.retry_schedule
            .iter()
            .any(|delay| delay.as_millis() == 0 || delay.as_millis() > u32::MAX as u128)
        {
            return invalid("delivery.retry_schedule delays must be between 1ms and 49 days");
        }
        if self.retention.batch == 0 || self.retention.interval.is_zero() {
            return invalid("retention.batch and retention.interval must be positive");
        }
        if self.registry.retry_overdue_after.is_zero() {
            return invalid("registry.retry_overdue_after must be positive");
        }
        if self.registry.metrics_interval.is_zero() {
            return invalid("registry.metrics_interval must be positive");
        }
        let (disable, keep) = (self.registry.auto_disable_after, self.retention.max_age);
        if !disable.is_zero() && !keep.is_zero() && disable >= keep {
            return invalid(
                "registry.auto_disable_after must be shorter than retention.max_age, which deletes the failures it looks at",
            );
        }
        if let Some(why) = self.console.invalid().or_else(|| self.operations.invalid()) {
            return Err(ConfigError::Invalid(why));
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        Ok(())
    }
}

fn parse_duration<E: serde::de::Error>(raw: &str) -> Result<Duration, E> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| E::custom(format!("`{raw}` is not a duration: {e}")))
}

/// A list from the environment may hold one empty item (`HOOKLINE__…=`), meaning none.
fn non_empty<'de, D: Deserializer<'de>, T: From<String>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(T::from)
        .collect())
}

fn master_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MasterKey>, D::Error> {
    let raw: Vec<String> = non_empty(d)?;
    raw.iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let raw: Vec<String> = non_empty(d)?;
    raw.iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse_duration(&String::deserialize(d)?)
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_duration(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_give_the_production_schedule() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(
            s.delivery.retry_schedule,
            vec![Duration::from_secs(300), Duration::from_secs(600)]
        );
        assert_eq!(s.delivery.request_timeout, Duration::from_secs(15));
        assert!(!s.endpoints.allow_insecure_http);
        assert_eq!(s.registry.grpc_listen.port(), 50051);
        assert_eq!(s.ingest.grpc_listen.port(), 50052);
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::load_from(
            None,
            env(&[
                ("HOOKLINE__DELIVERY__RETRY_SCHEDULE", "1s,2s"),
                ("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "true"),
                ("HOOKLINE__AMQP__PREFIX", "test-1"),
                ("HOOKLINE__DELIVERY__CONCURRENCY", "8"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.delivery.retry_schedule,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert!(s.endpoints.allow_insecure_http);
        assert_eq!(s.amqp.prefix, "test-1");
        assert_eq!(s.delivery.concurrency, 8);
    }

    #[test]
    fn address_allowlists_parse_from_the_environment() {
        let s = Settings::load_from(
            None,
            env(&[(
                "HOOKLINE__ENDPOINTS__ALLOWED_CIDRS",
                "127.0.0.1/32,fd00::/8",
            )]),
        )
        .unwrap();
        assert_eq!(s.endpoints.allowed_cidrs.len(), 2);
        let s =
            Settings::load_from(None, env(&[("HOOKLINE__ENDPOINTS__ALLOWED_CIDRS", "")])).unwrap();
        assert!(s.endpoints.allowed_cidrs.is_empty());
        let err = Settings::load_from(
            None,
            env(&[("HOOKLINE__ENDPOINTS__ALLOWED_CIDRS", "10.0.0.0/99")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/99"), "{err}");
    }

    #[test]
    fn bad_values_are_reported() {
        let err =
            Settings::load_from(None, env(&[("HOOKLINE__AMQP__PREFIX", "has space")])).unwrap_err();
        assert!(err.to_string().contains("amqp.prefix"), "{err}");
        let err = Settings::load_from(
            None,
            env(&[("HOOKLINE__DELIVERY__REQUEST_TIMEOUT", "soon")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }
}

#[cfg(test)]
mod documentation {
    /// Every key of the defaults file has a row, with its environment variable, in the README's table.
    #[test]
    fn the_readme_documents_every_setting_and_its_variable() {
        let readme = include_str!("../../../README.md");
        let mut section = String::new();
        let mut keys = 0;
        for line in super::DEFAULTS.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
            } else if let Some((key, _)) = line.split_once(" = ").filter(|_| !line.starts_with('#'))
            {
                let dotted = format!("{section}{key}");
                let variable = format!("HOOKLINE__{}", dotted.to_uppercase().replace('.', "__"));
                assert!(
                    readme.contains(&format!("`{dotted}`")),
                    "README lacks `{dotted}`"
                );
                assert!(
                    readme.contains(&format!("`{variable}`")),
                    "README lacks `{variable}`"
                );
                keys += 1;
            }
        }
        assert!(keys > 30, "{keys} keys read");
    }
}
