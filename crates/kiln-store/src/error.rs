//! [`StoreError`], the single error type returned by every [`Store`](crate::Store) method and by
//! opening a backend. Callers branch on [`StoreError::NotFound`], [`StoreError::Conflict`] and
//! [`StoreError::Invalid`] (client mistakes); every other variant is an operator-side failure and carries its cause.

use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist (e.g. `script "shop"`, `version 3 of script "shop"`).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, human-readable.
        what: String,
    },

    /// The operation contradicts existing data (e.g. two files with the same path in a bundle).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicted, human-readable.
        message: String,
    },

    /// The write would take its owner past a quota (e.g. a script's key/value storage).
    #[error("limit exceeded: {message}")]
    LimitExceeded {
        /// Which limit, and by how much.
        message: String,
    },

    /// An argument breaks a rule the store enforces (e.g. a module name with invalid
    /// characters); a client mistake like [`StoreError::NotFound`].
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was invalid (e.g. `module name "Bad Name"`).
        what: String,
        /// The rule it breaks.
        message: String,
    },

    /// Stored data could not be decoded (e.g. unparsable JSON metadata, unknown log level).
    #[error("corrupt data in {what}: {message}")]
    Corrupt {
        /// Where the bad value was found.
        what: String,
        /// What was wrong with it.
        message: String,
    },

    /// The database reported an error (connection, constraint, I/O inside the driver…).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// Applying the embedded schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A filesystem operation outside the database failed (e.g. creating the data directory).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path being operated on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// A [`StoreError::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// A [`StoreError::Conflict`] with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        StoreError::Conflict {
            message: message.into(),
        }
    }

    /// A [`StoreError::Invalid`]: `what` breaks the rule `message`.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Whether this is a [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether this is a [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
