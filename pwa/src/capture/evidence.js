/** Turns a captured file into evidence: hash at once, keep the bytes on the device, queue the record for the server. */
import { sha256Hex } from './hash.js'
import { makeThumbnail } from './thumbnail.js'
import { recentFix } from './geo.js'
import { enqueue } from '../sync/outbox.js'

export function kindOf(mime = '') {
  if (mime.startsWith('image/')) return 'photo'
  if (mime.startsWith('video/')) return 'video'
  if (mime.startsWith('audio/')) return 'audio'
  return 'document'
}

const EXT = { photo: 'jpg', video: 'mp4', audio: 'm4a', document: 'bin' }

/**
 * Hashes before anything else touches the bytes, stores Blob + metadata, then queues the `evidence`
 * op; hashing and storing happen in that order so a crash never leaves a record without its file.
 */
export async function captureEvidence(db, { formId, checkpointKey = null, file, fix = recentFix(), onHashProgress, makeThumb = makeThumbnail, newId = () => crypto.randomUUID() }) {
  const capturedAt = new Date().toISOString()
  const sha256 = await sha256Hex(file, { onProgress: onHashProgress })
  const evidenceId = newId()
  const kind = kindOf(file.type)
  const mime = file.type || 'application/octet-stream'
  const filename = file.name || `${kind}-${capturedAt.replace(/[:.]/g, '-')}.${EXT[kind]}`
  const thumbnail = kind === 'photo' ? await makeThumb(file) : null
  const payload = {
    evidence_id: evidenceId,
    checkpoint_key: checkpointKey ?? undefined,
    kind,
    sha256,
    size: file.size,
    mime,
    filename,
    captured_at: capturedAt,
    ...(fix ? { lat: fix.lat, lng: fix.lng, accuracy_m: fix.accuracy_m } : {}),
  }
  if (!payload.checkpoint_key) delete payload.checkpoint_key
  await db.transaction('rw', db.blobs, db.evidence, db.outbox, db.forms, async () => {
    await db.blobs.put({ evidenceId, blob: file })
    const op = await enqueue(db, { formId, type: 'evidence', payload })
    await db.evidence.put({
      id: evidenceId,
      formId,
      checkpointKey,
      kind,
      sha256,
      size: file.size,
      mime,
      filename,
      capturedAt,
      thumbnail,
      hasBlob: true,
      uploadState: 'pending',
      bytesUploaded: 0,
      attempts: 0,
      nextAttemptAt: 0,
      opId: op.opId,
      error: null,
    })
  })
  return evidenceId
}
