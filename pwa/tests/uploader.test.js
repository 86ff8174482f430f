// Evidence capture and the tus uploader (with a stand-in tus.Upload): metadata, resume, confirmation, failures.
import { describe, expect, it, vi } from 'vitest'
import { freshDb } from './helpers/factories.js'
import { CHUNK_SIZE, createUploader } from '../src/sync/uploader.js'
import { DexieUrlStorage, evidenceFingerprint } from '../src/sync/tus-storage.js'
import { captureEvidence, kindOf } from '../src/capture/evidence.js'
import { sha256Hex } from '../src/capture/hash.js'

/** Stand-in for tus.Upload: records its options and succeeds or fails as told. */
function fakeUploadClass(outcome) {
  const created = []
  class FakeUpload {
    constructor(file, options) {
      this.file = file
      this.options = options
      created.push(this)
    }
    async findPreviousUploads() {
      return this.options.urlStorage.findUploadsByFingerprint(await this.options.fingerprint())
    }
    resumeFromPreviousUpload(prev) {
      this.resumedFrom = prev
    }
    async start() {
      const headers = {}
      await this.options.onBeforeRequest({ setHeader: (k, v) => (headers[k] = v) })
      this.headers = headers
      this.options.onProgress(this.file.size / 2, this.file.size)
      if (outcome === 'ok') this.options.onSuccess({})
      else this.options.onError(Object.assign(new Error('tus'), { originalResponse: outcome ? { getStatus: () => outcome } : null }))
    }
    abort() {}
  }
  return { FakeUpload, created }
}

async function captured(db) {
  const file = new File(['fake-jpeg-bytes'], 'IMG_0001.jpg', { type: 'image/jpeg' })
  await db.forms.put({ id: 'f1', version: 1 })
  const id = await captureEvidence(db, { formId: 'f1', checkpointKey: 'c1', file, fix: { lat: 26.1, lng: 119.3, accuracy_m: 8 }, makeThumb: async () => null })
  return { id, file }
}

describe('capture', () => {
  it('hashes at capture, stores the blob and queues an evidence op with provenance', async () => {
    const db = freshDb()
    const { id, file } = await captured(db)
    const rec = await db.evidence.get(id)
    expect(rec).toMatchObject({ formId: 'f1', checkpointKey: 'c1', kind: 'photo', mime: 'image/jpeg', filename: 'IMG_0001.jpg', uploadState: 'pending', hasBlob: true })
    expect(rec.sha256).toBe(await sha256Hex(file))
    expect(await (await db.blobs.get(id)).blob.text()).toBe('fake-jpeg-bytes')
    const op = await db.outbox.where('opId').equals(rec.opId).first()
    expect(op.type).toBe('evidence')
    expect(op.payload).toMatchObject({ evidence_id: id, checkpoint_key: 'c1', kind: 'photo', sha256: rec.sha256, size: file.size, lat: 26.1, accuracy_m: 8 })
    expect(kindOf('video/mp4')).toBe('video')
    expect(kindOf('audio/webm')).toBe('audio')
  })
})

describe('uploader', () => {
  it('uploads with tus metadata, 8 MiB chunks, a per-user fingerprint and a fresh bearer token', async () => {
    const db = freshDb()
    const { id } = await captured(db)
    const { FakeUpload, created } = fakeUploadClass('ok')
    const api = { get: vi.fn(async () => ({ status: 'received' })) }
    const progress = vi.fn()
    const up = createUploader({ db, api, getAccessToken: async () => 'tok', Upload: FakeUpload, onProgress: progress })
    const rec = await db.evidence.get(id)
    expect(await up.upload(rec)).toBe('received')
    const [u] = created
    expect(u.options.endpoint).toBe('/api/v1/uploads/')
    expect(u.options.chunkSize).toBe(CHUNK_SIZE)
    expect(CHUNK_SIZE).toBe(8 * 1024 * 1024)
    expect(u.options.metadata).toEqual({ evidence_id: id, filename: 'IMG_0001.jpg', filetype: 'image/jpeg' })
    expect(await u.options.fingerprint()).toBe(evidenceFingerprint(id))
    expect(u.options.urlStorage).toBeInstanceOf(DexieUrlStorage)
    expect(u.headers.Authorization).toBe('Bearer tok')
    expect(progress).toHaveBeenCalledWith(id, expect.any(Number), rec.size)
    expect(api.get).toHaveBeenCalledWith(`/api/v1/evidence/${id}`)
    // Server confirmed: bytes dropped, metadata kept.
    const after = await db.evidence.get(id)
    expect(after).toMatchObject({ uploadState: 'received', hasBlob: false, sha256: rec.sha256 })
    expect(await db.blobs.get(id)).toBeUndefined()
  })

  it('keeps the bytes when the server has not confirmed yet', async () => {
    const db = freshDb()
    const { id } = await captured(db)
    const { FakeUpload } = fakeUploadClass('ok')
    const up = createUploader({ db, api: { get: async () => ({ status: 'declared' }) }, getAccessToken: async () => 't', Upload: FakeUpload })
    expect(await up.upload(await db.evidence.get(id))).toBe('uploaded')
    expect(await db.blobs.get(id)).toBeDefined()
  })

  it('resumes from a stored upload URL after the app was killed', async () => {
    const db = freshDb()
    const { id } = await captured(db)
    const storage = new DexieUrlStorage(db)
    const key = await storage.addUpload(evidenceFingerprint(id), { size: 15, metadata: {}, creationTime: 'x', uploadUrl: '/api/v1/uploads/abc', parallelUploadUrls: null })
    const { FakeUpload, created } = fakeUploadClass('ok')
    const up = createUploader({ db, api: { get: async () => ({}) }, getAccessToken: async () => 't', Upload: FakeUpload })
    await up.upload(await db.evidence.get(id))
    expect(created[0].resumedFrom).toMatchObject({ uploadUrl: '/api/v1/uploads/abc', urlStorageKey: key })
    await storage.removeUpload(key)
    expect(await storage.findAllUploads()).toEqual([])
  })

  it('reports a refused file (4xx) with the server message and stops retrying it', async () => {
    const db = freshDb()
    const { id } = await captured(db)
    class Refused {
      constructor(file, options) {
        this.options = options
      }
      async findPreviousUploads() {
        return []
      }
      start() {
        this.options.onError({ originalResponse: { getStatus: () => 422, getBody: () => JSON.stringify({ code: 422, message: '文件大小与登记的证据不符' }) } })
      }
      abort() {}
    }
    const up = createUploader({ db, api: { get: async () => ({}) }, getAccessToken: async () => 't', Upload: Refused })
    expect(await up.upload(await db.evidence.get(id))).toBe('failed')
    expect(await db.evidence.get(id)).toMatchObject({ uploadState: 'failed', permanent: true, error: '文件大小与登记的证据不符' })
  })

  it('marks a hash mismatch (460) as failed for good, and a network drop as pending with backoff', async () => {
    const db = freshDb()
    const { id } = await captured(db)
    const bad = fakeUploadClass(460)
    let up = createUploader({ db, api: { get: async () => ({}) }, getAccessToken: async () => 't', Upload: bad.FakeUpload })
    expect(await up.upload(await db.evidence.get(id))).toBe('failed')
    expect(await db.evidence.get(id)).toMatchObject({ uploadState: 'failed', permanent: true })
    expect((await db.evidence.get(id)).error).toContain('SHA-256')
    expect(bad.created[0].options.onShouldRetry({ originalResponse: { getStatus: () => 460 } }, 0)).toBe(false)
    expect(bad.created[0].options.onShouldRetry({ originalResponse: { getStatus: () => 503 } }, 0)).toBe(true)
    expect(bad.created[0].options.onShouldRetry({ originalResponse: { getStatus: () => 409 } }, 0)).toBe(true)
    expect(bad.created[0].options.onShouldRetry({ originalResponse: { getStatus: () => 422 } }, 0)).toBe(false)

    await up.retry(id)
    const flaky = fakeUploadClass(0)
    up = createUploader({ db, api: { get: async () => ({}) }, getAccessToken: async () => 't', Upload: flaky.FakeUpload, now: () => 1000, random: () => 0 })
    expect(await up.upload(await db.evidence.get(id))).toBe('pending')
    expect(await db.evidence.get(id)).toMatchObject({ uploadState: 'pending', attempts: 1, nextAttemptAt: 2000 })
    expect(await db.blobs.get(id)).toBeDefined()
  })
})
