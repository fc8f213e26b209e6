//! The stored session: which server, and the bearer token it gave at sign-in. One file,
//! `$XDG_CONFIG_HOME/latchkey/session.json` (or `~/.config/latchkey/session.json`), in a folder
//! only its owner may enter (0700), readable only by its owner (0600), replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `latchkey login` keeps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The server's root URL, normalised (see `normalize_server`).
    pub server: String,
    pub token: String,
    pub account_id: String,
    /// E.164, as the server returned it.
    pub phone: String,
}

/// The folder that holds the session: `$XDG_CONFIG_HOME/latchkey` when that variable is an
/// absolute path (the XDG rule: relative values are ignored), else `$HOME/.config/latchkey`.
pub fn config_dir() -> Result<PathBuf, String> {
    dir_from(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn dir_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(x) = xdg.filter(|p| p.is_absolute()) {
        return Ok(x.join("latchkey"));
    }
    match home.filter(|p| p.is_absolute()) {
        Some(h) => Ok(h.join(".config").join("latchkey")),
        None => Err("neither XDG_CONFIG_HOME nor HOME is set to an absolute path: nowhere to keep the session".into()),
    }
}

pub fn file_in(dir: &Path) -> PathBuf {
    dir.join("session.json")
}

/// The stored session, if any. A file that cannot be read as a session is an error that names
/// it, so a damaged file is not silently taken for "signed out".
pub fn load(dir: &Path) -> Result<Option<Session>, String> {
    let path = file_in(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "warning: {} can be read by other users; run `chmod 600` on it, or `latchkey logout` and sign in again",
                path.display()
            );
        }
    }
    serde_json::from_str(&text).map(Some).map_err(|e| {
        format!(
            "{} is not a Latchkey session ({e}); delete it and sign in again",
            path.display()
        )
    })
}

/// Writes the session: the folder is created owner-only (or made so), the file is written
/// owner-only under a temporary name, flushed, and renamed over the old one.
pub fn save(dir: &Path, s: &Session) -> Result<PathBuf, String> {
    let fail = |what: &str, p: &Path, e: std::io::Error| format!("cannot {what} {}: {e}", p.display());
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(|e| fail("create", dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| fail("restrict", dir, e))?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(|e| fail("create", dir, e))?;

    let path = file_in(dir);
    let tmp = dir.join(format!(".session.json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let text = serde_json::to_string_pretty(s).map_err(|e| e.to_string())? + "\n";
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write", &path, e));
    }
    Ok(path)
}

/// Removes the stored session; no file is not an error.
pub fn remove(dir: &Path) -> Result<(), String> {
    let path = file_in(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// A server address as the session stores and compares it: `http`/`https` only, scheme and
/// host in lower case, default ports dropped, no trailing slash, no query or fragment; so
/// `https://Example.org:443/` and `https://example.org` are one server, while
/// `http://example.org` is another.
pub fn normalize_server(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| format!("'{text}' is not a server address ({e}); use e.g. https://latchkey.example.org"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("'{text}' is not an http:// or https:// address"));
    }
    if url.host_str().is_none() {
        return Err(format!("'{text}' names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{text}': put no user name or password in the server address"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("'{text}': the server address takes no ? or #"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_follows_xdg_then_home() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            dir_from(p("/x/cfg"), p("/home/a")),
            Ok(PathBuf::from("/x/cfg/latchkey"))
        );
        assert_eq!(
            dir_from(p("relative/cfg"), p("/home/a")),
            Ok(PathBuf::from("/home/a/.config/latchkey"))
        );
        assert_eq!(
            dir_from(None, p("/home/a")),
            Ok(PathBuf::from("/home/a/.config/latchkey"))
        );
        assert!(dir_from(None, None).is_err());
    }

    #[test]
    fn server_addresses_compare_after_normalising() {
        for (a, b) in [
            ("https://Example.org:443/", "https://example.org"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("HTTP://LOCALHOST:80", "http://localhost"),
            ("https://example.org/latchkey/", "https://example.org/latchkey"),
        ] {
            assert_eq!(normalize_server(a), Ok(b.to_string()), "{a}");
        }
        assert_ne!(
            normalize_server("http://example.org"),
            normalize_server("https://example.org")
        );
        for bad in [
            "example.org",
            "ftp://example.org",
            "https://user:pw@example.org",
            "https://example.org/?a=1",
            "",
        ] {
            assert!(normalize_server(bad).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_session_is_owner_only_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg").join("latchkey");
        let s = Session {
            server: "http://127.0.0.1:1".into(),
            token: "t1".into(),
            account_id: "acc_1".into(),
            phone: "+12025550123".into(),
        };
        assert_eq!(load(&dir), Ok(None));
        let path = save(&dir, &s).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(load(&dir), Ok(Some(s.clone())));
        // A folder made too open is closed again; a second save replaces the first.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s2 = Session {
            token: "t2".into(),
            ..s
        };
        save(&dir, &s2).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(load(&dir), Ok(Some(s2)));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        remove(&dir).unwrap();
        remove(&dir).unwrap();
        assert_eq!(load(&dir), Ok(None));
        std::fs::write(file_in(&dir), "{not json").unwrap();
        assert!(load(&dir).unwrap_err().contains("not a Latchkey session"));
    }
}
