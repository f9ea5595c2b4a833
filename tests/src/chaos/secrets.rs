//! The secret scan: after a scenario, every line the services logged is searched for every secret and
//! credential the run created or configured, in each form it travels in.

use std::path::Path;

use base64::Engine;

/// A secret, and the forms in which it could leak.
pub struct Secret {
    pub what: String,
    pub forms: Vec<String>,
}

impl Secret {
    /// A secret that travels as it is.
    pub fn plain(what: impl Into<String>, value: &str) -> Self {
        Self {
            what: what.into(),
            forms: vec![value.to_owned()],
        }
    }

    /// A `whsec_…` signing secret: whole, and its base64 key without the prefix.
    pub fn signing(what: impl Into<String>, value: &str) -> Self {
        let key = value.strip_prefix("whsec_").unwrap_or(value);
        Self {
            what: what.into(),
            forms: vec![value.to_owned(), key.to_owned()],
        }
    }

    /// Basic credentials: the password, and the `Authorization` header's base64 of `user:password`.
    pub fn basic(what: impl Into<String>, username: &str, password: &str) -> Self {
        let header =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Self {
            what: what.into(),
            forms: vec![password.to_owned(), header],
        }
    }
}

/// Each (file, secret) where a form of the secret appears in a file under `logs`.
pub fn leaks(logs: &Path, secrets: &[Secret]) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(logs)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(leaks(&path, secrets)?);
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for secret in secrets {
            if secret.forms.iter().any(|form| text.contains(form.as_str())) {
                found.push(format!("{} in {}", secret.what, path.display()));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_found_and_nothing_else() {
        let dir =
            std::env::temp_dir().join(format!("hookline-secret-scan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("clean.log"), "nothing to see\n").unwrap();
        std::fs::write(dir.join("nested/leaky.log"), "authorization: Basic dTpw\n").unwrap();
        let secrets = [
            Secret::basic("basic", "u", "p"),
            Secret::signing("signing", "whsec_c2VjcmV0"),
        ];
        let found = leaks(&dir, &secrets).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("basic in ") && found[0].ends_with("leaky.log"));
    }
}
