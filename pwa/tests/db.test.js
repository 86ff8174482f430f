// Per-user Dexie databases, their migrations, the meta DB and the local form store.
import Dexie from 'dexie'
import { describe, expect, it } from 'vitest'
import { freshDb, makeForm } from './helpers/factories.js'
import { UserDb, openUserDb, closeUserDb } from '../src/db/user-db.js'
import { LATEST_USER_DB_VERSION, USER_DB_VERSIONS, userDbName } from '../src/db/schema.js'
import { MetaDb, forgetLastUser, getDeviceId, getLastUser, lastUsername, rememberUser } from '../src/db/meta.js'
import {
  buildFormView,
  formSyncState,
  isOfflineReady,
  listTaskRows,
  missingForSubmit,
  savePulledForms,
  workingDaysLeft,
} from '../src/db/forms.js'
import { enqueue, markSending, recordPushResults } from '../src/sync/outbox.js'

describe('per-user database migrations', () => {
  it('declares versions in ascending order ending at the latest', () => {
    const versions = USER_DB_VERSIONS.map((v) => v.version)
    expect(versions).toEqual([...versions].sort((a, b) => a - b))
    expect(versions.at(-1)).toBe(LATEST_USER_DB_VERSION)
  })

  it('upgrades a v1 database: evidence bytes move to blobs, ops gain retry fields, nothing is lost', async () => {
    const userId = `mig-${crypto.randomUUID()}`
    const v1 = new UserDb(userId, { upTo: 1 })
    await v1.open()
    expect(v1.verno).toBe(1)
    const blob = new Blob(['photo-bytes'], { type: 'image/jpeg' })
    await v1.evidence.bulkPut([
      { id: 'ev1', formId: 'f1', sha256: 'aa', uploadState: 'pending', blob },
      { id: 'ev2', formId: 'f1', sha256: 'bb', uploadState: 'received' },
    ])
    await v1.outbox.add({ opId: 'op-1', formId: 'f1', type: 'answer', state: 'pending', payload: { checkpoint_key: 'c1', value: 'pass' } })
    await v1.forms.put(makeForm({ id: 'f1' }))
    await v1.kv.put({ key: 'pullCursor', value: 'abc' })
    v1.close()

    const latest = new UserDb(userId)
    await latest.open()
    expect(latest.verno).toBe(LATEST_USER_DB_VERSION)
    const ev1 = await latest.evidence.get('ev1')
    expect(ev1.blob).toBeUndefined()
    expect(ev1.hasBlob).toBe(true)
    expect(ev1.bytesUploaded).toBe(0)
    const stored = await latest.blobs.get('ev1')
    expect(await stored.blob.text()).toBe('photo-bytes')
    expect((await latest.evidence.get('ev2')).hasBlob).toBe(false)
    const op = await latest.outbox.where('opId').equals('op-1').first()
    expect(op.attempts).toBe(0)
    expect(op.nextAttemptAt).toBe(0)
    // The compound index added in v2 is usable.
    expect(await latest.outbox.where('[formId+state]').equals(['f1', 'pending']).count()).toBe(1)
    expect(await latest.getKv('pullCursor')).toBe('abc')
    expect((await latest.forms.get('f1')).enterprise.name).toBe('福州某某食品有限公司')
    latest.close()
  })

  it('keeps each user in their own database', async () => {
    const a = openUserDb('alice')
    const b = openUserDb('bob')
    expect(a.name).toBe(userDbName('alice'))
    expect(a.name).toBe('shuangsui-alice')
    await a.forms.put(makeForm({ id: 'fa' }))
    expect(await b.forms.count()).toBe(0)
    expect(openUserDb('alice')).toBe(a)
    closeUserDb('alice')
    closeUserDb('bob')
    expect(await Dexie.exists('shuangsui-alice')).toBe(true)
  })
})

describe('meta database', () => {
  it('records the last user and a stable device id', async () => {
    const meta = new MetaDb()
    const id1 = await getDeviceId(meta)
    expect(await getDeviceId(meta)).toBe(id1)
    expect(await getLastUser(meta)).toBe(null)
    await rememberUser({ id: 'u1', username: 'zhangsan', display_name: '张三', inspector_id: 'i-me', roles: ['inspector'] }, meta)
    expect((await getLastUser(meta)).display_name).toBe('张三')
    await forgetLastUser(meta)
    expect(await getLastUser(meta)).toBe(null)
    expect(await lastUsername(meta)).toBe('zhangsan')
  })
})

describe('local form store', () => {
  it('saves pulled forms and confirms received evidence by dropping the local bytes', async () => {
    const db = freshDb()
    await db.evidence.put({ id: 'ev1', formId: 'f1', uploadState: 'uploaded', hasBlob: true })
    await db.blobs.put({ evidenceId: 'ev1', blob: new Blob(['x']) })
    await savePulledForms(db, { forms: [makeForm({ id: 'f1', evidence: [{ id: 'ev1', kind: 'photo', sha256: 'aa', status: 'received' }] })], removed: [] })
    expect((await db.forms.get('f1')).pulledAt).toBeTruthy()
    const ev = await db.evidence.get('ev1')
    expect(ev.uploadState).toBe('received')
    expect(ev.hasBlob).toBe(false)
    expect(await db.blobs.get('ev1')).toBeUndefined()
  })

  it('stops uploading evidence the server refused after inspection', async () => {
    const db = freshDb()
    await db.evidence.put({ id: 'ev9', formId: 'f1', uploadState: 'pending', hasBlob: true })
    await savePulledForms(db, { forms: [makeForm({ id: 'f1', evidence: [{ id: 'ev9', kind: 'video', sha256: 'aa', status: 'rejected', rejected_reason: '不是有效的视频文件' }] })] })
    expect(await db.evidence.get('ev9')).toMatchObject({ uploadState: 'failed', permanent: true, error: '服务器拒收：不是有效的视频文件', hasBlob: true })
  })

  it('keeps an un-assigned form that still holds unsynced work, deletes a clean one', async () => {
    const db = freshDb()
    await savePulledForms(db, { forms: [makeForm({ id: 'dirty' }), makeForm({ id: 'clean' })] })
    await enqueue(db, { formId: 'dirty', type: 'answer', payload: { checkpoint_key: 'c1', value: 'pass', answered_at: 'x' } })
    await savePulledForms(db, { forms: [], removed: ['dirty', 'clean'] })
    expect((await db.forms.get('dirty')).removed).toBe(true)
    expect(await db.forms.get('clean')).toBeUndefined()
  })

  it('shows unsynced edits over the server copy, and stops once they are synced', async () => {
    const db = freshDb()
    const form = makeForm({ id: 'f1', answers: { c1: { value: 'fail', note: '旧' } } })
    await db.forms.put(form)
    const op = await enqueue(db, { formId: 'f1', type: 'answer', payload: { checkpoint_key: 'c1', value: 'pass', answered_at: 't' } })
    await enqueue(db, { formId: 'f1', type: 'note', payload: { checkpoint_key: 'c1', text: '新备注' } })
    let view = buildFormView(await db.forms.get('f1'), await db.outbox.toArray(), [], { inspectorId: 'i-me' })
    expect(view.answers.c1).toMatchObject({ value: 'pass', note: '新备注', inspector_id: 'i-me' })
    expect(view.status).toBe('in_progress')
    expect(Object.keys(view.pending).sort()).toEqual(['answer:c1', 'note:c1'])
    await markSending(db, [op])
    await recordPushResults(db, [op], [{ op_id: op.opId, status: 'applied', code: 200, form_version: 2 }])
    view = buildFormView(await db.forms.get('f1'), await db.outbox.toArray(), [])
    expect(view.answers.c1.value).toBe('pass')
    expect(view.pending['answer:c1']).toBeUndefined()
  })

  it('makes every confirmation stale after a content edit, as the server does', async () => {
    const db = freshDb()
    await db.forms.put(makeForm({ id: 'f1', confirmations: ['i-co'] }))
    await enqueue(db, { formId: 'f1', type: 'confirm', payload: {} })
    let view = buildFormView(await db.forms.get('f1'), await db.outbox.toArray(), [], { inspectorId: 'i-me' })
    expect(view.confirmations).toEqual(['i-co', 'i-me'])
    await enqueue(db, { formId: 'f1', type: 'propose_result', payload: { category: '未发现问题' } })
    await enqueue(db, { formId: 'f1', type: 'signature', payload: { signer: 'inspector', name: '张三', image_png_base64: 'x', signed_at: 't' } })
    view = buildFormView(await db.forms.get('f1'), await db.outbox.toArray(), [], { inspectorId: 'i-me' })
    expect(view.confirmations).toEqual([])
    expect(missingForSubmit(view, { inspectorId: 'i-me' })).toContain('本人确认检查内容')
  })

  it('derives the four sync states with reasons', () => {
    expect(formSyncState([], []).label).toBe('已同步')
    expect(formSyncState([{ state: 'pending' }]).label).toBe('待同步')
    expect(formSyncState([{ state: 'synced' }], [{ uploadState: 'pending' }]).label).toBe('待同步')
    expect(formSyncState([{ state: 'sending' }]).label).toBe('同步中')
    expect(formSyncState([], [{ uploadState: 'uploading' }]).label).toBe('同步中')
    expect(formSyncState([{ state: 'failed', lastError: '无权限' }])).toMatchObject({ label: '失败', reason: '无权限' })
    expect(formSyncState([{ state: 'conflict', lastError: '已被修改' }]).reason).toContain('版本冲突')
    expect(formSyncState([], [{ uploadState: 'failed', error: '校验失败' }]).reason).toBe('校验失败')
  })

  it('is offline-ready only with the checklist and every unsent file on the device', () => {
    const form = makeForm()
    expect(isOfflineReady(form, [])).toBe(true)
    expect(isOfflineReady({ ...form, checkpoints: [] }, [])).toBe(false)
    expect(isOfflineReady(form, [{ uploadState: 'pending', hasBlob: false }])).toBe(false)
    expect(isOfflineReady(form, [{ uploadState: 'received', hasBlob: false }])).toBe(true)
  })

  it('estimates working days left offline by skipping weekends', () => {
    const form = { working_days_left: 5, pulledAt: '2025-06-06T10:00:00+08:00' } // Friday
    expect(workingDaysLeft(form, new Date('2025-06-06T18:00:00+08:00'))).toBe(5)
    expect(workingDaysLeft(form, new Date('2025-06-08T10:00:00+08:00'))).toBe(5) // Sunday
    expect(workingDaysLeft(form, new Date('2025-06-10T10:00:00+08:00'))).toBe(3) // Tuesday
    expect(workingDaysLeft({ working_days_left: null })).toBe(null)
  })

  it('lists task rows with status, deadline and sync state', async () => {
    const db = freshDb()
    await savePulledForms(db, { forms: [makeForm({ id: 'late', deadline_complete: '2025-06-10', status: 'returned' }), makeForm({ id: 'early', deadline_complete: '2025-06-01' })] })
    await enqueue(db, { formId: 'late', type: 'submit', payload: {} })
    const rows = await listTaskRows(db)
    expect(rows.map((r) => r.id)).toEqual(['early', 'late'])
    expect(rows[1]).toMatchObject({ returned: true, statusLabel: '已提交（待同步）', offlineReady: true })
    expect(rows[1].sync.label).toBe('待同步')
    expect(rows[0].sync.label).toBe('已同步')
  })

  it('lists what is missing before submit', () => {
    const base = buildFormView(makeForm(), [], [])
    const missing = missingForSubmit(base, { inspectorId: 'i-me', displayName: '张三' })
    expect(missing).toContain('现场签到')
    expect(missing.some((m) => m.includes('是否公示营业执照'))).toBe(true)
    expect(missing).toContain('拟定检查结果')
    const complete = buildFormView(
      makeForm({
        checkin: { at: 'x', lat: 1, lng: 2 },
        answers: { c1: { value: 'pass' }, c2: { value: 3 } },
        evidence: [{ id: 'e', checkpoint_key: 'c1', kind: 'photo', status: 'received' }],
        signatures: [{ signer: 'inspector', name: '张三' }, { signer: 'enterprise_rep', name: '王五' }],
        proposed_result: '未发现问题',
        confirmations: ['i-me'],
      }),
      [],
      [],
    )
    expect(missingForSubmit(complete, { inspectorId: 'i-me', displayName: '张三' })).toEqual([])
  })
})
