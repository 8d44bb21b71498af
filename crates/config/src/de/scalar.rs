//! The weak scalar rules of RoadRunner's decoder (mapstructure's
//! `WeaklyTypedInput` over Go's `strconv`).

use crate::node::{resolve_plain, Resolved};

/// Go's `strconv.ParseInt(s, 0, 64)` plus mapstructure's weak rules: empty
/// is 0; `0x`, `0o`, `0b` prefixes and `_` separators are accepted.
pub(super) fn parse_weak_int(text: &str) -> Option<i128> {
    if text.is_empty() {
        return Some(0);
    }
    let (neg, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else {
        (10, body)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let value = i128::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -value } else { value })
}

/// Go's `strconv.ParseBool` plus YAML 1.1's yes/no/on/off; empty is false.
pub(super) fn parse_weak_bool(text: &str) -> Option<bool> {
    match text {
        "" => Some(false),
        "1" | "t" | "T" | "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
        | "y" | "Y" => Some(true),
        "0" | "f" | "F" | "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off"
        | "OFF" | "n" | "N" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_weak_float(text: &str) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    match resolve_plain(text) {
        Resolved::Int(i) => Some(i as f64),
        Resolved::Float(f) => Some(f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_ints() {
        assert_eq!(parse_weak_int("0x1F"), Some(31));
        assert_eq!(parse_weak_int("-12"), Some(-12));
        assert_eq!(parse_weak_int("1_000"), Some(1000));
        assert_eq!(parse_weak_int(""), Some(0));
        assert_eq!(parse_weak_int("1.5"), None);
        assert_eq!(parse_weak_int("--1"), None);
    }
}
