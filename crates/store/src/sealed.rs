//! A webhook's sealed secrets as its row stores them: each sealed value beside the id of the master key
//! that sealed it. The delivery side opens them to sign; the registry re-seals them under a new key.

/// The sealed-secret columns of `webhooks`, read together wherever a row's secrets are needed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedColumns {
    pub secret_key_id: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    /// The previous secret, during a rotation's overlap.
    pub previous_secret_key_id: Option<String>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    /// The endpoint's credentials (basic or a header), if it has any.
    pub auth_key_id: Option<String>,
    pub auth_sealed: Option<Vec<u8>>,
}
