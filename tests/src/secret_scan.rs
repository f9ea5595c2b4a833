//! The secret scan: after a fault-suite scenario, and after the whole `make test` run, every line
//! logged is searched for every secret and credential the run created or configured, in each form it
//! travels in, and for anything shaped like a signing secret or a bearer token whoever made it.

use std::io::Write as _;
use std::path::Path;

use hookline_proto::v1;
use hookline_proto::v1::endpoint_auth::Method;

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

/// Each (file, secret) where a form of one of `secrets`, or something shaped like a secret
/// ([`shapes`]), appears in a file under `logs` (the [`LEDGER`] folder aside).
pub fn leaks(logs: &Path, secrets: &[Secret]) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(logs)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name() != Some(LEDGER.as_ref()) {
                found.extend(leaks(&path, secrets)?);
            }
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets {
            if secret.forms.iter().any(|form| text.contains(form.as_str())) {
                found.push(format!("{} in {}", secret.what, path.display()));
            }
        }
        for shape in shapes(&text) {
            found.push(format!("{shape} in {}", path.display()));
        }
    }
    Ok(found)
}

/// What in `text` looks like a credential Hookline makes or checks, whoever made it: a signing secret
/// (`whsec_` and its base64 key), a JWT (the tokens of the gRPC API and the console), or a Basic
/// `Authorization` value. None of these belongs in a log line.
pub fn shapes(text: &str) -> Vec<&'static str> {
    let base64 = |c: char| c.is_ascii_alphanumeric() || "+/=".contains(c);
    let base64url = |c: char| c.is_ascii_alphanumeric() || "-_".contains(c);
    let run =
        |rest: &str, class: &dyn Fn(char) -> bool| rest.chars().take_while(|c| class(*c)).count();
    let mut found = Vec::new();
    if text
        .match_indices("whsec_")
        .any(|(i, m)| run(&text[i + m.len()..], &base64) >= 24)
    {
        found.push("a signing secret (whsec_…)");
    }
    // Header and claims wholly base64url up to their dots, then a signature. Each run stops at the
    // first other character, so a match costs the token's length, not the rest of the text.
    let jwt = text.match_indices("eyJ").any(|(i, _)| {
        let mut rest = &text[i..];
        for part in 0..3 {
            let n = run(rest, &base64url);
            if n < 8 {
                return false;
            }
            if part == 2 {
                return true;
            }
            match rest[n..].strip_prefix('.') {
                Some(after) => rest = after,
                None => return false,
            }
        }
        false
    });
    if jwt {
        found.push("a JWT");
    }
    // `Basic ` and base64 that decodes to `user:password`.
    let basic = text
        .to_ascii_lowercase()
        .match_indices("basic ")
        .any(|(i, m)| {
            let rest = &text[i + m.len()..];
            let encoded = &rest[..run(rest, &base64)];
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .is_ok_and(|decoded| encoded.len() >= 8 && decoded.contains(&b':'))
        });
    if basic {
        found.push("a Basic credential");
    }
    found
}

/// The folder, among the logs, where each test process lists the secrets it made ([`record`]); the
/// scan reads it and never searches it.
pub const LEDGER: &str = "secrets-made";

/// Adds `secret` to this process's list of the secrets it made, for the scan after the run.
pub fn record(secret: &Secret) {
    let ledger = crate::logs::dir().join(LEDGER);
    let line = std::iter::once(secret.what.as_str())
        .chain(secret.forms.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\t");
    let written = std::fs::create_dir_all(&ledger).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ledger.join(format!("{}.tsv", std::process::id())))
            .and_then(|mut file| writeln!(file, "{line}"))
    });
    written.expect("recording a secret for the scan");
}

/// A webhook's endpoint credentials as a secret to look for; `None` without any, or for values
/// shorter than 8 characters, as too likely to occur by chance.
pub fn credentials(auth: Option<&v1::EndpointAuth>) -> Option<Secret> {
    match auth?.method.as_ref()? {
        Method::Basic(basic) if basic.password.len() >= 8 => Some(Secret::basic(
            "a Basic password",
            &basic.username,
            &basic.password,
        )),
        Method::Header(header) if header.value.len() >= 8 => {
            Some(Secret::plain("a secret header's value", &header.value))
        }
        _ => None,
    }
}

/// Every secret recorded under `logs`, and those the tests configure.
pub fn made_and_configured(logs: &Path) -> std::io::Result<Vec<Secret>> {
    let mut secrets = configured();
    let ledger = logs.join(LEDGER);
    if ledger.is_dir() {
        for entry in std::fs::read_dir(ledger)? {
            for line in std::fs::read_to_string(entry?.path())?.lines() {
                let mut fields = line.split('\t');
                let what = fields.next().unwrap_or_default().to_owned();
                secrets.push(Secret {
                    what,
                    forms: fields.map(str::to_owned).collect(),
                });
            }
        }
    }
    Ok(secrets)
}

/// The credentials in the tests' settings: the master key and the HS256 token secret.
pub fn configured() -> Vec<Secret> {
    let setting = |key: &str| {
        crate::stack::TEST_ENV
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    };
    let master = setting("HOOKLINE__SECRETS__MASTER_KEYS");
    vec![
        Secret::plain(
            "the master key",
            master.split_once(':').map_or(master, |(_, key)| key),
        ),
        Secret::plain(
            "the HS256 token secret",
            setting("HOOKLINE__AUTH__HS256_SECRET"),
        ),
    ]
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

    #[test]
    fn shapes_of_secrets_are_found_whoever_made_them() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVz";
        assert_eq!(shapes(&format!("bearer {token}")), ["a JWT"]);
        assert_eq!(
            shapes("secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ["a signing secret (whsec_…)"]
        );
        assert_eq!(
            shapes("authorization: Basic aG9va2xpbmU6cGE1NXdvcmQ="),
            ["a Basic credential"]
        );
        // What logs do say about secrets: their names, prefixes and the words themselves.
        for clean in [
            "the secret starts with whsec_ and is shown once",
            "auth_method=basic header=webhook-signature",
            "eyJ alone, or eyJhbGciOiJIUzI1NiJ9 without the rest",
            "a basic test of the basics",
        ] {
            assert!(shapes(clean).is_empty(), "{clean}: {:?}", shapes(clean));
        }
    }

    /// Log text is whatever services wrote: markers cut off at the end, U+0000, control and multi-byte
    /// characters right after them, and megabytes of it. None of it may panic or be taken for a secret.
    #[test]
    fn hostile_text_neither_panics_nor_passes_for_a_secret() {
        for text in [
            "whsec_",
            "eyJ",
            "basic ",
            "Basic \u{0}\u{1b}[31m",
            "eyJé.eyJ€.sig",
            "whsec_ÄÖÜ\u{0}",
            "basic ✓✓✓✓✓✓✓✓✓",
            "\u{0}eyJhbGciOiJIUzI1NiJ9.\u{0}",
        ] {
            assert!(shapes(text).is_empty(), "{text:?}: {:?}", shapes(text));
        }
        let huge = "basic eyJ whsec_ \u{0} é ".repeat(200_000);
        assert!(shapes(&huge).is_empty());
        // A real one still stands out at the end of that.
        let leaked = format!("{huge}whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(shapes(&leaked), ["a signing secret (whsec_…)"]);
    }

    #[test]
    fn recorded_secrets_are_read_back_and_the_ledger_is_never_scanned() {
        let dir =
            std::env::temp_dir().join(format!("hookline-secret-ledger-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join(LEDGER)).unwrap();
        std::fs::write(
            dir.join(LEDGER).join("1.tsv"),
            "a password\tpa55word-long\n",
        )
        .unwrap();
        std::fs::write(dir.join("run.log"), "INFO nothing\n").unwrap();
        let secrets = made_and_configured(&dir).unwrap();
        assert!(secrets.iter().any(|s| s.forms == ["pa55word-long"]));
        assert!(leaks(&dir, &secrets).unwrap().is_empty());
        std::fs::write(dir.join("run.log"), "WARN sent pa55word-long\n").unwrap();
        let found = leaks(&dir, &secrets).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
