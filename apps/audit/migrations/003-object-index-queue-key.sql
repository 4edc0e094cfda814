-- The ledger queues an object for its search document only when it is not queued already (a
-- queued key not yet taken by the object indexer is locked instead, see ObjectUsageRepository):
-- this index finds the queued keys of a batch without a scan of the queue, however long the
-- queue grows while Elasticsearch is away. Few inserts reach it (one per object per indexer pass).
CREATE INDEX IF NOT EXISTS object_index_queue_key_idx ON ${schema}.object_index_queue (tenant, vault, kind, name);
