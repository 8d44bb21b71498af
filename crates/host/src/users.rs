use nix::unistd::{Group, User};

use crate::ServerError;

/// Resolves `server.user` (and optional `server.group`) to uid / gid. As in
/// RoadRunner the gid is the user's primary group unless a group is named.
pub fn resolve_user(user: &str, group: Option<&str>) -> Result<(u32, u32), ServerError> {
    let unknown_user = || ServerError::UnknownAccount {
        kind: "user",
        name: user.to_owned(),
    };
    let found = User::from_name(user)
        .map_err(|_| unknown_user())?
        .ok_or_else(unknown_user)?;
    if !nix::unistd::Uid::effective().is_root() && found.uid != nix::unistd::Uid::effective() {
        return Err(ServerError::NotRoot {
            name: user.to_owned(),
        });
    }
    let gid = match group.filter(|g| !g.is_empty()) {
        None => found.gid.as_raw(),
        Some(name) => {
            let unknown = || ServerError::UnknownAccount {
                kind: "group",
                name: name.to_owned(),
            };
            Group::from_name(name)
                .map_err(|_| unknown())?
                .ok_or_else(unknown)?
                .gid
                .as_raw()
        }
    };
    Ok((found.uid.as_raw(), gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_and_rejects_unknown_names() {
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(resolve_user("root", None).unwrap(), (0, 0));
            assert_eq!(resolve_user("root", Some("root")).unwrap(), (0, 0));
        }
        let err = resolve_user("no-such-user-coyote", None).unwrap_err();
        assert!(err.to_string().contains("unknown user"), "{err}");
        if nix::unistd::Uid::effective().is_root() {
            let err = resolve_user("root", Some("no-such-group-coyote")).unwrap_err();
            assert!(err.to_string().contains("unknown group"), "{err}");
        }
    }
}
