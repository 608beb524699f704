//! How a registry asks who is calling, and how peti answers.
//!
//! A registry that wants a login answers `401 Unauthorized` with a
//! `WWW-Authenticate` header naming a *scheme* and its parameters:
//!
//! - `Basic realm="..."`: send `Authorization: Basic BASE64(user:password)`
//!   on every request (the registry checks each one: `docker-registry` with
//!   an htpasswd file does this);
//! - `Bearer realm="https://auth.example/token",service="...",scope="..."`:
//!   ask the token service at `realm` for a token granting `scope` (for
//!   example `repository:library/busybox:pull`), logged in with Basic auth
//!   if there are credentials and anonymously if not, then send
//!   `Authorization: Bearer TOKEN`. Docker Hub works this way; the token is
//!   short-lived and names exactly what it allows.
//!
//! The header is what a registry (or whoever answers in its place) controls,
//! so it is parsed strictly and has a fuzz target; and credentials go to a
//! token service only over HTTPS, or on this machine, or when
//! `--tls-verify=false` says plain HTTP is accepted.

use base64::Engine as _;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of an `Authorization` header in the Basic scheme.
    pub fn basic(&self) -> String {
        format!("Basic {}", self.encoded())
    }

    /// `BASE64(user:password)`, as Basic auth and Docker's config.json keep it.
    pub fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }

    /// Reads `BASE64(user:password)` back; `None` if it is not that.
    pub fn decode(encoded: &str) -> Option<Credentials> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        })
    }
}

/// What a `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Why a `WWW-Authenticate` header could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("the registry's WWW-Authenticate header is malformed ({0})")]
    Malformed(&'static str),
    #[error(
        "the registry asks for the {0} authentication scheme, which peti does not speak (only Basic and Bearer)"
    )]
    UnknownScheme(String),
    #[error("the registry's Bearer challenge names no realm (the token service's address)")]
    NoRealm,
}

/// The most a header may be before it is refused unread.
const MAX_HEADER: usize = 8 * 1024;

/// Parses one challenge: `SCHEME key="value", key=token, ...` (RFC 7235).
/// Values are quoted strings (with `\` escapes) or bare tokens.
pub fn parse_challenge(header: &str) -> Result<Challenge, ChallengeError> {
    if header.len() > MAX_HEADER {
        return Err(ChallengeError::Malformed("longer than 8 KiB"));
    }
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest)?;
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Ok(Challenge::Basic {
            realm: get("realm").unwrap_or_default(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = get("realm")
            .filter(|r| !r.is_empty())
            .ok_or(ChallengeError::NoRealm)?;
        Ok(Challenge::Bearer {
            realm,
            service: get("service"),
            scope: get("scope"),
        })
    } else if scheme.is_empty() {
        Err(ChallengeError::Malformed("no scheme"))
    } else {
        Err(ChallengeError::UnknownScheme(
            scheme.chars().take(32).collect(),
        ))
    }
}

/// `key="value", key=token`: the parameters after the scheme.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, ChallengeError> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| is_token_char(*c))).collect();
        if key.is_empty() {
            return Err(ChallengeError::Malformed("a parameter with no name"));
        }
        if chars.next() != Some('=') {
            return Err(ChallengeError::Malformed("a parameter with no '='"));
        }
        let value = if chars.next_if_eq(&'"').is_some() {
            quoted(&mut chars)?
        } else {
            std::iter::from_fn(|| chars.next_if(|c| is_token_char(*c))).collect()
        };
        params.push((key, value));
        match chars.peek() {
            None | Some(',') => {}
            Some(c) if c.is_whitespace() => {}
            Some(_) => return Err(ChallengeError::Malformed("text after a parameter's value")),
        }
    }
}

/// The rest of a quoted string, its opening quote already read.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, ChallengeError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(ChallengeError::Malformed("an unterminated quoted string")),
            Some('"') => return Ok(value),
            Some('\\') => match chars.next() {
                Some(c) => value.push(c),
                None => return Err(ChallengeError::Malformed("an unterminated quoted string")),
            },
            Some(c) => value.push(c),
        }
    }
}

/// RFC 7230's `tchar`, with `/` and `:` too, which Bearer's bare values use.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

/// The address of a token request: the realm with `service` and each
/// scope added to its query (`scope=` once per scope, as Docker asks),
/// percent-encoded.
pub fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let mut url = realm.to_string();
    let service = service.map(|s| ("service", s));
    for (key, value) in service
        .into_iter()
        .chain(scopes.iter().map(|s| ("scope", s.as_str())))
    {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(key);
        url.push('=');
        url.extend(utf8_percent_encode(value, NON_ALPHANUMERIC));
    }
    url
}

/// The token in a token service's answer: `token`, or OAuth's
/// `access_token` (Docker accepts either).
pub fn token_from(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// The scope a pull or push of `repository` needs.
pub fn scope(repository: &str, push: bool) -> String {
    let actions = if push { "pull,push" } else { "pull" };
    format!("repository:{repository}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_hub_challenge() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            parse_challenge(header),
            Ok(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
    }

    #[test]
    fn basic_and_bare_values() {
        assert_eq!(
            parse_challenge(r#"basic realm="peti \"test\"""#),
            Ok(Challenge::Basic {
                realm: r#"peti "test""#.into()
            })
        );
        assert_eq!(
            parse_challenge("Bearer realm=http://127.0.0.1:1/t, service=s"),
            Ok(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: Some("s".into()),
                scope: None,
            })
        );
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(
            parse_challenge(""),
            Err(ChallengeError::Malformed("no scheme"))
        );
        assert_eq!(
            parse_challenge("Bearer service=x"),
            Err(ChallengeError::NoRealm)
        );
        assert!(matches!(
            parse_challenge("Negotiate abc=1"),
            Err(ChallengeError::UnknownScheme(_))
        ));
        assert!(parse_challenge(r#"Bearer realm="open"#).is_err());
        assert!(parse_challenge(r#"Bearer realm="a"x"#).is_err());
        assert!(parse_challenge("Bearer =x").is_err());
        assert!(parse_challenge(&format!("Basic realm=\"{}\"", "a".repeat(9000))).is_err());
    }

    #[test]
    fn token_requests_and_answers() {
        assert_eq!(
            token_url(
                "https://a/token",
                Some("reg"),
                &["repository:x/y:pull,push".into()]
            ),
            "https://a/token?service=reg&scope=repository%3Ax%2Fy%3Apull%2Cpush"
        );
        assert_eq!(
            token_url("https://a/t?x=1", None, &["s".into(), "t".into()]),
            "https://a/t?x=1&scope=s&scope=t"
        );
        assert_eq!(token_from(br#"{"token":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(token_from(br#"{"access_token":"d"}"#).as_deref(), Some("d"));
        assert_eq!(token_from(br#"{"token":"a\r\nX-Evil: 1"}"#), None);
        assert_eq!(token_from(b"{}"), None);
    }

    #[test]
    fn credentials_round_trip_and_hide_the_password() {
        let c = Credentials {
            username: "learner".into(),
            password: "s3:cret".into(),
        };
        assert_eq!(Credentials::decode(&c.encoded()), Some(c.clone()));
        assert_eq!(c.basic(), "Basic bGVhcm5lcjpzMzpjcmV0");
        assert!(!format!("{c:?}").contains("s3"));
        assert_eq!(Credentials::decode("!!"), None);
    }
}
