/** The local store of assigned forms: saving pulled server copies and building what the screen shows (server copy + unsynced edits). */
import { applyOpToForm, OP_STATE, UNSYNCED_STATES } from '../sync/operations.js'

export const STATUS_LABELS = {
  dispatched: '待检查',
  in_progress: '检查中',
  submitted: '已提交',
  returned: '退回修改',
  approved: '已通过',
  closed: '已办结',
}

export const EDITABLE_STATUSES = new Set(['dispatched', 'in_progress', 'returned'])

export const RESULT_CATEGORIES = [
  '未发现问题',
  '未按规定公示应当公示的信息',
  '公示信息隐瞒真实情况弄虚作假',
  '通过登记的住所（经营场所）无法联系',
  '发现问题已责令改正',
  '发现问题待后续处理',
  '未发现开展本次抽查涉及的经营活动',
  '已关闭停业或正在组织清算',
  '不配合检查情节严重',
  '检查对象已注销/被吊销/被撤销/已迁出',
]

export const REP_REFUSAL_PREFIX = '企业代表拒绝签字：'

/** Stores one pull page: upserts forms, confirms evidence the server has received, handles un-assignment. */
export async function savePulledForms(db, { forms = [], removed = [] }, { now = () => new Date() } = {}) {
  const pulledAt = now().toISOString()
  await db.transaction('rw', [db.forms, db.outbox, db.evidence, db.blobs], async () => {
    for (const form of forms) {
      await db.forms.put({ ...form, pulledAt, removed: false })
      for (const ev of form.evidence ?? []) {
        const local = await db.evidence.get(ev.id)
        if (!local) continue
        if (ev.status === 'received' && local.uploadState !== 'received') {
          await markEvidenceReceived(db, ev.id)
        } else if (ev.status === 'rejected' && local.uploadState !== 'failed') {
          // Refused after inspection (e.g. not a real video): stop uploading, keep the file, say why.
          await db.evidence.update(ev.id, { uploadState: 'failed', permanent: true, error: `服务器拒收：${ev.rejected_reason ?? '文件不符合要求'}` })
        }
      }
    }
    for (const id of removed) {
      const form = await db.forms.get(id)
      if (!form) continue
      const unsynced = await db.outbox.where('formId').equals(id).filter((op) => op.state !== OP_STATE.SYNCED).count()
      const unsent = await db.evidence.where('formId').equals(id).filter((e) => e.uploadState !== 'received').count()
      if (unsynced || unsent) {
        // Un-assigned while holding unsynced work: keep it visible (and exportable) rather than lose it.
        await db.forms.update(id, { removed: true, pulledAt })
      } else {
        await db.forms.delete(id)
        await db.outbox.where('formId').equals(id).delete()
        const evIds = await db.evidence.where('formId').equals(id).primaryKeys()
        await db.blobs.bulkDelete(evIds)
        await db.evidence.bulkDelete(evIds)
      }
    }
  })
}

/** The server has the bytes and verified them: the device may drop its copy but keeps the metadata. */
export async function markEvidenceReceived(db, evidenceId) {
  await db.transaction('rw', db.evidence, db.blobs, async () => {
    await db.evidence.update(evidenceId, {
      uploadState: 'received',
      receivedAt: new Date().toISOString(),
      hasBlob: false,
      error: null,
    })
    await db.blobs.delete(evidenceId)
  })
}

/** Server copy + every op not yet acknowledged, in queue order; marks which fields carry local edits. */
export function buildFormView(form, ops = [], evidenceRecs = [], { inspectorId } = {}) {
  let view = {
    ...form,
    answers: { ...(form.answers ?? {}) },
    evidence: [...(form.evidence ?? [])],
    signatures: [...(form.signatures ?? [])],
    confirmations: [...(form.confirmations ?? [])],
    local_notes: [...(form.local_notes ?? [])],
  }
  const pending = {}
  for (const op of [...ops].sort((a, b) => a.seq - b.seq)) {
    if (!UNSYNCED_STATES.includes(op.state)) continue
    view = applyOpToForm(view, op, { inspectorId })
    pending[op.fieldKey] = { state: op.state, opId: op.opId, error: op.lastError ?? null }
  }
  const localById = new Map(evidenceRecs.map((e) => [e.id, e]))
  view.evidence = view.evidence.map((e) => ({ ...e, local: localById.get(e.id) ?? null }))
  for (const rec of evidenceRecs) {
    if (!view.evidence.some((e) => e.id === rec.id)) {
      view.evidence.push({ id: rec.id, checkpoint_key: rec.checkpointKey, kind: rec.kind, sha256: rec.sha256, status: 'local', local: rec })
    }
  }
  view.pending = pending
  view.repRefusal = (view.local_notes ?? []).find((n) => n.text?.startsWith(REP_REFUSAL_PREFIX))?.text ?? null
  view.editable = EDITABLE_STATUSES.has(view.status) && !view.removed
  view.submitQueued = ops.some((op) => op.type === 'submit' && UNSYNCED_STATES.includes(op.state))
  return view
}

/** One of 待同步 / 同步中 / 已同步 / 失败 for a form, from its ops and evidence uploads. */
export function formSyncState(ops = [], evidenceRecs = []) {
  const failedOp = ops.find((op) => op.state === OP_STATE.FAILED || op.state === OP_STATE.CONFLICT)
  const failedUpload = evidenceRecs.find((e) => e.uploadState === 'failed')
  if (failedOp || failedUpload) {
    const reason = failedOp
      ? failedOp.state === OP_STATE.CONFLICT
        ? `版本冲突：${failedOp.lastError ?? '服务器上的内容已被修改'}`
        : failedOp.lastError ?? '服务器拒绝'
      : failedUpload.error ?? '上传失败'
    return { state: 'failed', label: '失败', reason }
  }
  if (ops.some((op) => op.state === OP_STATE.SENDING) || evidenceRecs.some((e) => e.uploadState === 'uploading')) {
    return { state: 'syncing', label: '同步中', reason: null }
  }
  if (ops.some((op) => op.state === OP_STATE.PENDING) || evidenceRecs.some((e) => e.uploadState === 'pending' || e.uploadState === 'uploaded')) {
    const waiting = ops.find((op) => op.state === OP_STATE.PENDING && op.lastError)
    return { state: 'pending', label: '待同步', reason: waiting?.lastError ?? null }
  }
  return { state: 'synced', label: '已同步', reason: null }
}

/** Usable with no network: the form and its checklist are here, and every file not yet on the server is still on the device. */
export function isOfflineReady(form, evidenceRecs = []) {
  if (!form?.checkpoints?.length || !form.enterprise) return false
  return evidenceRecs.every((e) => e.uploadState === 'received' || e.hasBlob)
}

function isWeekday(d) {
  const day = d.getDay()
  return day !== 0 && day !== 6
}

/**
 * The server's count was right at pull time; offline for days it drifts, so subtract the weekdays
 * passed since (holidays unknown on the device, hence an estimate until the next pull).
 */
export function workingDaysLeft(form, today = new Date()) {
  if (typeof form.working_days_left !== 'number') return null
  if (!form.pulledAt) return form.working_days_left
  const start = new Date(form.pulledAt)
  start.setHours(0, 0, 0, 0)
  const end = new Date(today)
  end.setHours(0, 0, 0, 0)
  let elapsed = 0
  for (let d = new Date(start); d < end; d.setDate(d.getDate() + 1)) {
    const next = new Date(d)
    next.setDate(next.getDate() + 1)
    if (isWeekday(next)) elapsed += 1
  }
  return form.working_days_left - elapsed
}

/** What a task-list row needs, for every form not removed from this inspector (removed ones with unsynced work stay). */
export async function listTaskRows(db, { inspectorId } = {}) {
  const [forms, ops, evidence] = await Promise.all([db.forms.toArray(), db.outbox.toArray(), db.evidence.toArray()])
  const opsBy = groupBy(ops, 'formId')
  const evBy = groupBy(evidence, 'formId')
  return forms
    .map((form) => {
      const fOps = opsBy.get(form.id) ?? []
      const fEv = evBy.get(form.id) ?? []
      const view = buildFormView(form, fOps, fEv, { inspectorId })
      return {
        id: form.id,
        enterprise: form.enterprise ?? {},
        task: form.task ?? {},
        status: view.status,
        statusLabel: view.submitQueued ? '已提交（待同步）' : STATUS_LABELS[view.status] ?? view.status,
        returned: form.status === 'returned',
        removed: !!form.removed,
        deadline: form.deadline_complete,
        daysLeft: workingDaysLeft(form),
        offlineReady: isOfflineReady(form, fEv),
        sync: formSyncState(fOps, fEv),
        answered: form.checkpoints ? form.checkpoints.filter((c) => isAnswered(view.answers[c.key])).length : 0,
        total: form.checkpoints?.length ?? 0,
      }
    })
    .sort((a, b) => (a.removed - b.removed) || String(a.deadline).localeCompare(String(b.deadline)))
}

export async function loadFormView(db, formId, { inspectorId } = {}) {
  const form = await db.forms.get(formId)
  if (!form) return null
  const [ops, evidence] = await Promise.all([
    db.outbox.where('formId').equals(formId).toArray(),
    db.evidence.where('formId').equals(formId).toArray(),
  ])
  const view = buildFormView(form, ops, evidence, { inspectorId })
  view.sync = formSyncState(ops, evidence)
  view.ops = ops.sort((a, b) => a.seq - b.seq)
  return view
}

export function isAnswered(answer) {
  return answer != null && answer.value !== null && answer.value !== undefined && answer.value !== ''
}

/** Everything a complete form needs before it may be queued for submission; empty list = ready. */
export function missingForSubmit(view, { inspectorId, displayName } = {}) {
  const missing = []
  if (!view.checkin) missing.push('现场签到')
  for (const cp of view.checkpoints ?? []) {
    const ans = view.answers[cp.key]
    if (!isAnswered(ans)) {
      missing.push(`检查要点未作答：${cp.question}`)
      continue
    }
    const photos = view.evidence.filter((e) => e.checkpoint_key === cp.key && e.kind === 'photo')
    if (cp.photo_required && ans.value !== 'na' && photos.length === 0) missing.push(`需拍照：${cp.question}`)
  }
  const sigs = view.signatures ?? []
  if (!sigs.some((s) => s.signer === 'inspector' && (!displayName || s.name === displayName))) missing.push('本人签名')
  if (!sigs.some((s) => s.signer === 'enterprise_rep') && !view.repRefusal) missing.push('企业代表签名（或记录拒绝签字）')
  if (!view.proposed_result) missing.push('拟定检查结果')
  if (inspectorId && !view.confirmations.includes(inspectorId)) missing.push('本人确认检查内容')
  return missing
}

function groupBy(rows, key) {
  const m = new Map()
  for (const r of rows) {
    if (!m.has(r[key])) m.set(r[key], [])
    m.get(r[key]).push(r)
  }
  return m
}
