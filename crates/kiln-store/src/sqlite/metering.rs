//! The SQLite implementation of [`MeteringStore`](crate::MeteringStore).

use async_trait::async_trait;

use super::SqliteStore;
use crate::{
    AuditQuery, AuditRecord, MeteringStore, NewAuditEvent, StoreError, UsageBucket, UsageEvent,
    UsageQuery,
};

#[async_trait]
impl MeteringStore for SqliteStore {
    async fn append_usage(&self, events: &[UsageEvent]) -> Result<(), StoreError> {
        unimplemented!()
    }

    async fn usage_summary(&self, query: &UsageQuery) -> Result<Vec<UsageBucket>, StoreError> {
        unimplemented!()
    }

    async fn count_key_usage(&self, key_id: i64, since: i64) -> Result<i64, StoreError> {
        unimplemented!()
    }

    async fn prune_usage(&self, before: i64) -> Result<u64, StoreError> {
        unimplemented!()
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        unimplemented!()
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        unimplemented!()
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        unimplemented!()
    }
}
