//! The closed action-class registry (spec `ACL-*`).
//!
//! Forty-four classes from the FEP registry plus `model.inference.chat`. The Cedar
//! schema in `spec/firma.cedarschema` declares exactly these actions; a test keeps the
//! two in step.

use std::fmt;
use std::str::FromStr;

macro_rules! registry {
    ($( $variant:ident => $id:literal ),* $(,)?) => {
        /// One canonical action class. Closed: unknown identifiers do not parse.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ActionClass {
            $( #[doc = $id] $variant, )*
        }

        impl ActionClass {
            /// Every class, in registry order.
            pub const ALL: &'static [ActionClass] = &[ $( ActionClass::$variant, )* ];

            /// The dotted identifier, e.g. `communication.external.send`.
            pub const fn as_str(self) -> &'static str {
                match self { $( ActionClass::$variant => $id, )* }
            }
        }

        impl FromStr for ActionClass {
            type Err = UnknownActionClass;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $id => Ok(ActionClass::$variant), )*
                    _ => Err(UnknownActionClass(s.to_owned())),
                }
            }
        }
    };
}

registry! {
    // FEP v0.1 base (15)
    AccountPermissionChange => "account.permission.change",
    BrowserPurchase => "browser.purchase",
    CommunicationExternalSend => "communication.external.send",
    CommunicationInternalSend => "communication.internal.send",
    CredentialRead => "credential.read",
    CredentialWrite => "credential.write",
    FilesystemDelete => "filesystem.delete",
    FilesystemRead => "filesystem.read",
    FilesystemWrite => "filesystem.write",
    MemoryCrossNamespaceRead => "memory.cross_namespace.read",
    MemoryCrossNamespaceWrite => "memory.cross_namespace.write",
    PaymentPurchase => "payment.purchase",
    PaymentTransfer => "payment.transfer",
    SystemExecute => "system.execute",
    SystemInstall => "system.install",
    // Code hosting (12)
    CodeRead => "code.read",
    CodeReviewRead => "code.review.read",
    CodeReviewSubmit => "code.review.submit",
    CodeWrite => "code.write",
    CodeDestructive => "code.destructive",
    CodeMerge => "code.merge",
    IssueRead => "issue.read",
    IssueWrite => "issue.write",
    NotificationManage => "notification.manage",
    SecurityAlertRead => "security.alert.read",
    RepoLifecycle => "repo.lifecycle",
    RepoAdmin => "repo.admin",
    // Payments (12)
    PaymentRead => "payment.read",
    PaymentCancel => "payment.cancel",
    PaymentRefund => "payment.refund",
    PaymentPayout => "payment.payout",
    PaymentDispute => "payment.dispute",
    PaymentSubscription => "payment.subscription",
    PaymentMethodSetup => "payment.method.setup",
    PaymentMethodManage => "payment.method.manage",
    PaymentCatalogWrite => "payment.catalog.write",
    PaymentTax => "payment.tax",
    CustomerRead => "customer.read",
    CustomerWrite => "customer.write",
    // Mail (5)
    CommunicationExternalRead => "communication.external.read",
    CommunicationExternalDraft => "communication.external.draft",
    CommunicationExternalManage => "communication.external.manage",
    CommunicationExternalDelete => "communication.external.delete",
    CommunicationExternalFilter => "communication.external.filter",
    // Model APIs (1)
    ModelInferenceChat => "model.inference.chat",
}

impl fmt::Display for ActionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no class in the registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown action class `{0}`")]
pub struct UnknownActionClass(pub String);

impl UnknownActionClass {
    /// The closest registry identifier, for a "did you mean" hint.
    pub fn suggestion(&self) -> Option<ActionClass> {
        ActionClass::ALL
            .iter()
            .copied()
            .map(|c| (edit_distance(&self.0, c.as_str()), c))
            .filter(|(d, _)| *d <= 3)
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_45_unique_classes() {
        assert_eq!(ActionClass::ALL.len(), 45);
        let mut ids: Vec<&str> = ActionClass::ALL.iter().map(|c| c.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 45);
    }

    #[test]
    fn round_trips_and_rejects_typos() {
        for c in ActionClass::ALL {
            assert_eq!(c.as_str().parse::<ActionClass>(), Ok(*c));
        }
        let err = "communications.external.send"
            .parse::<ActionClass>()
            .unwrap_err();
        assert_eq!(
            err.suggestion(),
            Some(ActionClass::CommunicationExternalSend)
        );
        assert_eq!(
            err.to_string(),
            "unknown action class `communications.external.send`"
        );
    }
}
