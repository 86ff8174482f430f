/** The outbox: every local change is an operation with its own UUID, kept in order per form until the server answers. */
import { backoffDelay } from './backoff.js'
import { applyOpToForm, COALESCABLE, fieldKeyFor, OP_STATE, UNSYNCED_STATES } from './operations.js'

const defaults = {
  now: () => Date.now(),
  newId: () => crypto.randomUUID(),
  random: Math.random,
}

/** Queues one change. An earlier edit of the same field that never left the device is replaced, not duplicated. */
export async function enqueue(db, { formId, type, payload, baseVersion }, deps = {}) {
  const { now, newId } = { ...defaults, ...deps }
  return db.transaction('rw', db.outbox, db.forms, async () => {
    const form = await db.forms.get(formId)
    const opId = newId()
    const fieldKey = fieldKeyFor(type, payload, opId)
    if (COALESCABLE.has(type)) {
      const stale = await db.outbox
        .where('[formId+state]')
        .equals([formId, OP_STATE.PENDING])
        .filter((op) => op.fieldKey === fieldKey && !op.everSent)
        .primaryKeys()
      await db.outbox.bulkDelete(stale)
    }
    const t = now()
    const op = {
      opId,
      formId,
      type,
      fieldKey,
      baseVersion: baseVersion ?? form?.version ?? 0,
      payload,
      state: OP_STATE.PENDING,
      attempts: 0,
      everSent: false,
      nextAttemptAt: 0,
      lastError: null,
      createdAt: new Date(t).toISOString(),
      updatedAt: t,
    }
    op.seq = await db.outbox.add(op)
    return op
  })
}

/**
 * The next ops to push, oldest first. Per form, the queue stops at the first op that must wait
 * (failed, in conflict, backing off, or a submit whose files are not all on the server), so a
 * later op never overtakes an earlier one; two ops on the same field never share a batch.
 */
export async function nextBatch(db, { max = 50, ...deps } = {}) {
  const { now } = { ...defaults, ...deps }
  const t = now()
  const ops = await db.outbox.orderBy('seq').filter((op) => op.state !== OP_STATE.SYNCED).toArray()
  const blocked = new Set()
  const seenFields = new Map()
  const batch = []
  const evidenceReady = new Map()
  for (const op of ops) {
    if (batch.length >= max) break
    if (blocked.has(op.formId)) continue
    if (op.state !== OP_STATE.PENDING || op.nextAttemptAt > t) {
      blocked.add(op.formId)
      continue
    }
    if (op.type === 'submit') {
      if (!evidenceReady.has(op.formId)) {
        const waiting = await db.evidence
          .where('formId')
          .equals(op.formId)
          .filter((e) => e.uploadState !== 'uploaded' && e.uploadState !== 'received')
          .count()
        evidenceReady.set(op.formId, waiting === 0)
      }
      if (!evidenceReady.get(op.formId)) {
        blocked.add(op.formId)
        continue
      }
    }
    const fields = seenFields.get(op.formId) ?? new Set()
    if (fields.has(op.fieldKey)) {
      blocked.add(op.formId)
      continue
    }
    fields.add(op.fieldKey)
    seenFields.set(op.formId, fields)
    batch.push(op)
  }
  return batch
}

export function toWire(op) {
  return { op_id: op.opId, type: op.type, form_id: op.formId, base_version: op.baseVersion, payload: op.payload }
}

export async function markSending(db, ops, deps = {}) {
  const { now } = { ...defaults, ...deps }
  const t = now()
  await db.outbox.bulkUpdate(
    ops.map((op) => ({ key: op.seq, changes: { state: OP_STATE.SENDING, everSent: true, updatedAt: t } })),
  )
}

/** How one per-operation result from /sync/push settles its op. */
export function classifyResult(result) {
  const code = Number(result.code)
  switch (result.status) {
    case 'applied':
      return OP_STATE.SYNCED
    case 'conflict':
      return OP_STATE.CONFLICT
    case 'rejected':
      return OP_STATE.FAILED
    case 'duplicate':
      // A replay answers with the first outcome; its code says what that outcome was.
      if (!code || (code >= 200 && code < 300)) return OP_STATE.SYNCED
      return code === 409 ? OP_STATE.CONFLICT : OP_STATE.FAILED
    default:
      return null
  }
}

/** Applies the server's per-op answers: synced ops patch the local server copy, conflicts bring the server copy in. */
export async function recordPushResults(db, ops, results, { inspectorId, ...deps } = {}) {
  const { now, random } = { ...defaults, ...deps }
  const t = now()
  const byId = new Map((results ?? []).map((r) => [r.op_id, r]))
  const outcome = { synced: 0, conflict: 0, failed: 0, missing: 0, needsPull: false }
  await db.transaction('rw', db.outbox, db.forms, async () => {
    for (const op of [...ops].sort((a, b) => a.seq - b.seq)) {
      const r = byId.get(op.opId)
      const state = r ? classifyResult(r) : null
      if (!state) {
        const attempts = (op.attempts ?? 0) + 1
        await db.outbox.update(op.seq, {
          state: OP_STATE.PENDING,
          attempts,
          nextAttemptAt: t + backoffDelay(attempts, { random }),
          lastError: '服务器未返回该记录的处理结果',
          updatedAt: t,
        })
        outcome.missing += 1
        continue
      }
      if (state === OP_STATE.SYNCED) {
        await db.outbox.update(op.seq, {
          state,
          lastError: null,
          serverCopy: null,
          formVersion: r.form_version ?? null,
          result: { status: r.status, code: r.code ?? null },
          syncedAt: new Date(t).toISOString(),
          updatedAt: t,
        })
        const form = await db.forms.get(op.formId)
        if (form) {
          const patched = applyOpToForm(form, op, { inspectorId })
          const v = r.form_version
          if (Number.isInteger(v) && v === form.version + 1) {
            // Only our own op moved the version, so ops queued on top of it were based on what we see.
            patched.version = v
            await db.outbox
              .where('[formId+state]')
              .equals([op.formId, OP_STATE.PENDING])
              .filter((o) => o.baseVersion === form.version)
              .modify({ baseVersion: v })
          } else if (Number.isInteger(v) && v > form.version) {
            // Someone else changed the form too: keep our base so the server can still detect conflicts.
            patched.needsPull = true
            outcome.needsPull = true
          }
          await db.forms.put(patched)
        }
        outcome.synced += 1
      } else if (state === OP_STATE.CONFLICT) {
        await db.outbox.update(op.seq, {
          state,
          lastError: r.message || '服务器上的内容已被修改',
          errors: r.errors ?? null,
          serverCopy: r.server_copy ?? null,
          updatedAt: t,
        })
        const form = await db.forms.get(op.formId)
        if (r.server_copy && (!form || r.server_copy.version >= form.version)) {
          await db.forms.put({ ...r.server_copy, pulledAt: new Date(t).toISOString(), removed: false })
        }
        outcome.conflict += 1
      } else {
        await db.outbox.update(op.seq, {
          state,
          lastError: r.message || `服务器拒绝（${r.code}）`,
          errors: r.errors ?? null,
          updatedAt: t,
        })
        outcome.failed += 1
      }
    }
  })
  return outcome
}

/** The batch never got a per-op answer (offline, timeout, 5xx): every op goes back to waiting, with backoff. */
export async function recordTransportFailure(db, ops, message, deps = {}) {
  const { now, random } = { ...defaults, ...deps }
  const t = now()
  await db.transaction('rw', db.outbox, async () => {
    for (const op of ops) {
      const attempts = (op.attempts ?? 0) + 1
      await db.outbox.update(op.seq, {
        state: OP_STATE.PENDING,
        attempts,
        nextAttemptAt: t + backoffDelay(attempts, { random }),
        lastError: message,
        updatedAt: t,
      })
    }
  })
}

/** Signed out server-side: ops wait untouched (no backoff) until the user signs in again. */
export async function recordAuthFailure(db, ops, deps = {}) {
  const { now } = { ...defaults, ...deps }
  const t = now()
  await db.outbox.bulkUpdate(
    ops.map((op) => ({ key: op.seq, changes: { state: OP_STATE.PENDING, lastError: '登录已过期，请重新登录', updatedAt: t } })),
  )
}

/** An app killed mid-push leaves ops "sending"; they go out again with the same op id (the server dedups). */
export async function resetInterrupted(db) {
  await db.outbox.where('state').equals(OP_STATE.SENDING).modify({ state: OP_STATE.PENDING })
}

async function requeueFresh(db, op, deps) {
  const { now, newId } = { ...defaults, ...deps }
  const form = await db.forms.get(op.formId)
  // The server answers a replayed op id with its first (failed) result, so a retry needs a new id.
  // The row keeps its seq, so it keeps its place ahead of the ops queued after it.
  await db.outbox.update(op.seq, {
    opId: newId(),
    previousOpIds: [...(op.previousOpIds ?? []), op.opId],
    state: OP_STATE.PENDING,
    attempts: 0,
    everSent: false,
    nextAttemptAt: 0,
    baseVersion: form?.version ?? op.baseVersion,
    lastError: null,
    errors: null,
    serverCopy: null,
    updatedAt: now(),
  })
}

/** 重试: a failed/conflicting op is re-sent as a new op; a waiting one is just made due now. */
export async function retryOp(db, opId, deps = {}) {
  return db.transaction('rw', db.outbox, db.forms, async () => {
    const op = await db.outbox.where('opId').equals(opId).first()
    if (!op) throw new Error('记录不存在')
    if (op.state === OP_STATE.FAILED || op.state === OP_STATE.CONFLICT) {
      await requeueFresh(db, op, deps)
    } else if (op.state === OP_STATE.PENDING) {
      await db.outbox.update(op.seq, { nextAttemptAt: 0 })
    }
  })
}

/** Makes every op waiting on backoff due now (the network just came back). */
export async function makeAllDue(db) {
  await db.outbox.where('state').equals(OP_STATE.PENDING).modify({ nextAttemptAt: 0 })
}

/**
 * Settles a 409. 'server': drop my edits of that field (the server copy is already local).
 * 'mine': send my edit again on top of the server's version, as a new op.
 */
export async function resolveConflict(db, opId, choice, deps = {}) {
  return db.transaction('rw', db.outbox, db.forms, async () => {
    const op = await db.outbox.where('opId').equals(opId).first()
    if (!op || op.state !== OP_STATE.CONFLICT) throw new Error('该记录没有待处理的冲突')
    const sameField = await db.outbox
      .where('formId')
      .equals(op.formId)
      .filter((o) => o.fieldKey === op.fieldKey && o.seq > op.seq && o.state !== OP_STATE.SYNCED && o.state !== OP_STATE.SENDING)
      .toArray()
    if (choice === 'server') {
      await db.outbox.bulkDelete([op.seq, ...sameField.map((o) => o.seq)])
      return
    }
    if (choice !== 'mine') throw new Error(`unknown choice ${choice}`)
    await requeueFresh(db, op, deps)
    const form = await db.forms.get(op.formId)
    if (form) {
      for (const o of sameField) await db.outbox.update(o.seq, { baseVersion: form.version })
    }
  })
}

/** Removes an op that has never left the device (e.g. a photo taken by mistake); anything sent is write-once. */
export async function discardUnsent(db, opId) {
  return db.transaction('rw', db.outbox, async () => {
    const op = await db.outbox.where('opId').equals(opId).first()
    if (!op) return false
    if (op.everSent || op.state !== OP_STATE.PENDING) throw new Error('该记录已发送到服务器，无法撤销')
    await db.outbox.delete(op.seq)
    return true
  })
}

export async function unsyncedOps(db) {
  return db.outbox.where('state').anyOf(UNSYNCED_STATES).sortBy('seq')
}

export async function unsyncedCount(db) {
  const ops = await db.outbox.where('state').anyOf(UNSYNCED_STATES).count()
  const files = await db.evidence.filter((e) => e.uploadState !== 'uploaded' && e.uploadState !== 'received').count()
  return ops + files
}

/** Synced ops are kept a while for the 同步 screen, then dropped; the server copy already holds their effect. */
export async function pruneSynced(db, { olderThanMs = 7 * 24 * 3600_000, ...deps } = {}) {
  const { now } = { ...defaults, ...deps }
  const cutoff = now() - olderThanMs
  return db.outbox.where('state').equals(OP_STATE.SYNCED).filter((op) => op.updatedAt < cutoff).delete()
}
