//! PostgreSQL's errors, for the state (`--state postgres://…`) and the
//! target (`--apply postgres://…`) alike: one exit code per SQLSTATE class
//! (bounce-tools(7), EXIT STATUS) and one line of text, naming the server
//! without its password.

use crate::exit::ExitCode;

/// The exit code for a PostgreSQL error: no SQLSTATE (the server cannot be
/// reached, or the connection broke) is 69; credentials refused 77; an
/// object or database that does not exist, or SQL that does not fit it,
/// 78; a value refused 65; lock waits, cancels, shutdowns and lack of
/// resources, which a later try may not meet, 75.
pub(crate) fn exit_code(e: &postgres::Error) -> ExitCode {
    let Some(state) = e.code() else {
        return ExitCode::Unavailable;
    };
    match state.code().get(..2).unwrap_or("") {
        "08" => ExitCode::Unavailable,
        "28" => ExitCode::NoPerm,
        "42" | "3D" | "3F" => ExitCode::Config,
        "23" | "22" => ExitCode::DataErr,
        "40" | "55" | "57" | "53" => ExitCode::TempFail,
        _ => ExitCode::IoErr,
    }
}

/// The server's message with its severity (`ERROR: relation … does not
/// exist`), or the client's (`error connecting to server: Connection
/// refused`).
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    // The client's error names the step (`error connecting to server`),
    // its source the cause (`Connection refused`).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Whether the error is `lock_not_available` (55P03): `lock_timeout` ran
/// out while another transaction held a lock.
pub(crate) fn is_lock_timeout(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}

/// Replaces the password of a URL with `***`: in its user information
/// and in a `password=` parameter.
pub(crate) fn redact(url: &str) -> String {
    let url = redact_userinfo(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => p.to_string(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(c) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..c],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("postgresql://u@h/db?schema=x&password=secret"),
            "postgresql://u@h/db?schema=x&password=***"
        );
    }
}
