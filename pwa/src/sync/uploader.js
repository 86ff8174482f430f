/** Evidence bytes to the server over tus 1.0: 8 MiB chunks, resumable across app restarts, progress per file. */
import { backoffDelay } from './backoff.js'
import { markEvidenceReceived } from '../db/forms.js'
import { DexieUrlStorage, evidenceFingerprint } from './tus-storage.js'

export const UPLOAD_ENDPOINT = '/api/v1/uploads/'
export const CHUNK_SIZE = 8 * 1024 * 1024

// tus-js-client is needed only once there is a file to send: loaded on first use (precached for offline),
// it stays off the start-up path (smaller shell, less script to run before the first screen).
let tusUpload = null
async function loadTusUpload() {
  tusUpload ??= (await import('tus-js-client')).Upload
  return tusUpload
}

const PERMANENT = {
  460: '文件校验失败：服务器计算的 SHA-256 与登记值不一致',
  413: '文件过大，服务器拒绝接收',
  403: '无权上传该证据',
}

function statusOf(err) {
  return err?.originalResponse?.getStatus?.() ?? 0
}

// Worth another try later: auth, timeouts, offset races, expired sessions (tus starts a new upload), overload.
const TRANSIENT_4XX = new Set([401, 408, 409, 410, 423, 429])

function isPermanent(status) {
  return !!PERMANENT[status] || (status >= 400 && status < 500 && !TRANSIENT_4XX.has(status))
}

function serverMessage(err) {
  try {
    return JSON.parse(err?.originalResponse?.getBody?.() ?? '')?.message ?? null
  } catch {
    return null
  }
}

/**
 * `Upload` is injectable so tests can drive the success/failure paths without a tus server.
 * `getAccessToken` may refresh; tus asks for it before every request, so an upload outliving a
 * 15-minute access token keeps going.
 */
export function createUploader({ db, api, getAccessToken, onProgress = () => {}, Upload = null, endpoint = UPLOAD_ENDPOINT, now = () => Date.now(), random = Math.random }) {
  const urlStorage = new DexieUrlStorage(db)
  let current = null

  async function runTus(rec, blob) {
    const UploadClass = Upload ?? (await loadTusUpload())
    return new Promise((resolve, reject) => {
      const upload = new UploadClass(blob, {
        endpoint,
        chunkSize: CHUNK_SIZE,
        retryDelays: [0, 1000, 3000, 5000],
        metadata: { evidence_id: rec.id, filename: rec.filename, filetype: rec.mime },
        uploadSize: blob.size,
        fingerprint: async () => evidenceFingerprint(rec.id),
        urlStorage,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        async onBeforeRequest(req) {
          req.setHeader('Authorization', `Bearer ${await getAccessToken()}`)
        },
        onShouldRetry(err, attempt) {
          const s = statusOf(err)
          if (s === 401) return attempt < 2
          if (isPermanent(s)) return false
          return !s || TRANSIENT_4XX.has(s) || s >= 500
        },
        onProgress(sent, total) {
          onProgress(rec.id, sent, total)
        },
        onChunkComplete(_size, accepted) {
          db.evidence.update(rec.id, { bytesUploaded: accepted })
        },
        onSuccess: () => resolve(),
        onError: (err) => reject(err),
      })
      current = upload
      upload
        .findPreviousUploads()
        .then((prev) => {
          if (prev.length) upload.resumeFromPreviousUpload(prev[0])
          upload.start()
        })
        .catch(reject)
    })
  }

  /** Uploads one evidence file; resolves to its new uploadState. Never throws for upload errors. */
  async function upload(rec) {
    const blobRow = await db.blobs.get(rec.id)
    if (!blobRow) {
      await db.evidence.update(rec.id, { uploadState: 'failed', error: '设备上已找不到该文件' })
      return 'failed'
    }
    await db.evidence.update(rec.id, { uploadState: 'uploading', error: null })
    try {
      await runTus(rec, blobRow.blob)
    } catch (err) {
      const s = statusOf(err)
      if (isPermanent(s)) {
        const error = PERMANENT[s] ?? serverMessage(err) ?? `服务器拒绝接收（${s}）`
        await db.evidence.update(rec.id, { uploadState: 'failed', error, permanent: true })
        return 'failed'
      }
      const attempts = (rec.attempts ?? 0) + 1
      await db.evidence.update(rec.id, {
        uploadState: 'pending',
        attempts,
        nextAttemptAt: now() + backoffDelay(attempts, { random }),
        error: s ? `上传中断（${s}），稍后自动重试` : '网络中断，稍后自动重试',
      })
      return 'pending'
    } finally {
      current = null
    }
    await db.evidence.update(rec.id, { uploadState: 'uploaded', bytesUploaded: rec.size, uploadedAt: new Date(now()).toISOString(), attempts: 0, error: null })
    await confirmReceived(rec.id)
    return (await db.evidence.get(rec.id))?.uploadState ?? 'uploaded'
  }

  /** Drops the local bytes only once the server itself says "received" (a pull does the same check). */
  async function confirmReceived(evidenceId) {
    try {
      const meta = await api.get(`/api/v1/evidence/${evidenceId}`)
      if (meta?.status === 'received') await markEvidenceReceived(db, evidenceId)
    } catch {
      // Not fatal: the next pull lists the evidence status and settles it.
    }
  }

  async function retry(evidenceId) {
    await db.evidence.update(evidenceId, { uploadState: 'pending', attempts: 0, nextAttemptAt: 0, error: null, permanent: false })
  }

  function abort() {
    current?.abort(false)
  }

  return { upload, retry, abort, confirmReceived }
}
