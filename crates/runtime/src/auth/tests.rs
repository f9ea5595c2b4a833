use std::time::Duration;

use secrecy::SecretString;

use super::*;
use crate::config::AuthSettings;

const SECRET: &str = "a-development-secret-of-enough-length";

fn settings() -> AuthSettings {
    AuthSettings {
        hs256_secret: SecretString::from(SECRET),
        public_keys: vec![],
        issuer: String::new(),
        audience: String::new(),
        leeway: Duration::ZERO,
    }
}

fn claims(org: Option<&str>, roles: &[Role], permissions: &[&str]) -> Claims {
    Claims {
        sub: "user-1".into(),
        org: org.map(str::to_owned),
        roles: roles.to_vec(),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        exp: jsonwebtoken::get_current_timestamp() + 600,
        iss: None,
        aud: None,
    }
}

fn caller(org: Option<&str>, roles: &[Role], permissions: &[&str]) -> Caller {
    let token = mint_hs256(
        &SecretString::from(SECRET),
        &claims(org, roles, permissions),
    )
    .unwrap();
    Verifier::from_settings(&settings())
        .unwrap()
        .verify(&token)
        .unwrap()
}

#[test]
fn tokens_signed_elsewhere_or_expired_are_refused() {
    let verifier = Verifier::from_settings(&settings()).unwrap();
    let forged = mint_hs256(
        &SecretString::from("another-secret"),
        &claims(Some("org_a"), &[Role::OrgAdmin], &[]),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&forged),
        Err(AuthError::Unauthenticated(_))
    ));
    let mut old = claims(Some("org_a"), &[Role::OrgAdmin], &[]);
    old.exp = jsonwebtoken::get_current_timestamp() - 120;
    let expired = mint_hs256(&SecretString::from(SECRET), &old).unwrap();
    assert_eq!(
        verifier.verify(&expired).unwrap_err(),
        AuthError::Unauthenticated("the token has expired".into())
    );
    assert!(verifier.verify("not.a.token").is_err());
}

#[test]
fn a_token_with_the_wrong_issuer_or_audience_is_refused() {
    let mut s = settings();
    s.issuer = "hookline".into();
    s.audience = "hookline-api".into();
    let verifier = Verifier::from_settings(&s).unwrap();
    let mut c = claims(Some("org_a"), &[Role::OrgAdmin], &[]);
    let token = |c: &Claims| mint_hs256(&SecretString::from(SECRET), c).unwrap();
    assert!(verifier.verify(&token(&c)).is_err());
    c.iss = Some("hookline".into());
    c.aud = Some("hookline-api".into());
    assert!(verifier.verify(&token(&c)).is_ok());
}

#[test]
fn no_key_configured_is_a_start_up_error() {
    let mut s = settings();
    s.hs256_secret = SecretString::from("");
    assert!(Verifier::from_settings(&s).is_err());
}

#[test]
fn org_admins_and_the_webhooks_permission_manage_only_their_organisation() {
    for c in [
        caller(Some("org_a"), &[Role::OrgAdmin], &[]),
        caller(Some("org_a"), &[], &[WEBHOOKS_PERMISSION]),
    ] {
        assert_eq!(
            c.authorize(Action::ManageWebhooks, "org_a")
                .unwrap()
                .as_str(),
            "org_a"
        );
        assert_eq!(
            c.authorize(Action::ManageWebhooks, "").unwrap().as_str(),
            "org_a"
        );
        assert!(matches!(
            c.authorize(Action::ManageWebhooks, "org_b"),
            Err(AuthError::PermissionDenied(_))
        ));
        assert!(c.authorize_global(Action::ManageCatalog).is_err());
    }
}

#[test]
fn super_admins_act_anywhere_but_must_name_the_organisation() {
    let c = caller(None, &[Role::SuperAdmin], &[]);
    assert!(c.authorize(Action::ManageWebhooks, "org_b").is_ok());
    assert!(c.authorize_global(Action::ManageCatalog).is_ok());
    assert!(matches!(
        c.authorize(Action::ManageWebhooks, ""),
        Err(AuthError::Organisation(_))
    ));
}

#[test]
fn roles_grant_only_their_own_actions() {
    let viewer = caller(Some("org_a"), &[Role::Viewer], &[]);
    assert!(viewer.authorize(Action::ReadLog, "org_a").is_ok());
    assert!(viewer.authorize(Action::ManageWebhooks, "org_a").is_err());
    assert!(viewer.authorize(Action::ReadWebhooks, "org_a").is_ok());
    assert!(viewer.authorize(Action::Publish, "org_a").is_err());
    let publisher = caller(Some("org_a"), &[Role::Publisher], &[]);
    assert!(publisher.authorize(Action::Publish, "org_a").is_ok());
    assert!(publisher.authorize(Action::ReadLog, "org_a").is_err());
    let service = caller(Some(ANY_ORGANISATION), &[Role::Publisher], &[]);
    assert!(service.authorize(Action::Publish, "org_z").is_ok());
}

#[test]
fn a_token_without_an_organisation_acts_for_none() {
    let c = caller(None, &[Role::OrgAdmin], &[]);
    assert!(matches!(
        c.authorize(Action::ManageWebhooks, "org_a"),
        Err(AuthError::PermissionDenied(_))
    ));
}

/// Production keys: a token signed with the private half verifies against the configured public half,
/// and a token signed by a different key of the same kind does not.
#[test]
fn tokens_signed_with_rsa_ed25519_and_p256_keys_verify_against_their_public_keys() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let dir = std::env::temp_dir().join(format!("hookline-auth-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let rsa_public = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/auth/testdata/rsa_public.pem"
    );
    let rsa_private = include_bytes!("testdata/rsa_private.pem");
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let mut s = settings();
    s.hs256_secret = SecretString::from("");
    s.public_keys = vec![
        rsa_public.into(),
        write("ed.pem", ed.public_key_pem()),
        write("ec.pem", ec.public_key_pem()),
    ];
    let verifier = Verifier::from_settings(&s).unwrap();
    let c = claims(Some("org_a"), &[Role::OrgAdmin], &[]);
    let sign = |alg: Algorithm, key: EncodingKey| {
        jsonwebtoken::encode(&Header::new(alg), &c, &key).unwrap()
    };
    for (alg, key) in [
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(rsa_private).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
        ),
    ] {
        let caller = verifier
            .verify(&sign(alg, key))
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(caller.authorize(Action::ManageWebhooks, "org_a").is_ok());
    }
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let forged = sign(
        Algorithm::EdDSA,
        EncodingKey::from_ed_pem(stranger.serialize_pem().as_bytes()).unwrap(),
    );
    assert!(matches!(
        verifier.verify(&forged),
        Err(AuthError::Unauthenticated(_))
    ));
    // With only public keys configured, an HS256 token (even one "signed" with a public key) is refused.
    let hs = mint_hs256(&SecretString::from(SECRET), &c).unwrap();
    assert!(verifier.verify(&hs).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_operations_organisation_is_the_platform_teams_alone() {
    let reserved = hookline_core::operational::OPERATIONS_ORGANISATION;
    let denied = |result: Result<OrganisationId, AuthError>| matches!(result, Err(AuthError::PermissionDenied(why)) if why.contains(reserved));
    // A token bound to it gets nothing, named or implied.
    let bound = caller(Some(reserved), &[Role::OrgAdmin, Role::Publisher], &[]);
    assert!(denied(bound.authorize(Action::ReadWebhooks, reserved)));
    assert!(denied(bound.authorize(Action::ManageWebhooks, "")));
    assert!(denied(bound.authorize(Action::Publish, "")));
    // The platform team sees and mends its endpoint; nobody publishes to it.
    let platform = caller(None, &[Role::SuperAdmin], &[]);
    assert_eq!(
        platform
            .authorize(Action::ReadLog, reserved)
            .unwrap()
            .as_str(),
        reserved
    );
    assert!(platform.authorize(Action::ManageWebhooks, reserved).is_ok());
    assert!(denied(platform.authorize(Action::Publish, reserved)));
    let producer = caller(Some("*"), &[Role::Publisher], &[]);
    assert!(denied(producer.authorize(Action::Publish, reserved)));
    assert!(producer.authorize(Action::Publish, "org_a").is_ok());
    // Near-spellings are not a way in: with U+0000, a control character or a space they are no
    // organisation at all, and a token claiming one is bound to none.
    for near in [
        format!("{reserved}\u{0}"),
        format!("{reserved}\n"),
        format!(" {reserved}"),
    ] {
        assert!(matches!(
            producer.authorize(Action::Publish, &near),
            Err(AuthError::Organisation(_))
        ));
        let bound = caller(Some(&near), &[Role::OrgAdmin], &[]);
        assert!(matches!(
            bound.authorize(Action::ReadWebhooks, ""),
            Err(AuthError::PermissionDenied(_))
        ));
    }
}
