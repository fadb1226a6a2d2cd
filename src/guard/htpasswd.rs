//! The password file: users and password hashes in the htpasswd format
//! (`user:hash` per line, as `htpasswd -B` writes them).
//!
//! Accepted hashes are bcrypt (`$2y$`, `$2b$`, `$2a$`) and argon2 PHC strings
//! (`$argon2id$`, `$argon2i$`, `$argon2d$`). Plaintext, MD5-crypt (`$apr1$`,
//! `$1$`), SHA-crypt (`$5$`, `$6$`), `{SHA}` and DES crypt are refused when
//! the file is read, naming the line and the user: they are too cheap to
//! guess from a stolen file.

use std::collections::HashMap;
use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordVerifier};

/// One user's password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum Hash {
    Bcrypt(String),
    Argon2(String),
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hash::Bcrypt(_) => "Hash::Bcrypt",
            Hash::Argon2(_) => "Hash::Argon2",
        })
    }
}

impl Hash {
    /// Whether `password` matches. CPU-bound (tens of milliseconds at common
    /// costs): call it on the blocking pool. The libraries compare in
    /// constant time.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Hash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Hash::Argon2(hash) => PasswordHash::new(hash).is_ok_and(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }),
        }
    }

    /// The bcrypt cost, if this is a bcrypt hash.
    fn bcrypt_cost(&self) -> Option<u32> {
        match self {
            Hash::Bcrypt(hash) => hash.get(4..6)?.parse().ok(),
            Hash::Argon2(_) => None,
        }
    }
}

/// The users of a password file.
#[derive(Debug, Clone)]
pub struct Users {
    users: HashMap<String, Hash>,
    /// Checked for users that do not exist, so that a wrong user name costs
    /// what a wrong password costs and says nothing about who exists.
    decoy: Hash,
}

impl Users {
    /// Reads a password file's text. Blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Users, String> {
        let mut users = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {number}: expected user:hash"));
            };
            if user.is_empty() {
                return Err(format!("line {number}: the user name is empty"));
            }
            let hash = classify(hash.trim())
                .map_err(|kind| format!("line {number}, user {user:?}: {kind}"))?;
            if users.insert(user.to_owned(), hash).is_some() {
                return Err(format!("line {number}: user {user:?} appears twice"));
            }
        }
        if users.is_empty() {
            return Err("no users".to_owned());
        }
        let cost = users
            .values()
            .filter_map(Hash::bcrypt_cost)
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy = bcrypt::hash("decoy", cost.clamp(4, 31))
            .map(Hash::Bcrypt)
            .map_err(|e| format!("cannot make a bcrypt hash: {e}"))?;
        Ok(Users { users, decoy })
    }

    /// The hash to check `user`'s password against: theirs, or the decoy
    /// (which matches nothing a client sends) with `false`.
    pub fn hash_of(&self, user: &str) -> (&Hash, bool) {
        match self.users.get(user) {
            Some(hash) => (hash, true),
            None => (&self.decoy, false),
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }
}

/// What kind of hash a field holds: accepted, or why not.
fn classify(hash: &str) -> Result<Hash, &'static str> {
    const BCRYPT: [&str; 3] = ["$2y$", "$2b$", "$2a$"];
    const ARGON2: [&str; 3] = ["$argon2id$", "$argon2i$", "$argon2d$"];
    if BCRYPT.iter().any(|p| hash.starts_with(p)) {
        return if hash.len() == 60 {
            Ok(Hash::Bcrypt(hash.to_owned()))
        } else {
            Err("a bcrypt hash is 60 characters")
        };
    }
    if ARGON2.iter().any(|p| hash.starts_with(p)) {
        return match PasswordHash::new(hash) {
            Ok(_) => Ok(Hash::Argon2(hash.to_owned())),
            Err(_) => Err("not a valid argon2 PHC string"),
        };
    }
    Err(if hash.starts_with("$apr1$") || hash.starts_with("$1$") {
        "MD5-crypt hashes are refused; make it with htpasswd -B (bcrypt)"
    } else if hash.starts_with("{SHA}") {
        "{SHA} hashes are refused; make it with htpasswd -B (bcrypt)"
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        "SHA-crypt hashes are refused; make it with htpasswd -B (bcrypt)"
    } else {
        "plaintext or crypt passwords are refused; make it with htpasswd -B (bcrypt)"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `htpasswd -nbB -C 4 alice secret`.
    fn alice() -> String {
        format!("alice:{}", bcrypt::hash("secret", 4).unwrap())
    }

    #[test]
    fn bcrypt_users_verify_and_others_get_the_decoy() {
        let users = Users::parse(&format!("# team\n\n{}\n", alice())).unwrap();
        assert_eq!(users.len(), 1);
        let (hash, known) = users.hash_of("alice");
        assert!(known && hash.verify("secret") && !hash.verify("Secret"));
        let (decoy, known) = users.hash_of("bob");
        assert!(!known && !decoy.verify("secret") && !decoy.verify(""));
    }

    #[test]
    fn the_2y_prefix_htpasswd_writes_is_read() {
        let hash = bcrypt::hash("pw", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let users = Users::parse(&format!("u:{hash}")).unwrap();
        assert!(users.hash_of("u").0.verify("pw"));
    }

    #[test]
    fn argon2_phc_strings_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = argon2::Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        let users = Users::parse(&format!("carol:{hash}")).unwrap();
        let (h, _) = users.hash_of("carol");
        assert!(h.verify("pw") && !h.verify("pw2"));
    }

    #[test]
    fn weak_and_broken_lines_are_refused_naming_the_line_and_user() {
        let cases = [
            ("bob:$apr1$abc$def", "line 2, user \"bob\": MD5-crypt"),
            (
                "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
                "line 2, user \"bob\": {SHA}",
            ),
            ("bob:hunter2", "line 2, user \"bob\": plaintext"),
            ("bob:$6$salt$hash", "line 2, user \"bob\": SHA-crypt"),
            ("bob:$2y$05$short", "line 2, user \"bob\": a bcrypt hash"),
            ("nocolon", "line 2: expected user:hash"),
            (":$2y$", "line 2: the user name is empty"),
        ];
        for (line, expected) in cases {
            let err = Users::parse(&format!("{}\n{line}\n", alice())).unwrap_err();
            assert!(err.starts_with(expected), "{line}: {err}");
        }
        let twice = format!("{}\n{}\n", alice(), alice());
        assert!(Users::parse(&twice).unwrap_err().contains("appears twice"));
        assert_eq!(Users::parse("# nobody\n").unwrap_err(), "no users");
    }

    #[test]
    fn debug_never_shows_a_hash() {
        let users = Users::parse(&alice()).unwrap();
        assert!(!format!("{users:?}").contains("$2"));
    }
}
