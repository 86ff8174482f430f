/** Per-user IndexedDB layout (Dexie) and its upgrade steps, kept apart so tests can open any historic version. */

// Each entry is one schema version; Dexie diffs them, `upgrade` moves data. Never edit a shipped
// entry: add a new one. Tests open the DB at every version and upgrade to the latest.
export const USER_DB_VERSIONS = [
  {
    version: 1,
    stores: {
      kv: 'key',
      forms: 'id, status, deadline_complete',
      outbox: '++seq, &opId, formId, state',
      evidence: 'id, formId, uploadState',
    },
  },
  {
    // v2: evidence bytes move out of the evidence rows into `blobs`, so listing a form's evidence
    // never drags megabytes of video into memory; tus resume URLs get their own table.
    version: 2,
    stores: {
      outbox: '++seq, &opId, formId, state, [formId+state]',
      evidence: 'id, formId, [formId+checkpointKey], uploadState',
      blobs: 'evidenceId',
      tusUploads: '++id, fingerprint',
    },
    async upgrade(tx) {
      const blobs = tx.table('blobs')
      await tx.table('evidence').toCollection().modify((rec) => {
        if (rec.blob) {
          blobs.put({ evidenceId: rec.id, blob: rec.blob })
          rec.hasBlob = true
          delete rec.blob
        } else if (rec.hasBlob === undefined) {
          rec.hasBlob = false
        }
        rec.uploadState ??= 'pending'
        rec.bytesUploaded ??= 0
      })
      await tx.table('outbox').toCollection().modify((op) => {
        op.attempts ??= 0
        op.nextAttemptAt ??= 0
      })
    },
  },
]

export const LATEST_USER_DB_VERSION = USER_DB_VERSIONS.at(-1).version

export const META_DB_NAME = 'shuangsui-meta'
export const userDbName = (userId) => `shuangsui-${userId}`
