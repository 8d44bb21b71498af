//! PHP's bracket syntax for form fields: `a[b][]=1&a[b][]=2&c=3` becomes
//! `{"a":{"b":["1","2"]},"c":"3"}`, the tree RoadRunner sends as the body
//! with `parsed: true`.

use serde_json::{Map, Value};

/// Deepest nesting accepted; deeper keys are dropped (RoadRunner: 127).
pub(crate) const MAX_DEPTH: usize = 127;

/// Splits `a[b][c]` into `["a", "b", "c"]` and `a[]` into `["a", ""]`.
/// A key without well-formed brackets is one literal segment.
pub(crate) fn indexes(key: &str) -> Vec<&str> {
    let Some(open) = key.find('[') else {
        return vec![key];
    };
    let mut out = vec![&key[..open]];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            return vec![key];
        };
        out.push(&stripped[..close]);
        rest = &stripped[close + 1..];
    }
    if !rest.is_empty() || out[0].is_empty() {
        return vec![key];
    }
    out
}

/// Puts `values` (every value sent for one exact key) into the tree, with
/// RoadRunner's rules: `a=1&a=2` keeps the last value, `a[]` keeps them
/// all as a list, `a[b]...` nests.
pub(crate) fn mount(tree: &mut Map<String, Value>, keys: &[&str], values: Vec<Value>) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if keys.len() > MAX_DEPTH {
        return;
    }
    match rest {
        [] => {
            if let Some(last) = values.into_iter().last() {
                tree.insert((*first).to_owned(), last);
            }
        }
        [""] => {
            tree.insert((*first).to_owned(), Value::Array(values));
        }
        _ => {
            let entry = tree
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(sub) = entry {
                mount(sub, rest, values);
            }
        }
    }
}

/// Groups pairs by exact key, first-seen order, like Go's `url.Values`.
pub(crate) fn group<I: IntoIterator<Item = (String, Value)>>(
    pairs: I,
) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, value) in pairs {
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => out.push((key, vec![value])),
        }
    }
    out
}

/// Builds the tree from grouped pairs.
pub(crate) fn tree(grouped: Vec<(String, Vec<Value>)>) -> Map<String, Value> {
    let mut tree = Map::new();
    for (key, values) in grouped {
        let keys = indexes(&key);
        mount(&mut tree, &keys, values);
    }
    tree
}

/// An `application/x-www-form-urlencoded` body as the tree.
pub(crate) fn urlencoded(body: &[u8]) -> Map<String, Value> {
    tree(group(form_urlencoded::parse(body).map(|(k, v)| {
        (k.into_owned(), Value::String(v.into_owned()))
    })))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn php_bracket_cases() {
        let cases = [
            ("a=1", json!({"a": "1"})),
            ("a=1&a=2", json!({"a": "2"})),
            ("a[]=1&a[]=2", json!({"a": ["1", "2"]})),
            ("a[b]=1&a[c]=2", json!({"a": {"b": "1", "c": "2"}})),
            (
                "a[b][]=1&a[b][]=2&c=3",
                json!({"a": {"b": ["1", "2"]}, "c": "3"}),
            ),
            ("a[b][c][d]=x", json!({"a": {"b": {"c": {"d": "x"}}}})),
            (
                "name=J%C3%BCrgen+M&empty=",
                json!({"name": "Jürgen M", "empty": ""}),
            ),
            ("a[b=1", json!({"a[b": "1"})),
            ("[x]=1", json!({"[x]": "1"})),
            ("a=1&a[b]=2", json!({"a": {"b": "2"}})),
        ];
        for (input, want) in cases {
            assert_eq!(Value::Object(urlencoded(input.as_bytes())), want, "{input}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("a{}=1", "[x]".repeat(200));
        assert_eq!(Value::Object(urlencoded(deep.as_bytes())), json!({}));
        let ok = format!("a{}=1", "[x]".repeat(100));
        assert!(!urlencoded(ok.as_bytes()).is_empty());
    }

    #[test]
    fn indexes_split_like_roadrunner() {
        assert_eq!(indexes("a"), ["a"]);
        assert_eq!(indexes("a[]"), ["a", ""]);
        assert_eq!(indexes("a[b][c]"), ["a", "b", "c"]);
        assert_eq!(indexes("a[b]c"), ["a[b]c"]);
    }
}

#[cfg(test)]
mod fuzz_property {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// The cargo-fuzz entry point on stable, over bracket-heavy input.
        #[test]
        fn arbitrary_forms_never_panic(text in "[a-z\\[\\]=&%0-9+\\n]{0,200}") {
            crate::fuzz_form(text.as_bytes());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            crate::fuzz_form(&bytes);
        }
    }
}
