//! The bearer-token check in front of the actions: off (403) unless a
//! token is configured; then `Authorization: Bearer <token>` is required
//! (401 without it, 403 with another token), compared in constant time.

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

/// The configured token, if any.
#[derive(Clone, Debug)]
pub struct Guard {
    token: Option<Vec<u8>>,
}

/// Why a request may not act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token is configured: actions are off.
    Off,
    /// No (well-formed) bearer token in the request.
    Missing,
    /// A token that is not the configured one.
    Wrong,
}

impl Refusal {
    /// The answer's status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Off | Self::Wrong => StatusCode::FORBIDDEN,
            Self::Missing => StatusCode::UNAUTHORIZED,
        }
    }

    /// The answer's text.
    pub fn message(self) -> &'static str {
        match self {
            Self::Off => "dashboard actions are off: set status.dashboard.token\n",
            Self::Missing => "an Authorization: Bearer <token> header is required\n",
            Self::Wrong => "wrong token\n",
        }
    }
}

impl Guard {
    /// `token` as configured; empty turns actions off.
    pub fn new(token: &str) -> Self {
        Self {
            token: (!token.is_empty()).then(|| token.as_bytes().to_vec()),
        }
    }

    /// Whether actions are offered at all.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Checks the request's headers.
    ///
    /// # Errors
    /// Why the request may not act.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(token) = &self.token else {
            return Err(Refusal::Off);
        };
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Missing)?;
        if bool::from(given.as_bytes().ct_eq(token)) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(value: Option<&'static str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(v) = value {
            map.insert(AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn off_missing_wrong_right() {
        let off = Guard::new("");
        assert!(!off.enabled());
        assert_eq!(off.check(&headers(Some("Bearer x"))), Err(Refusal::Off));
        let guard = Guard::new("s3cret");
        assert!(guard.enabled());
        assert_eq!(guard.check(&headers(None)), Err(Refusal::Missing));
        assert_eq!(
            guard.check(&headers(Some("Basic s3cret"))),
            Err(Refusal::Missing)
        );
        assert_eq!(
            guard.check(&headers(Some("Bearer "))),
            Err(Refusal::Missing)
        );
        assert_eq!(
            guard.check(&headers(Some("Bearer s3cre"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            guard.check(&headers(Some("Bearer s3cret!"))),
            Err(Refusal::Wrong)
        );
        assert_eq!(guard.check(&headers(Some("Bearer s3cret"))), Ok(()));
        assert_eq!(guard.check(&headers(Some("bearer  s3cret "))), Ok(()));
        assert_eq!(Refusal::Missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Refusal::Off.status(), StatusCode::FORBIDDEN);
    }
}
