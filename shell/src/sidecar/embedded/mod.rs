//! What the Sidecar runs on when no `firma.toml` is found (SDC-3): the vendor
//! mapping packs and a development posture, compiled into the binary.

/// `(file name, contents)` of every built-in mapping pack.
pub const MAPPING_PACKS: &[(&str, &str)] = &[
    (
        "packs/anthropic.toml",
        include_str!("../../../../fixtures/packs/mappings/anthropic.toml"),
    ),
    (
        "packs/cargo.toml",
        include_str!("../../../../fixtures/packs/mappings/cargo.toml"),
    ),
    (
        "packs/github.toml",
        include_str!("../../../../fixtures/packs/mappings/github.toml"),
    ),
    (
        "packs/gmail.toml",
        include_str!("../../../../fixtures/packs/mappings/gmail.toml"),
    ),
    (
        "packs/npm.toml",
        include_str!("../../../../fixtures/packs/mappings/npm.toml"),
    ),
    (
        "packs/openai.toml",
        include_str!("../../../../fixtures/packs/mappings/openai.toml"),
    ),
    (
        "packs/pypi.toml",
        include_str!("../../../../fixtures/packs/mappings/pypi.toml"),
    ),
    (
        "packs/stripe.toml",
        include_str!("../../../../fixtures/packs/mappings/stripe.toml"),
    ),
];

/// The built-in development policy: the `dev` posture pack.
pub const DEV_POLICY: (&str, &str) = (
    "dev.cedar",
    include_str!("../../../../fixtures/packs/policies/dev.cedar"),
);
