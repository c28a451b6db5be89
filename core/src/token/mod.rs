//! Capability tokens (spec `spec/tokens.md`, `TOK-*`): PASETO `v4.public`
//! signing and verification, the claims, the seed files the Sidecar loads
//! tokens from, the Authority's revocation list, and its issuance decisions
//! ([`issuance`], spec `ISS-*`).
//!
//! Sans-IO like the rest of the crate: keys, file contents and the current
//! time are arguments. The shell reads the Authority's 32-byte public key
//! ([`PublicKey::from_bytes`]), each seed file ([`Seed::parse`]), and the
//! revocation stream or file ([`RevocationSet`]), and hands the results to
//! the engine (`Engine::handle_capabilities`, `Engine::handle_revocations`).

mod capability;
mod claims;
mod error;
mod ids;
pub mod issuance;
mod paseto;
mod revocation;
mod scope;
mod seed;

#[cfg(test)]
mod tests;

pub use capability::Capability;
pub use claims::{CLAIM_NAMES, Claims, rfc3339};
pub(crate) use error::show;
pub use error::{SeedError, TokenError};
pub use ids::{
    AGENT_ID_PREFIX, TOKEN_ID_PREFIX, agent_id_problem, context_hash, context_hash_problem,
    is_token_id, session_id_problem, token_id_from_uuid, token_id_problem,
};
pub use issuance::{
    Denial, DenialCode, Grant, IssuanceInput, IssuanceRequest, RefusedAction, new_token_id,
};
pub use paseto::{
    HEADER, MAX_TOKEN_LEN, PublicKey, SigningKey, Verified, pae, sign, sign_with_assertion, verify,
    verify_with,
};
pub use revocation::{
    DEFAULT_REASON, Revocation, RevocationSet, RevocationWarning, parse_revocations,
};
pub use scope::ResourceScope;
pub use seed::{SEED_KEYS, Seed};
