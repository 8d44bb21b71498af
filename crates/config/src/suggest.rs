//! Unknown keys: "did you mean `command`?" when a known name is close
//! enough to be a typo, and moving a "required" error onto the typo that
//! was probably meant to be that key.

use crate::error::{Problem, ProblemKind};

/// The known name closest to `key` by edit distance (Damerau-Levenshtein,
/// ignoring ASCII case: viper lower-cases keys), when it is close enough to
/// be a typo: at most a third of the name's length, between 1 and 3 edits.
/// Ties go to the first name.
pub(crate) fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .into_iter()
        .filter(|name| !name.is_empty())
        .map(|name| {
            let distance = strsim::damerau_levenshtein(&key, &name.to_ascii_lowercase());
            (distance, name)
        })
        .filter(|(distance, name)| *distance <= max_edits(name))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

fn max_edits(name: &str) -> usize {
    (name.chars().count() / 3).clamp(1, 3)
}

/// The warning for an unknown key (kind [`ProblemKind::UnknownKey`]):
/// `unknown key, ignored; did you mean `command`?`.
pub(crate) fn unknown_key_message(suggestion: Option<&str>) -> String {
    with_suggestion("unknown key, ignored".to_owned(), suggestion)
}

/// Appends "; did you mean `X`?" when there is a suggestion.
pub(crate) fn with_suggestion(mut message: String, suggestion: Option<&str>) -> String {
    if let Some(name) = suggestion {
        message.push_str(&format!("; did you mean `{name}`?"));
    }
    message
}

/// An unknown-key warning turned into an error (`--strict`): no longer
/// "ignored".
pub(crate) fn into_error(mut problem: Problem) -> Problem {
    problem.message = problem
        .message
        .replacen(", ignored (kept as raw YAML)", "", 1)
        .replacen(", ignored", "", 1);
    problem.message.push_str(" (strict mode)");
    problem
}

/// A required key that is absent while its mapping holds an unknown key
/// close to it (`server.comand` for `server.command`) is reported at the
/// typo, which then needs no warning of its own: the error moves to the
/// unknown key's path and position and says what it probably meant.
pub(crate) fn blame_typos(problems: &mut [Problem], unknown: &mut Vec<Problem>) {
    for problem in problems
        .iter_mut()
        .filter(|p| p.kind == ProblemKind::Missing)
    {
        // serde reports a missing field at the mapping that lacks it.
        let field = problem
            .message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        let (parent, key) = match &field {
            Some(field) => (problem.path.as_str(), field.as_str()),
            None => split_last(&problem.path),
        };
        let Some(i) = unknown.iter().position(|u| {
            let (u_parent, u_key) = split_last(&u.path);
            u_parent == parent && closest(u_key, [key]).is_some()
        }) else {
            continue;
        };
        let typo = unknown.remove(i);
        let message = format!(
            "unknown key; did you mean `{key}`? ({}: {})",
            problem.path, problem.message
        );
        problem.message = message;
        problem.path = typo.path;
        problem.location = typo.location;
    }
}

/// `("server", "command")` for `server.command`; `("", "x")` for `x`.
fn split_last(path: &str) -> (&str, &str) {
    path.rsplit_once('.').unwrap_or(("", path))
}
