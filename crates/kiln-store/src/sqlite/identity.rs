//! The SQLite implementation of [`IdentityStore`](crate::IdentityStore).

use async_trait::async_trait;

use super::SqliteStore;
use crate::{
    ApiKeyRecord, IdentityStore, NewApiKey, NewUser, SessionRecord, StoreError, TierRecord,
    UserRecord,
};

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        unimplemented!()
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        unimplemented!()
    }

    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        unimplemented!()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        unimplemented!()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        unimplemented!()
    }

    async fn count_active_admins(&self) -> Result<i64, StoreError> {
        unimplemented!()
    }

    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn grant_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError> {
        unimplemented!()
    }

    async fn revoke_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError> {
        unimplemented!()
    }

    async fn set_user_disabled(
        &self,
        user_id: i64,
        disabled: bool,
    ) -> Result<UserRecord, StoreError> {
        unimplemented!()
    }

    async fn set_allowed_tiers(
        &self,
        user_id: i64,
        tiers: &[String],
    ) -> Result<UserRecord, StoreError> {
        unimplemented!()
    }

    async fn find_user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        unimplemented!()
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
    ) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        unimplemented!()
    }

    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        unimplemented!()
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        unimplemented!()
    }

    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        unimplemented!()
    }

    async fn add_script_owner(&self, script: &str, user_id: i64) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn remove_script_owner(&self, script: &str, user_id: i64) -> Result<bool, StoreError> {
        unimplemented!()
    }

    async fn script_owners(&self, script: &str) -> Result<Vec<i64>, StoreError> {
        unimplemented!()
    }

    async fn owned_scripts(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        unimplemented!()
    }

    async fn list_tiers(&self) -> Result<Vec<TierRecord>, StoreError> {
        unimplemented!()
    }

    async fn get_tier(&self, name: &str) -> Result<Option<TierRecord>, StoreError> {
        unimplemented!()
    }

    async fn upsert_tier(&self, tier: &TierRecord) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn delete_tier(&self, name: &str) -> Result<bool, StoreError> {
        unimplemented!()
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        unimplemented!()
    }

    async fn api_keys_by_prefix(&self, prefix: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        unimplemented!()
    }

    async fn get_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, StoreError> {
        unimplemented!()
    }

    async fn list_api_keys(&self, user_id: Option<i64>) -> Result<Vec<ApiKeyRecord>, StoreError> {
        unimplemented!()
    }

    async fn revoke_api_key(&self, id: i64, now: i64) -> Result<ApiKeyRecord, StoreError> {
        unimplemented!()
    }

    async fn set_api_key_tier(&self, id: i64, tier: &str) -> Result<ApiKeyRecord, StoreError> {
        unimplemented!()
    }

    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> Result<(), StoreError> {
        unimplemented!()
    }
}
