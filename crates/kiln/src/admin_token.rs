//! The bootstrap admin token: full access to `/engine/api/*` while no admin account exists
//! (`auth::AuthService` refuses it afterwards).
//!
//! The token comes from `KILN_ADMIN_TOKEN` (config `admin_token`) or is generated on the first
//! start without an admin account, printed once, and stored only as a SHA-256 hash. Tokens are
//! 256-bit random values, so a fast hash is the right tool (a password hash would only slow
//! every API call down).

use kiln_store::Store;
use sha2::{Digest, Sha256};

/// Settings key holding the hex SHA-256 of the generated token.
const SETTING_KEY: &str = "admin_token_sha256";

/// The hash the management API checks bearer tokens against.
#[derive(Clone)]
pub struct AdminToken {
    sha256: [u8; 32],
}

impl AdminToken {
    /// Uses the configured token, or the stored hash, or generates (and prints) a new token.
    pub async fn bootstrap(
        store: &dyn Store,
        configured: Option<&str>,
    ) -> anyhow::Result<AdminToken> {
        if let Some(token) = configured {
            return Ok(AdminToken {
                sha256: Sha256::digest(token.as_bytes()).into(),
            });
        }
        if let Some(stored) = store.get_setting(SETTING_KEY).await? {
            let bytes = hex::decode(stored.trim())?;
            let sha256: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("the stored admin token hash is corrupt"))?;
            return Ok(AdminToken { sha256 });
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        if store.count_active_admins().await? > 0 {
            // An admin account exists (e.g. made with `kiln users create-admin`): a bootstrap
            // token would be refused anyway, so none is printed; this one is never revealed.
            return Ok(AdminToken {
                sha256: Sha256::digest(random).into(),
            });
        }
        let token = format!("kiln_admin_{}", hex::encode(random));
        let sha256: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        store.set_setting(SETTING_KEY, &hex::encode(sha256)).await?;
        eprintln!(
            "\n  Kiln generated an admin token for the management API. It is shown only this once:\n\n    {token}\n\n  Use it as `Authorization: Bearer <token>` (or export KILN_TOKEN=<token> for the CLI).\n"
        );
        Ok(AdminToken { sha256 })
    }

    /// True when `presented` is the admin token (compared in constant time).
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest
            .iter()
            .zip(self.sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
