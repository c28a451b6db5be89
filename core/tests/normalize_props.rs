//! Request normalization: property tests (spec `NRM-*`).

use std::net::Ipv4Addr;

use firma_core::normalize::{Intent, RawRequest, normalize, normalize_host};
use proptest::prelude::*;

fn run(
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    tunnel: Option<&str>,
) -> Result<Intent, String> {
    normalize(&RawRequest {
        method,
        target,
        headers,
        tunnel,
    })
    .map_err(|m| m.detail)
}

/// The request a normalized intent describes, in absolute- or authority-form.
fn rebuild(i: &Intent) -> String {
    if i.connect {
        format!("{}:{}", i.host, i.port)
    } else {
        format!(
            "{}://{}{}",
            i.scheme.as_str(),
            i.authority,
            i.forward_target
        )
    }
}

/// DNS names whose last label is not numeric (so they are not IPv4).
fn dns_strategy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec("[a-zA-Z0-9_-]{1,8}", 0..3),
        "[a-zA-Z_-][a-zA-Z0-9_-]{0,7}",
    )
        .prop_map(|(mut labels, last)| {
            labels.push(last);
            labels.join(".")
        })
}

fn host_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (dns_strategy(), any::<bool>()).prop_map(|(h, dot)| if dot { format!("{h}.") } else { h }),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("0x{n:X}")),
        any::<[u8; 4]>().prop_map(|o| format!("0{:o}.{}.0x{:x}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", s.map(|x| format!("{x:X}")).join(":"))),
        any::<u32>().prop_map(|n| format!("[::ffff:{}]", Ipv4Addr::from(n))),
    ]
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9._~!$&'()*+,;=:@-]{0,6}",
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("%2e%2E".to_owned()),
            Just("%2f".to_owned()),
            Just("%7E".to_owned()),
            Just("%c3%a9".to_owned()),
            Just(String::new()),
        ],
        0..6,
    )
    .prop_map(|segs| format!("/{}", segs.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // NRM-17: normalizing the normalized request gives the same intent.
    #[test]
    fn idempotent(
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "CONNECT"]),
        https in any::<bool>(),
        host in host_strategy(),
        port in prop::option::of(prop_oneof![Just(80u16), Just(443u16), 1u16..=65535]),
        path in path_strategy(),
        query in prop::option::of("[a-zA-Z0-9=&%/?:@._~-]{0,10}"),
    ) {
        let scheme = if https { "HTTPS" } else { "http" };
        let authority = match port {
            Some(p) => format!("{host}:{p:05}"),
            None => host.clone(),
        };
        let target = if method == "CONNECT" {
            format!("{host}:{}", port.unwrap_or(443))
        } else {
            let q = query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{scheme}://{authority}{path}{q}")
        };
        let first = run(method, &target, &[], None);
        prop_assert!(first.is_ok(), "{} {}: {:?}", method, target, first);
        let first = first.unwrap();
        let again = run(method, &rebuild(&first), &[("Host", first.authority.as_bytes())], None);
        prop_assert_eq!(Ok(first), again);
    }

    // NRM-9: every IPv4 spelling of one address normalizes to one dotted quad.
    #[test]
    fn ipv4_spellings_agree(n in any::<u32>()) {
        let ip = Ipv4Addr::from(n);
        let o = ip.octets();
        let want = ip.to_string();
        let spellings = [
            want.clone(),
            n.to_string(),
            format!("0x{n:x}"),
            format!("0X{n:X}"),
            format!("0{n:o}"),
            format!("0{:o}.0{:o}.0{:o}.0{:o}", o[0], o[1], o[2], o[3]),
            format!("0x{:x}.0x{:x}.0x{:x}.0x{:x}", o[0], o[1], o[2], o[3]),
            format!("{}.{}", o[0], n & 0x00ff_ffff),
            format!("{}.{}.{}", o[0], o[1], n & 0xffff),
            format!("{want}."),
            format!("[::ffff:{want}]"),
            format!("[::ffff:{:x}:{:x}]", n >> 16, n & 0xffff),
        ];
        for s in spellings {
            prop_assert_eq!(normalize_host(&s).map(|h| h.0), Ok(want.clone()), "{}", s);
        }
    }

    // NRM-8..NRM-11: host normalization is idempotent.
    #[test]
    fn host_idempotent(host in host_strategy()) {
        if let Ok((h, _)) = normalize_host(&host) {
            prop_assert_eq!(normalize_host(&h).map(|x| x.0), Ok(h.clone()));
        }
    }

    // NRM-18: arbitrary input never panics, and every rejection is one line.
    #[test]
    fn never_panics(
        method in ".{0,8}",
        target in ".{0,40}",
        name in ".{0,8}",
        value in prop::collection::vec(any::<u8>(), 0..16),
        tunnel in prop::option::of(".{0,12}"),
    ) {
        let headers: [(&str, &[u8]); 1] = [(&name, &value)];
        if let Err(detail) = run(&method, &target, &headers, tunnel.as_deref()) {
            prop_assert!(!detail.contains('\n') && !detail.contains('\r'), "{}", detail);
        }
    }

    // NRM-18: near-valid targets (mutations of good ones) never panic either.
    #[test]
    fn near_valid_never_panics(
        prefix in prop::sample::select(vec!["http://", "HTTPS://", "", "/", "http://[", "http://a@"]),
        body in "[a-zA-Z0-9.:/%?#@\\[\\]\\\\ -]{0,30}",
    ) {
        let _ = run("GET", &format!("{prefix}{body}"), &[], None);
        let _ = run("CONNECT", &body, &[], None);
        let _ = run("GET", &format!("/{body}"), &[], Some("a.com:443"));
    }
}
