//! A verified capability token: the token string and its checked claims.

use super::claims::Claims;
use super::error::TokenError;
use super::paseto::{self, PublicKey, SigningKey};
use crate::time::UnixTime;

/// A capability token whose signature verified under the Authority key and
/// whose claims parsed (TOK-1..TOK-5). Only [`Capability::verify`] and
/// [`Capability::issue`] build one, so holding a `Capability` means the
/// claims are the signed ones. Expiry is not checked here: Stage 1 checks it
/// against each request's time (TOK-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    token: String,
    claims: Claims,
}

impl Capability {
    /// Verify `token` (parse, signature, claims — in that order) under `key`.
    pub fn verify(key: &PublicKey, token: &str) -> Result<Capability, TokenError> {
        let verified = paseto::verify(key, token)?;
        let claims = Claims::from_json(verified.message())?;
        Ok(Capability {
            token: token.to_owned(),
            claims,
        })
    }

    /// [`Capability::verify`] and then the expiry check: `exp <= now` is
    /// [`TokenError::Expired`].
    pub fn verify_at(
        key: &PublicKey,
        token: &str,
        now: UnixTime,
    ) -> Result<Capability, TokenError> {
        let cap = Capability::verify(key, token)?;
        if cap.claims.is_expired(now) {
            return Err(TokenError::Expired {
                token_id: cap.claims.token_id.clone(),
                expiry: cap.claims.expiry,
            });
        }
        Ok(cap)
    }

    /// Validate `claims` and sign them (no footer, no implicit assertion):
    /// what the Authority issues.
    pub fn issue(key: &SigningKey, claims: Claims) -> Result<Capability, TokenError> {
        claims.validate()?;
        let token = paseto::sign(key, claims.to_json().as_bytes(), b"");
        Ok(Capability { token, claims })
    }

    /// The token string, `v4.public.…`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}
