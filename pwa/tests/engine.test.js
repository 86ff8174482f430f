// The sync cycle against a scripted server (mocked fetch): ordering, idempotent replay, backoff, 409s, uploads, triggers.
import { describe, expect, it, vi } from 'vitest'
import { clock, freshDb, makeForm } from './helpers/factories.js'
import { createFakeServer, staticAuth } from './helpers/fake-server.js'
import { createApiClient } from '../src/api/client.js'
import { SyncEngine } from '../src/sync/engine.js'
import { enqueue, resolveConflict } from '../src/sync/outbox.js'
import { loadFormView } from '../src/db/forms.js'
import { pullChanges } from '../src/sync/pull.js'

function setup({ forms = [makeForm({ id: 'f1' })], now = clock(), uploader } = {}) {
  const db = freshDb()
  const server = createFakeServer({ forms })
  const fetchSpy = vi.fn(server.fetch)
  const api = createApiClient({ fetchImpl: fetchSpy, auth: staticAuth() })
  const engine = new SyncEngine({
    db,
    api,
    uploader: uploader ?? { upload: vi.fn(async () => 'uploaded') },
    deviceId: 'device-1',
    inspectorId: 'i-me',
    now,
    random: () => 0,
  })
  return { db, server, api, engine, now, fetchSpy }
}

const answer = (db, key, value) => enqueue(db, { formId: 'f1', type: 'answer', payload: { checkpoint_key: key, value, answered_at: '2025-06-03T09:00:00+08:00' } })
const pushBodies = (fetchSpy) => fetchSpy.mock.calls.filter(([url]) => String(url).includes('/sync/push')).map(([, init]) => JSON.parse(init.body))

describe('SyncEngine against a scripted server', () => {
  it('pulls, pushes in order with the device id, and ends with everything synced', async () => {
    const { db, engine, server, fetchSpy } = setup()
    await pullChanges(db, engine.api)
    expect(await db.getKv('pullCursor')).toBe('c-0')
    await answer(db, 'c1', 'pass')
    await answer(db, 'c2', 7)
    await enqueue(db, { formId: 'f1', type: 'checkin', payload: { at: 't', lat: 26.1, lng: 119.3, accuracy_m: 12 } })
    await engine.flush()
    const [body] = pushBodies(fetchSpy)
    expect(body.device_id).toBe('device-1')
    expect(body.operations.map((o) => o.type)).toEqual(['answer', 'answer', 'checkin'])
    expect(body.operations.every((o) => o.base_version === 1)).toBe(true)
    expect(server.state.forms.get('f1').answers.c2.value).toBe(7)
    const view = await loadFormView(db, 'f1')
    expect(view.sync.label).toBe('已同步')
    expect(view.version).toBe(server.state.forms.get('f1').version)
    expect(engine.status.lastError).toBe(null)
  })

  it('replays the same op ids after a lost response and the server dedups them', async () => {
    const { db, engine, server, fetchSpy, now } = setup()
    await pullChanges(db, engine.api)
    const op = await answer(db, 'c1', 'fail')
    server.state.failNextPush = 'after-apply'
    await engine.flush()
    expect(engine.status.lastError).toBe('网络不可用')
    let saved = await db.outbox.where('opId').equals(op.opId).first()
    expect(saved).toMatchObject({ state: 'pending', attempts: 1 })

    await engine.flush() // still backing off: nothing sent
    expect(pushBodies(fetchSpy)).toHaveLength(1)

    now.advance(60_000)
    await engine.flush()
    const bodies = pushBodies(fetchSpy)
    expect(bodies).toHaveLength(2)
    expect(bodies[1].operations[0].op_id).toBe(op.opId)
    saved = await db.outbox.where('opId').equals(op.opId).first()
    expect(saved.state).toBe('synced')
    expect(saved.result.status).toBe('duplicate')
    expect(server.state.forms.get('f1').version).toBe(2) // applied once
  })

  it('backs off exponentially while the server keeps failing', async () => {
    const { db, engine, server, now } = setup()
    await pullChanges(db, engine.api)
    const op = await answer(db, 'c1', 'pass')
    const waits = []
    for (let i = 0; i < 4; i++) {
      server.state.failNextPush = 503
      await engine.flush()
      const saved = await db.outbox.where('opId').equals(op.opId).first()
      waits.push(saved.nextAttemptAt - now())
      now.advance(saved.nextAttemptAt - now())
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000]) // random() = 0 → lower half of each window
    await engine.flush()
    expect((await db.outbox.where('opId').equals(op.opId).first()).state).toBe('synced')
  })

  it('surfaces a 409 with the server copy and re-sends "my" version on request', async () => {
    const { db, engine, server } = setup()
    await pullChanges(db, engine.api)
    server.serverEdit('f1', 'answer', { checkpoint_key: 'c1', value: 'fail', answered_at: 't0' })
    const op = await answer(db, 'c1', 'pass')
    await answer(db, 'c2', 3)
    await engine.flush()
    const conflicted = await db.outbox.where('opId').equals(op.opId).first()
    expect(conflicted.state).toBe('conflict')
    expect(conflicted.serverCopy.answers.c1.value).toBe('fail')
    let view = await loadFormView(db, 'f1')
    expect(view.sync.label).toBe('失败')
    expect(view.answers.c1.value).toBe('pass')
    expect(server.state.forms.get('f1').answers.c2.value).toBe(3) // a different checkpoint does not conflict

    await resolveConflict(db, op.opId, 'mine')
    await engine.flush()
    expect(server.state.forms.get('f1').answers.c1.value).toBe('pass')
    view = await loadFormView(db, 'f1')
    expect(view.sync.label).toBe('已同步')
  })

  it('uploads files only after their evidence record is accepted, then lets a held submit go', async () => {
    const uploads = []
    let db
    const uploader = {
      upload: vi.fn(async (rec) => {
        const op = await db.outbox.where('opId').equals(rec.opId).first()
        uploads.push({ id: rec.id, opState: op.state })
        await db.evidence.update(rec.id, { uploadState: 'uploaded' })
        server.serverEdit('f1', 'confirm', {}) // the co-inspector confirms the content including this file
        return 'uploaded'
      }),
    }
    let server
    const forms = [makeForm({ id: 'f1' })]
    const ctx = setup({ forms, uploader })
    db = ctx.db
    server = ctx.server
    await pullChanges(db, ctx.api)
    const evOp = await enqueue(db, { formId: 'f1', type: 'evidence', payload: { evidence_id: 'ev1', kind: 'photo', sha256: 'ab', size: 1, mime: 'image/jpeg', filename: 'a.jpg', captured_at: 't' } })
    await db.evidence.put({ id: 'ev1', formId: 'f1', opId: evOp.opId, uploadState: 'pending', hasBlob: true, size: 1 })
    await enqueue(db, { formId: 'f1', type: 'confirm', payload: {} })
    await enqueue(db, { formId: 'f1', type: 'submit', payload: {} })
    await ctx.engine.flush()
    expect(uploads).toEqual([{ id: 'ev1', opState: 'synced' }])
    const types = pushBodies(ctx.fetchSpy).map((b) => b.operations.map((o) => o.type))
    expect(types).toEqual([['evidence', 'confirm'], ['submit']])
    expect(ctx.server.state.forms.get('f1').status).toBe('submitted')
  })

  it('keeps a rejected submit as 失败 with the reason until retried', async () => {
    const { db, engine } = setup()
    await pullChanges(db, engine.api)
    await enqueue(db, { formId: 'f1', type: 'submit', payload: {} })
    await engine.flush()
    const view = await loadFormView(db, 'f1')
    expect(view.sync).toMatchObject({ label: '失败', reason: '至少需要 2 名检查人员确认' })
  })

  it('runs one cycle at a time and coalesces triggers', async () => {
    const { db, engine, fetchSpy } = setup()
    await answer(db, 'c1', 'pass')
    await Promise.all([engine.flush(), engine.flush(), engine.flush()])
    const pulls = fetchSpy.mock.calls.filter(([url]) => String(url).includes('/sync/pull')).length
    expect(pulls).toBeLessThanOrEqual(2)
    expect(pushBodies(fetchSpy)).toHaveLength(1)
  })

  it('ends backoffs earned offline when the app starts', async () => {
    const { db, engine, server, now, fetchSpy } = setup()
    await pullChanges(db, engine.api)
    const op = await answer(db, 'c1', 'pass')
    server.state.failNextPush = 'network'
    await engine.flush()
    expect((await db.outbox.where('opId').equals(op.opId).first()).nextAttemptAt).toBeGreaterThan(now())
    await engine.start({ window: null, document: null, navigator: { onLine: true } })
    await engine.running
    expect((await db.outbox.where('opId').equals(op.opId).first()).state).toBe('synced')
    expect(pushBodies(fetchSpy)).toHaveLength(2)
    engine.stop()
  })

  it('flushes on `online`, on start, and from the service worker message', async () => {
    const { engine } = setup()
    const listeners = {}
    const target = () => ({ addEventListener: (t, fn) => (listeners[t] = fn), removeEventListener: vi.fn() })
    const win = { ...target(), setInterval: vi.fn(() => 1), clearInterval: vi.fn() }
    const doc = { ...target(), visibilityState: 'visible' }
    const sw = target()
    const spy = vi.spyOn(engine, 'flush')
    await engine.start({ window: win, document: doc, navigator: { onLine: true, serviceWorker: sw } })
    expect(spy).toHaveBeenCalledTimes(1)
    await listeners.online()
    expect(spy).toHaveBeenCalledTimes(2)
    listeners.message({ data: { type: 'OUTBOX_FLUSH' } })
    expect(spy).toHaveBeenCalledTimes(3)
    expect(win.setInterval).toHaveBeenCalledWith(expect.any(Function), 60_000)
    engine.stop()
  })
})
