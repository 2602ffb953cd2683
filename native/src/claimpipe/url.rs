//! `GATEWAY_REDIS_URL`, read the way redis-py reads it (`redis.connection.parse_url`), so the
//! pipeline and the Python side agree on one URL:
//! `redis[s]://[[user][:password]@]host[:port][/db][?db=N&ssl_cert_reqs=...&ssl_ca_certs=...]`.
//!
//! User, password and host are percent-decoded; query values are form-decoded (`+` is a
//! space); `?db=` wins over the path; an IPv6 host is written in brackets. Query parameters the
//! pipeline has no use for (redis-py's pool and socket options) are ignored. Two departures,
//! both refusals where redis-py would go on: a database that is not a number is an error
//! (redis-py silently uses 0), and the `ssl_*` parameters on a `redis://` URL are an error
//! (redis-py fails later, when it connects).

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// How a `rediss://` connection checks the server (redis-py's `ssl_cert_reqs`). For a client
/// `optional` means `required` (Python's `ssl.CERT_OPTIONAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertReqs {
    None,
    Required,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
    pub cert_reqs: CertReqs,
    /// A PEM file of the CA(s) the server's certificate must chain to (`ssl_ca_certs`); it
    /// replaces the system's trust store for this connection.
    pub ca_certs: Option<PathBuf>,
    /// Whether the certificate must name the host (`ssl_check_hostname`, default true as in
    /// redis-py 6+; always off with `ssl_cert_reqs=none`).
    pub check_hostname: bool,
}

fn unquote(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn unquote_plus(text: &str) -> String {
    unquote(&text.replace('+', " "))
}

/// redis-py's `to_bool` of a URL value.
fn to_bool(value: &str) -> bool {
    !matches!(
        value.to_ascii_uppercase().as_str(),
        "0" | "F" | "FALSE" | "N" | "NO"
    )
}

impl RedisUrl {
    /// Parses `url`; the error names what is wrong (never the password).
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss://") {
            (true, rest)
        } else {
            return Err("must start with redis:// or rediss://".into());
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (netloc, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostinfo) = match netloc.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, netloc),
        };
        let (host, port) = if let Some(bracketed) = hostinfo.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("has an IPv6 host without its closing ']'")?;
            match after {
                "" => (host, ""),
                _ => (
                    host,
                    after
                        .strip_prefix(':')
                        .ok_or("has text after the IPv6 host")?,
                ),
            }
        } else {
            hostinfo.split_once(':').unwrap_or((hostinfo, ""))
        };
        let port = if port.is_empty() {
            6379
        } else {
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("has a port that is not a port number: {port:?}"))?
        };
        let host = unquote(host).to_lowercase();
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                (
                    (!user.is_empty()).then(|| unquote(user)),
                    password.filter(|p| !p.is_empty()).map(unquote),
                )
            }
        };
        let mut db = None;
        let mut cert_reqs = None;
        let mut ca_certs = None;
        let mut check_hostname = None;
        for pair in query.split(['&', ';']).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (unquote_plus(name), unquote_plus(value));
            if value.is_empty() {
                continue; // parse_qs drops blank values
            }
            // parse_qs keeps every value; redis-py takes the first.
            match name.as_str() {
                "db" if db.is_none() => {
                    db = Some(value.parse::<i64>().map_err(|_| {
                        format!("has a database (?db=) that is not a number: {value:?}")
                    })?);
                }
                "ssl_cert_reqs" if cert_reqs.is_none() => {
                    cert_reqs = Some(match value.as_str() {
                        "none" => CertReqs::None,
                        "optional" | "required" => CertReqs::Required,
                        _ => {
                            return Err(format!(
                                "has ssl_cert_reqs={value:?}: use none, optional or required"
                            ))
                        }
                    });
                }
                "ssl_ca_certs" if ca_certs.is_none() => ca_certs = Some(PathBuf::from(value)),
                "ssl_check_hostname" if check_hostname.is_none() => {
                    check_hostname = Some(to_bool(&value));
                }
                _ => {}
            }
        }
        if !tls && (cert_reqs.is_some() || ca_certs.is_some() || check_hostname.is_some()) {
            return Err("has ssl_* parameters, which need rediss://".into());
        }
        let db = match db {
            Some(db) => db,
            None => {
                let digits = unquote(path).replace('/', "");
                if digits.is_empty() {
                    0
                } else {
                    digits.parse::<i64>().map_err(|_| {
                        format!("has a database (the path) that is not a number: {digits:?}")
                    })?
                }
            }
        };
        let cert_reqs = cert_reqs.unwrap_or(CertReqs::Required);
        Ok(RedisUrl {
            tls,
            host: if host.is_empty() {
                "localhost".into()
            } else {
                host
            },
            port,
            db,
            username,
            password,
            cert_reqs,
            ca_certs,
            check_hostname: cert_reqs == CertReqs::Required && check_hostname.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> RedisUrl {
        RedisUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn reads_host_port_and_db() {
        let a = parse("redis://127.0.0.1:56379/1");
        assert_eq!(
            (a.host.as_str(), a.port, a.db, a.tls),
            ("127.0.0.1", 56379, 1, false)
        );
        let b = parse("redis://:secret@Cache.Internal/3");
        assert_eq!(
            (
                b.host.as_str(),
                b.port,
                b.db,
                b.username,
                b.password.as_deref()
            ),
            ("cache.internal", 6379, 3, None, Some("secret"))
        );
        let c = parse("redis://user:pw@h:1");
        assert_eq!(c.username.as_deref(), Some("user"));
        assert_eq!(parse("redis://h").host, "h");
        assert_eq!(parse("redis://").host, "localhost");
        assert_eq!(parse("redis://h/").db, 0);
        assert_eq!(
            parse("redis://h/2?db=5").db,
            5,
            "the query wins, as in redis-py"
        );
        assert_eq!(parse("redis://h?db=4").db, 4);
        assert_eq!(parse("redis://user@h").password, None);
    }

    #[test]
    fn percent_decodes_user_and_password() {
        let u = parse("redis://:p%40ss%3Aw%2Frd@host:7000/2");
        assert_eq!(u.password.as_deref(), Some("p@ss:w/rd"));
        assert_eq!((u.host.as_str(), u.port, u.db), ("host", 7000, 2));
        let v = parse("redis://us%3Aer:a:b@host");
        assert_eq!(v.username.as_deref(), Some("us:er"));
        assert_eq!(
            v.password.as_deref(),
            Some("a:b"),
            "the first ':' splits user and password"
        );
        let w = parse("redis://u:x@y@host");
        assert_eq!(
            w.password.as_deref(),
            Some("x@y"),
            "the last '@' ends the credentials"
        );
        assert_eq!(w.host, "host");
        assert_eq!(
            parse("redis://:%E5%AF%86@h").password.as_deref(),
            Some("密")
        );
    }

    #[test]
    fn reads_ipv6_hosts() {
        let a = parse("redis://[::1]:6380/3");
        assert_eq!((a.host.as_str(), a.port, a.db), ("::1", 6380, 3));
        assert_eq!(parse("redis://[fe80::1]").port, 6379);
        assert!(RedisUrl::parse("redis://[::1").is_err());
        assert!(RedisUrl::parse("redis://[::1]x").is_err());
    }

    #[test]
    fn reads_tls_parameters_by_redis_py_names() {
        let a = parse("rediss://h:6380");
        assert!(a.tls && a.check_hostname && a.cert_reqs == CertReqs::Required);
        let b = parse("rediss://h?ssl_cert_reqs=none");
        assert_eq!((b.cert_reqs, b.check_hostname), (CertReqs::None, false));
        let c = parse("rediss://h?ssl_cert_reqs=optional&ssl_ca_certs=%2Ftmp%2Fca.pem");
        assert_eq!(c.cert_reqs, CertReqs::Required);
        assert_eq!(c.ca_certs, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(!parse("rediss://h?ssl_check_hostname=false").check_hostname);
        assert_eq!(
            parse("rediss://h?health_check_interval=3&db=2").db,
            2,
            "redis-py's other options are ignored"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_why() {
        for (url, says) in [
            ("http://x", "redis://"),
            ("unix:///tmp/r.sock", "redis://"),
            ("redis://h:notaport", "port"),
            ("redis://h:70000", "port"),
            ("redis://h:1/x", "database"),
            ("redis://h?db=x", "database"),
            ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
            ("redis://h?ssl_cert_reqs=none", "rediss://"),
        ] {
            let e = RedisUrl::parse(url).expect_err(url);
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = RedisUrl::parse("redis://:hunter2@h:x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
