//! Go-style durations (`60s`, `1m30s`, `500ms`, `1.5h`), as RoadRunner's
//! configuration uses them.
//!
//! Rules, following Go's `time.ParseDuration` and the way RoadRunner's
//! decoder (mapstructure) treats YAML values:
//! - a string is a sequence of `<number><unit>` pairs; the number may have a
//!   fraction; units are `ns`, `us` (also `µs`/`μs`), `ms`, `s`, `m`, `h`;
//! - `"0"` is zero; any other number without a unit is an error;
//! - a bare YAML **integer** is a count of nanoseconds (`watch_tick: 1` is one
//!   nanosecond, exactly as in RoadRunner); Coyote accepts it but warns when
//!   the value looks like it was meant in seconds;
//! - negative durations are refused (`std::time::Duration` cannot hold them);
//! - an empty string (typically an unset `${VAR}`) is zero, which then means
//!   "use the default" for every key that has one.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Why a duration string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl DurationError {
    fn new(input: &str, reason: &'static str) -> Self {
        Self {
            input: input.to_owned(),
            reason,
        }
    }
}

const NANOS_PER_UNIT: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string such as `1h2m3.5s` or `250ms`.
///
/// ```
/// use std::time::Duration;
/// use coyote_config::parse_duration;
/// assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("60").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    let s = match s.as_bytes()[0] {
        b'-' => {
            let rest = &s[1..];
            // Go accepts "-0"; anything else negative cannot be represented.
            return if rest.chars().all(|c| c == '0') && !rest.is_empty() {
                Ok(Duration::ZERO)
            } else {
                Err(DurationError::new(
                    input,
                    "negative durations are not allowed",
                ))
            };
        }
        b'+' => &s[1..],
        _ => s,
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DurationError::new(input, "expected a number"));
    }

    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        // The number: digits, optionally a '.' and more digits.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::new(
                input,
                "expected a number followed by a unit (ns, us, ms, s, m, h), e.g. 60s",
            ));
        }
        // The unit: everything up to the next digit or '.'.
        let unit_len = after_num
            .char_indices()
            .find(|&(_, c)| c.is_ascii_digit() || c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, next) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::new(
                input,
                "missing unit (ns, us, ms, s, m, h); write e.g. 60s",
            ));
        }
        let Some(&(_, scale)) = NANOS_PER_UNIT.iter().find(|(u, _)| *u == unit) else {
            return Err(DurationError::new(
                input,
                "unknown unit; use ns, us, ms, s, m or h",
            ));
        };

        let overflow = || DurationError::new(input, "too large");
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(overflow)?;
        if !frac_part.is_empty() {
            // Keep at most 18 fraction digits: beyond that nothing is left
            // at nanosecond precision even for hours.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: u128 = digits.parse().map_err(|_| overflow())?;
            let denom = 10u128.pow(digits.len() as u32);
            nanos = nanos
                .checked_add(frac * scale / denom)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        rest = next;
    }
    // Go durations are int64 nanoseconds; refuse anything larger too.
    if total > i64::MAX as u128 {
        return Err(DurationError::new(input, "too large"));
    }
    let secs = (total / 1_000_000_000) as u64;
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// How a bare YAML integer in a duration field is read.
#[derive(Clone, Copy)]
enum BareInt {
    /// Go semantics: nanoseconds.
    Nanos,
    /// RoadRunner's status plugin stores `check_timeout` as seconds.
    Seconds,
}

struct DurationVisitor(BareInt);

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 60s, 1m30s or 500ms")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        let trimmed = v.trim();
        if let BareInt::Seconds = self.0 {
            if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                let secs: u64 = trimmed.parse().map_err(E::custom)?;
                return Ok(Duration::from_secs(secs));
            }
        }
        parse_duration(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        match self.0 {
            BareInt::Seconds => Ok(Duration::from_secs(v)),
            BareInt::Nanos => {
                if v > 0 && v < 1_000 {
                    crate::de::note(format!(
                        "bare integer {v} is read as {v}ns (Go and RoadRunner read bare integers as \
                         nanoseconds); write {v}s if seconds were meant"
                    ));
                }
                Ok(Duration::from_nanos(v))
            }
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom("negative durations are not allowed")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
        Ok(Duration::ZERO)
    }
}

/// `deserialize_with` for a `Duration` field (bare integers are nanoseconds).
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor(BareInt::Nanos))
}

/// `deserialize_with` for an `Option<Duration>` field.
pub fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor(BareInt::Nanos)).map(Some)
}

/// `deserialize_with` for a duration whose bare integers are seconds
/// (`status.check_timeout`).
pub fn de_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor(BareInt::Seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("", Duration::ZERO),
            ("60s", s(60)),
            ("1m", s(60)),
            ("1m30s", s(90)),
            ("500ms", ms(500)),
            ("1h", s(3600)),
            ("2h45m", s(2 * 3600 + 45 * 60)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1.s", s(1)),
            ("+5s", s(5)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("100μs", Duration::from_micros(100)),
            ("10ns", Duration::from_nanos(10)),
            ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("1.0000000019s", Duration::new(1, 1)),
            (" 30s ", s(30)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).as_ref(), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn bad_durations() {
        for input in [
            "60", "1", "s", ".s", "-1s", "1x", "1d", "1.2.3s", "1s2", "abc", "1 s", "+", "3000000h",
        ] {
            assert!(
                parse_duration(input).is_err(),
                "input {input:?} should fail"
            );
        }
    }

    #[test]
    fn error_message_names_input_and_reason() {
        let err = parse_duration("60").unwrap_err().to_string();
        assert!(err.contains("\"60\""), "{err}");
        assert!(err.contains("missing unit"), "{err}");
    }
}
