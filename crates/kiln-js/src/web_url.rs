//! WHATWG URL parsing and setters in the shape the prelude's `URL` class consumes: the
//! native half of `host.urlParse` / `host.urlSet`. Backed by the `url` crate's standard
//! implementation (`url::quirks` exposes exactly the URL Standard's getters and setters).

use url::{Url, quirks as q};

/// The components of a URL in the order the prelude expects:
/// `[href, protocol, username, password, host, hostname, port, pathname, search, hash, origin]`.
pub fn parts(url: &Url) -> Vec<String> {
    vec![
        q::href(url).to_owned(),
        q::protocol(url).to_owned(),
        q::username(url).to_owned(),
        q::password(url).to_owned(),
        q::host(url).to_owned(),
        q::hostname(url).to_owned(),
        q::port(url).to_owned(),
        q::pathname(url).to_owned(),
        q::search(url).to_owned(),
        q::hash(url).to_owned(),
        q::origin(url),
    ]
}

/// Parses `input` (against `base` when given); `None` when either is not a valid URL.
pub fn parse(input: &str, base: Option<&str>) -> Option<Vec<String>> {
    let parsed = match base {
        Some(base) => Url::parse(base).and_then(|b| b.join(input)),
        None => Url::parse(input),
    };
    parsed.ok().map(|u| parts(&u))
}

/// Applies the URL Standard setter for `part` to `href`. A setter that rejects its value
/// leaves the URL unchanged (as the standard says), except `href`, which answers `None`
/// (the `URL` class then throws). Unknown parts also answer `None`.
pub fn set(href: &str, part: &str, value: &str) -> Option<Vec<String>> {
    let mut url = Url::parse(href).ok()?;
    let accepted = match part {
        "href" => q::set_href(&mut url, value).is_ok(),
        "protocol" => q::set_protocol(&mut url, value).is_ok(),
        "username" => q::set_username(&mut url, value).is_ok(),
        "password" => q::set_password(&mut url, value).is_ok(),
        "host" => q::set_host(&mut url, value).is_ok(),
        "hostname" => q::set_hostname(&mut url, value).is_ok(),
        "port" => q::set_port(&mut url, value).is_ok(),
        "pathname" => {
            q::set_pathname(&mut url, value);
            true
        }
        "search" => {
            q::set_search(&mut url, value);
            true
        }
        "hash" => {
            q::set_hash(&mut url, value);
            true
        }
        _ => return None,
    };
    if !accepted && part == "href" {
        return None;
    }
    Some(parts(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_to_a_base_and_applies_setters() {
        let p = parse("../x?y#z", Some("https://a.example:8443/b/c")).expect("valid");
        assert_eq!(p[0], "https://a.example:8443/x?y#z");
        assert_eq!(p[10], "https://a.example:8443");
        assert!(parse("not a url", None).is_none());
        let p = set("http://h/p", "port", "81").expect("set");
        assert_eq!(p[4], "h:81");
        // A rejected port leaves the URL as it was; a rejected href is an error.
        assert_eq!(
            set("http://h/p", "port", "x").expect("unchanged")[0],
            "http://h/p"
        );
        assert!(set("http://h/p", "href", "::").is_none());
        assert!(set("http://h/p", "nonsense", "x").is_none());
    }
}
