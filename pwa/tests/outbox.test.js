// The outbox: op ids, coalescing, per-form ordering, backoff gating, result handling, retry and conflict resolution.
import { describe, expect, it } from 'vitest'
import { clock, freshDb, makeForm } from './helpers/factories.js'
import {
  classifyResult,
  discardUnsent,
  enqueue,
  markSending,
  nextBatch,
  recordPushResults,
  recordTransportFailure,
  resetInterrupted,
  resolveConflict,
  retryOp,
  unsyncedCount,
} from '../src/sync/outbox.js'
import { loadFormView } from '../src/db/forms.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

async function setup(formOverrides = {}) {
  const db = freshDb()
  const form = makeForm(formOverrides)
  await db.forms.put(form)
  return { db, form }
}

const answer = (db, formId, key, value, deps) => enqueue(db, { formId, type: 'answer', payload: { checkpoint_key: key, value, answered_at: '2025-06-03T09:00:00+08:00' } }, deps)

describe('enqueue', () => {
  it('gives every op its own v4 UUID and the form version as base', async () => {
    const { db, form } = await setup({ version: 7 })
    const a = await answer(db, form.id, 'c1', 'pass')
    const b = await enqueue(db, { formId: form.id, type: 'confirm', payload: {} })
    expect(a.opId).toMatch(UUID)
    expect(b.opId).toMatch(UUID)
    expect(a.opId).not.toBe(b.opId)
    expect(a.baseVersion).toBe(7)
    expect(a.state).toBe('pending')
    expect(b.seq).toBeGreaterThan(a.seq)
  })

  it('replaces a never-sent edit of the same field instead of queueing both', async () => {
    const { db, form } = await setup()
    await answer(db, form.id, 'c1', 'pass')
    const second = await answer(db, form.id, 'c1', 'fail')
    await answer(db, form.id, 'c2', 3)
    const ops = await db.outbox.orderBy('seq').toArray()
    expect(ops.map((o) => o.payload.value)).toEqual(['fail', 3])
    expect(ops[0].opId).toBe(second.opId)
  })

  it('never replaces an op that may have reached the server', async () => {
    const { db, form } = await setup()
    const first = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [first])
    await resetInterrupted(db) // app killed mid-push
    await answer(db, form.id, 'c1', 'fail')
    const ops = await db.outbox.orderBy('seq').toArray()
    expect(ops).toHaveLength(2)
    expect(ops[0].opId).toBe(first.opId)
    expect(ops[0].state).toBe('pending')
  })

  it('never coalesces evidence, confirm or submit', async () => {
    const { db, form } = await setup()
    await enqueue(db, { formId: form.id, type: 'confirm', payload: {} })
    await enqueue(db, { formId: form.id, type: 'confirm', payload: {} })
    expect(await db.outbox.count()).toBe(2)
  })
})

describe('nextBatch ordering', () => {
  it('keeps queue order and stops a form at its first blocked op', async () => {
    const { db, form } = await setup()
    const other = makeForm()
    await db.forms.put(other)
    const a1 = await answer(db, form.id, 'c1', 'pass')
    const b1 = await answer(db, other.id, 'c1', 'fail')
    const a2 = await answer(db, form.id, 'c2', 4)
    await db.outbox.update(a1.seq, { state: 'failed', everSent: true })
    const batch = await nextBatch(db)
    expect(batch.map((o) => o.opId)).toEqual([b1.opId])
    expect(batch.map((o) => o.opId)).not.toContain(a2.opId)
  })

  it('sends at most one op per field in a batch', async () => {
    const { db, form } = await setup()
    const first = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [first])
    await resetInterrupted(db)
    const second = await answer(db, form.id, 'c1', 'fail')
    const third = await answer(db, form.id, 'c2', 1)
    const batch = await nextBatch(db)
    expect(batch.map((o) => o.opId)).toEqual([first.opId])
    expect(batch.map((o) => o.opId)).not.toContain(second.opId)
    expect(batch.map((o) => o.opId)).not.toContain(third.opId)
  })

  it('holds a submit until every evidence file of the form is uploaded', async () => {
    const { db, form } = await setup()
    await db.evidence.put({ id: 'ev1', formId: form.id, uploadState: 'pending' })
    const submit = await enqueue(db, { formId: form.id, type: 'submit', payload: {} })
    expect(await nextBatch(db)).toEqual([])
    await db.evidence.update('ev1', { uploadState: 'uploaded' })
    expect((await nextBatch(db)).map((o) => o.opId)).toEqual([submit.opId])
  })

  it('respects per-op backoff', async () => {
    const now = clock()
    const { db, form } = await setup()
    const op = await answer(db, form.id, 'c1', 'pass', { now })
    await markSending(db, [op], { now })
    await recordTransportFailure(db, [op], '网络不可用', { now, random: () => 0 })
    expect(await nextBatch(db, { now })).toEqual([])
    now.advance(999)
    expect(await nextBatch(db, { now })).toEqual([])
    now.advance(1) // attempt 1: base 2 s, equal jitter with random 0 → 1 s
    expect((await nextBatch(db, { now })).map((o) => o.opId)).toEqual([op.opId])
  })
})

describe('recordPushResults', () => {
  it('marks applied ops synced, patches the local copy and rebases ops queued on it', async () => {
    const { db, form } = await setup({ version: 3 })
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    const b = await answer(db, form.id, 'c2', 5) // queued while a was in flight
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'applied', code: 200, form_version: 4 }], { inspectorId: 'i-me' })
    const saved = await db.forms.get(form.id)
    expect(saved.version).toBe(4)
    expect(saved.answers.c1.value).toBe('pass')
    expect(saved.status).toBe('in_progress')
    expect((await db.outbox.get(a.seq)).state).toBe('synced')
    expect((await db.outbox.get(b.seq)).baseVersion).toBe(4)
  })

  it('keeps the old base when someone else also changed the form', async () => {
    const { db, form } = await setup({ version: 3 })
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    const b = await answer(db, form.id, 'c2', 5)
    const out = await recordPushResults(db, [a], [{ op_id: a.opId, status: 'applied', code: 200, form_version: 6 }])
    expect(out.needsPull).toBe(true)
    expect((await db.forms.get(form.id)).version).toBe(3)
    expect((await db.outbox.get(b.seq)).baseVersion).toBe(3)
  })

  it('treats duplicate replies by their first outcome', () => {
    expect(classifyResult({ status: 'duplicate', code: 200 })).toBe('synced')
    expect(classifyResult({ status: 'duplicate', code: 409 })).toBe('conflict')
    expect(classifyResult({ status: 'duplicate', code: 422 })).toBe('failed')
    expect(classifyResult({ status: 'rejected', code: 403 })).toBe('failed')
    expect(classifyResult({ status: 'weird' })).toBe(null)
  })

  it('stores a 409 with the server copy, which becomes the local server copy', async () => {
    const { db, form } = await setup({ version: 2 })
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    const serverCopy = { ...form, version: 5, answers: { c1: { value: 'fail', note: '他人填写', inspector_id: 'i-co' } } }
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'conflict', code: 409, message: '已被修改', form_version: 5, server_copy: serverCopy }])
    const op = await db.outbox.get(a.seq)
    expect(op.state).toBe('conflict')
    expect(op.serverCopy.version).toBe(5)
    expect((await db.forms.get(form.id)).answers.c1.value).toBe('fail')
    // On screen my edit still shows (it is not lost), marked as conflicting.
    const view = await loadFormView(db, form.id)
    expect(view.answers.c1.value).toBe('pass')
    expect(view.pending['answer:c1'].state).toBe('conflict')
    expect(view.sync.label).toBe('失败')
  })

  it('marks rejected ops failed with the server message, and a missing result backs off', async () => {
    const { db, form } = await setup()
    const a = await answer(db, form.id, 'c1', 'pass')
    const b = await answer(db, form.id, 'c2', 1)
    await markSending(db, [a, b])
    await recordPushResults(db, [a, b], [{ op_id: a.opId, status: 'rejected', code: 422, message: '答案不在选项内', errors: { value: ['无效'] } }], { random: () => 0.5 })
    const fa = await db.outbox.get(a.seq)
    expect(fa.state).toBe('failed')
    expect(fa.lastError).toBe('答案不在选项内')
    expect(fa.errors).toEqual({ value: ['无效'] })
    const fb = await db.outbox.get(b.seq)
    expect(fb.state).toBe('pending')
    expect(fb.attempts).toBe(1)
    expect(fb.nextAttemptAt).toBeGreaterThan(Date.now())
  })
})

describe('state transitions on retry and resolution', () => {
  it('re-sends a failed op as a new op id in the same queue position', async () => {
    const { db, form } = await setup({ version: 2 })
    const a = await answer(db, form.id, 'c1', 'pass')
    const b = await enqueue(db, { formId: form.id, type: 'confirm', payload: {} })
    await markSending(db, [a])
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'rejected', code: 422, message: 'x' }])
    await db.forms.update(form.id, { version: 9 })
    await retryOp(db, a.opId)
    const retried = await db.outbox.get(a.seq)
    expect(retried.opId).not.toBe(a.opId)
    expect(retried.previousOpIds).toEqual([a.opId])
    expect(retried.state).toBe('pending')
    expect(retried.everSent).toBe(false)
    expect(retried.baseVersion).toBe(9)
    expect((await nextBatch(db)).map((o) => o.opId)).toEqual([retried.opId, b.opId])
  })

  it('makes a backing-off op due now without changing its id (it may already be on the server)', async () => {
    const { db, form } = await setup()
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    await recordTransportFailure(db, [a], '网络不可用')
    await retryOp(db, a.opId)
    const op = await db.outbox.get(a.seq)
    expect(op.opId).toBe(a.opId)
    expect(op.nextAttemptAt).toBe(0)
  })

  it('"使用服务器版本" drops my edits of that field', async () => {
    const { db, form } = await setup({ version: 1 })
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'conflict', code: 409, form_version: 2, server_copy: { ...form, version: 2, answers: { c1: { value: 'na' } } } }])
    await answer(db, form.id, 'c1', 'fail') // edited again while the conflict was open
    await answer(db, form.id, 'c2', 2)
    await resolveConflict(db, a.opId, 'server')
    const view = await loadFormView(db, form.id)
    expect(view.answers.c1.value).toBe('na')
    expect(view.answers.c2.value).toBe(2)
    expect(await db.outbox.count()).toBe(1)
  })

  it('"保留我的修改" re-sends on top of the server version with a new op id', async () => {
    const { db, form } = await setup({ version: 1 })
    const a = await answer(db, form.id, 'c1', 'pass')
    await markSending(db, [a])
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'conflict', code: 409, form_version: 4, server_copy: { ...form, version: 4 } }])
    await resolveConflict(db, a.opId, 'mine')
    const op = await db.outbox.get(a.seq)
    expect(op.state).toBe('pending')
    expect(op.opId).not.toBe(a.opId)
    expect(op.baseVersion).toBe(4)
    expect(op.payload.value).toBe('pass')
    await expect(resolveConflict(db, op.opId, 'server')).rejects.toThrow()
  })

  it('lets a never-sent op be discarded but not one that was sent', async () => {
    const { db, form } = await setup()
    const a = await answer(db, form.id, 'c1', 'pass')
    const b = await answer(db, form.id, 'c2', 1)
    await markSending(db, [b])
    expect(await discardUnsent(db, a.opId)).toBe(true)
    await expect(discardUnsent(db, b.opId)).rejects.toThrow('无法撤销')
  })

  it('counts unsynced ops and unfinished uploads', async () => {
    const { db, form } = await setup()
    const a = await answer(db, form.id, 'c1', 'pass')
    await db.evidence.bulkPut([
      { id: 'e1', formId: form.id, uploadState: 'pending' },
      { id: 'e2', formId: form.id, uploadState: 'received' },
    ])
    expect(await unsyncedCount(db)).toBe(2)
    await markSending(db, [a])
    await recordPushResults(db, [a], [{ op_id: a.opId, status: 'applied', code: 200, form_version: 2 }])
    expect(await unsyncedCount(db)).toBe(1)
  })
})
