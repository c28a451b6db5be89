//! The error types of the token layer: [`TokenError`] for tokens and claims,
//! [`SeedError`] for capability seed files (spec `TOK-*`).

use crate::config::Location;
use crate::time::UnixTime;

/// Why a capability token was rejected. Every variant is a `TokenInvalid`
/// deny except [`TokenError::Expired`] (`TokenExpired`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The text is not a well-formed `v4.public` PASETO (TOK-1).
    #[error("token is not a v4.public paseto: {reason}")]
    ParseFailure {
        /// What is wrong with the token's shape, one line.
        reason: String,
    },
    /// The Ed25519 signature does not verify under the Authority key (TOK-2).
    #[error("token signature does not verify against the authority public key")]
    SignatureInvalid,
    /// The signed payload is not a JSON object (TOK-4).
    #[error("token payload is not a json object: {reason}")]
    MalformedPayload {
        /// The JSON parser's description, one line.
        reason: String,
    },
    /// One claim is missing, of the wrong type, or invalid (TOK-4, TOK-5).
    #[error("token claim `{claim}` {reason}")]
    Malformed {
        /// The claim's name, e.g. `exp`.
        claim: String,
        /// Why, starting with a verb and naming the bad value in backticks.
        reason: String,
    },
    /// `exp <= now` (TOK-6).
    #[error("token `{token_id}` expired at {expiry}")]
    Expired {
        /// The verified token id.
        token_id: String,
        /// The verified `exp` claim.
        expiry: UnixTime,
    },
    /// Key bytes that are not an Ed25519 key (TOK-3).
    #[error("authority key {reason}")]
    Key {
        /// What is wrong with the key bytes.
        reason: String,
    },
}

/// Why a capability seed file was rejected (TOK-9..TOK-11). Every variant
/// names the file and, where known, the line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// The text is not valid TOML.
    #[error("{at}: invalid toml: {message}")]
    Syntax {
        /// File and position reported by the TOML parser.
        at: Box<Location>,
        /// The parser's description, one line.
        message: String,
    },
    /// A key the seed format does not define.
    #[error("{at}: unknown key `{key}`")]
    UnknownKey {
        /// File and position of the key.
        at: Box<Location>,
        /// The key as written.
        key: String,
    },
    /// A required key is absent.
    #[error("{at}: missing key `{key}`")]
    MissingKey {
        /// The file (no position: the key is absent).
        at: Box<Location>,
        /// The missing key.
        key: String,
    },
    /// A value of the wrong TOML type.
    #[error("{at}: `{key}`: expected {expected}, found `{value}`")]
    WrongType {
        /// File and position of the value.
        at: Box<Location>,
        /// The key (array items carry `[index]`).
        key: String,
        /// What the format wants, e.g. `a string`.
        expected: String,
        /// The value as written (shortened, escaped).
        value: String,
    },
    /// A value of the right type that fails validation.
    #[error("{at}: `{key}`: `{value}` {reason}")]
    InvalidValue {
        /// File and position of the value.
        at: Box<Location>,
        /// The key (array items carry `[index]`).
        key: String,
        /// The value (shortened, escaped).
        value: String,
        /// Why, starting with a verb.
        reason: String,
    },
    /// `raw_token` does not verify or its claims are malformed.
    #[error("{at}: `raw_token`: {source}")]
    Token {
        /// File and position of `raw_token`.
        at: Box<Location>,
        /// Why the token was rejected.
        source: TokenError,
    },
    /// A seed field disagrees with the signed claim it mirrors (TOK-10).
    #[error("{at}: `{key}` = `{seed}` disagrees with the signed token claim `{claim}`")]
    Mismatch {
        /// File and position of the seed value.
        at: Box<Location>,
        /// The seed key.
        key: String,
        /// The seed's value (shortened, escaped).
        seed: String,
        /// The signed claim's value (shortened, escaped).
        claim: String,
    },
}

impl SeedError {
    /// Where the error was found.
    pub fn location(&self) -> &Location {
        match self {
            Self::Syntax { at, .. }
            | Self::UnknownKey { at, .. }
            | Self::MissingKey { at, .. }
            | Self::WrongType { at, .. }
            | Self::InvalidValue { at, .. }
            | Self::Token { at, .. }
            | Self::Mismatch { at, .. } => at,
        }
    }
}

/// Longest value shown in a message, in characters.
const MAX_SHOWN: usize = 96;

/// A value for a one-line message: control characters and backticks escaped,
/// cut after [`MAX_SHOWN`] characters.
pub(crate) fn show(value: &str) -> String {
    crate::config::show_cut(value, MAX_SHOWN)
}

/// Collapse a parser message onto one line.
pub(crate) fn one_line(message: &str) -> String {
    let cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}
