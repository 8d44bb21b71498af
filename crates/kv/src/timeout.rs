//! RFC 3339 expiry times <-> [`SystemTime`], as RoadRunner reads and writes
//! them (Go's `time.RFC3339`: whole seconds when written).

use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How far ahead an expiry may be (100 years); further is refused as
/// absurd rather than overflowing a backend's TTL arithmetic.
pub const MAX_AHEAD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses an RFC 3339 time (`2026-12-02T17:00:00Z`, offsets and fractions
/// allowed).
///
/// # Errors
/// The text is not RFC 3339, or lies before the Unix epoch.
pub fn parse(text: &str) -> Result<SystemTime, String> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|e| format!("timeout {text:?} is not an RFC 3339 time: {e}"))?;
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| format!("timeout {text:?} lies before 1970"))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::new(secs, t.nanosecond()))
}

/// Formats `at` as RFC 3339 in UTC, whole seconds (`2026-12-02T17:00:00Z`).
pub fn format(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// How far in the past a Set's timeout may lie and still be taken (as
/// "expired at once"): RFC 3339 times from PHP are whole seconds, so a
/// 1-second TTL may arrive up to a second late plus the call's latency.
pub const GRACE: Duration = Duration::from_secs(2);

/// Parses the timeout of a Set: empty is none; times more than [`GRACE`]
/// in the past, and more than [`MAX_AHEAD`] away, are refused. A time
/// within the grace is returned as it is (the caller expires the item at
/// once).
///
/// # Errors
/// The reason, for the caller's message.
pub fn expiry(text: &str, now: SystemTime) -> Result<Option<SystemTime>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let at = parse(text)?;
    if at + GRACE <= now {
        return Err(format!("timeout {text} is in the past"));
    }
    check_ahead(text, at, now)?;
    Ok(Some(at))
}

/// Refuses times more than [`MAX_AHEAD`] after `now`.
///
/// # Errors
/// The reason.
pub fn check_ahead(text: &str, at: SystemTime, now: SystemTime) -> Result<(), String> {
    if at.duration_since(now).is_ok_and(|d| d > MAX_AHEAD) {
        return Err(format!(
            "timeout {text} is more than 100 years away; refused as absurd"
        ));
    }
    Ok(())
}

/// Whole seconds from `now` until `at`, at least 1 (for backends whose TTLs
/// are in seconds).
pub fn secs_until(at: SystemTime, now: SystemTime) -> u64 {
    at.duration_since(now)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_whole_seconds() {
        let t = parse("2026-12-02T17:00:00Z").unwrap();
        assert_eq!(format(t), "2026-12-02T17:00:00Z");
        let t = parse("2026-12-02T18:00:00+01:00").unwrap();
        assert_eq!(format(t), "2026-12-02T17:00:00Z");
        assert!(parse("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(parse("1960-01-01T00:00:00Z").unwrap_err().contains("1970"));
    }

    #[test]
    fn set_timeouts() {
        let now = parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(expiry("", now).unwrap(), None);
        assert!(expiry("2025-01-01T00:00:00Z", now)
            .unwrap_err()
            .contains("in the past"));
        // Whole seconds and latency: a second late is "expired at once".
        let late = expiry("2025-12-31T23:59:59Z", now).unwrap().unwrap();
        assert!(late < now);
        assert!(expiry("2999-01-01T00:00:00Z", now)
            .unwrap_err()
            .contains("absurd"));
        assert!(expiry("2026-01-01T00:00:05Z", now).unwrap().is_some());
        let at = parse("2026-01-01T00:00:05Z").unwrap();
        assert_eq!(secs_until(at, now), 5);
        assert_eq!(secs_until(now, at), 1);
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse(secs in 0u64..253_402_300_799) {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            proptest::prop_assert_eq!(parse(&format(at)).unwrap(), at);
        }
    }
}
