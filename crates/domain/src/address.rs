//! Web addresses that secrets, patients or software travel to, parsed as URLs. A prefix check is fooled:
//! `http://localhost:@evil.example` starts with `http://localhost` and is the host `evil.example`
//! (user name "localhost"); `http://127.0.0.1.evil.example` is a domain, not this computer.

use url::{Host, Url};

use crate::{DomainError, Gateway};

/// A parsed http(s) address with a host and nothing that could hide where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAddress(Url);

impl WebAddress {
    /// Parses `v`; `name` is the setting, for the error staff see.
    pub fn parse(name: &str, v: &str) -> Result<WebAddress, DomainError> {
        let a = WebAddress::parse_link(name, v)?;
        if a.0.query().is_some() || a.0.fragment().is_some() {
            return Err(DomainError::InvalidSetting(format!(
                "{name} must be a web address like https://api.example.com; \"{v}\" has a ? or # part."
            )));
        }
        Ok(a)
    }

    /// A link patients open, which may carry a query (`?patient={patient}`).
    pub fn parse_link(name: &str, v: &str) -> Result<WebAddress, DomainError> {
        let bad = |why: &str| {
            DomainError::InvalidSetting(format!(
                "{name} must be a web address like https://api.example.com; \"{v}\" {why}."
            ))
        };
        let url = Url::parse(v.trim()).map_err(|_| bad("is not a web address"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("does not start with https://"));
        }
        if url.host().is_none() {
            return Err(bad("names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "has a user name or password before the host (the part before @), which can hide the real host",
            ));
        }
        Ok(WebAddress(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// This computer: 127.0.0.0/8, ::1 or `localhost`.
    pub fn is_loopback(&self) -> bool {
        match self.0.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
    }

    /// Plain http to a server on this computer (the simulator, localstripe, a local mirror).
    pub fn is_local_http(&self) -> bool {
        self.0.scheme() == "http" && self.is_loopback()
    }

    /// The host, for messages ("api.stripe.com", "127.0.0.1").
    pub fn host(&self) -> String {
        self.0.host_str().unwrap_or_default().to_owned()
    }

    /// The address as stored: normalised by the URL parser, without a trailing slash.
    pub fn as_stored(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_owned()
    }
}

/// Who may send a gateway's secret where. A live clinic talks to its gateway over https only; plain
/// http reaches only the training simulator on this computer, in a training clinic (or, in a test
/// build, the stand-ins the tests run on this computer).
pub fn check_gateway_address(
    gateway: Gateway,
    address: Option<&str>,
    training: bool,
    test_build: bool,
) -> Result<(), DomainError> {
    let Some(address) = address else {
        return Ok(());
    };
    let name = format!("{}.api-base", gateway.as_str());
    let a = WebAddress::parse(&name, address)?;
    if a.is_https() || (a.is_local_http() && (training || test_build)) {
        return Ok(());
    }
    Err(DomainError::InvalidSetting(if a.is_local_http() {
        format!(
            "{name} is {address}, plain http on this computer: only a training clinic talks to the built-in simulator. A live clinic's {gateway} address starts with https:// (leave it empty for {gateway} itself)."
        )
    } else {
        format!(
            "{name} must start with https://: {gateway}'s secret is never sent in clear to {} (leave it empty for {gateway} itself).",
            a.host()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_before_the_host_is_refused_because_it_hides_the_real_host() {
        for v in [
            "http://localhost:@evil.example",
            "https://localhost@evil.example/v1",
            "http://127.0.0.1:pw@evil.example:8080",
        ] {
            assert!(WebAddress::parse("x", v).is_err(), "{v}");
        }
    }

    #[test]
    fn loopback_is_decided_by_the_parsed_host_not_by_a_prefix() {
        let local = |v: &str| WebAddress::parse("x", v).unwrap().is_local_http();
        assert!(local("http://127.0.0.1:8080/stripe"));
        assert!(local("http://127.5.6.7"));
        assert!(local("http://[::1]:9000"));
        assert!(local("http://LOCALHOST:1"));
        assert!(!local("http://127.0.0.1.evil.example/"));
        assert!(!local("http://localhost.evil.example/"));
        assert!(!local("https://127.0.0.1/"));
        assert!(!local("http://10.0.0.5/"));
    }

    #[test]
    fn other_schemes_query_strings_and_hostless_addresses_are_refused() {
        for v in [
            "ftp://x.example",
            "file:///etc/passwd",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "https://",
            "stripe.com",
            "",
        ] {
            assert!(WebAddress::parse("x", v).is_err(), "{v}");
        }
    }

    #[test]
    fn a_live_clinic_sends_secrets_over_https_only() {
        let check =
            |a, training, test| check_gateway_address(Gateway::Stripe, Some(a), training, test);
        assert!(check("https://stripe-proxy.clinic.example/v1", false, false).is_ok());
        let e = check("http://127.0.0.1:9000/stripe", false, false).unwrap_err();
        assert!(e.to_string().contains("only a training clinic"), "{e}");
        let e = check("http://stripe.evil.example", false, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("never sent in clear to stripe.evil.example"),
            "{e}"
        );
        assert!(check("http://stripe.evil.example", true, true).is_err());
        assert!(check("http://localhost:@evil.example", true, true).is_err());
        assert!(check("http://127.0.0.1:9000/stripe", true, false).is_ok());
        assert!(check("http://127.0.0.1:9000/stripe", false, true).is_ok());
        assert!(check_gateway_address(Gateway::Nmi, None, false, false).is_ok());
    }
}
