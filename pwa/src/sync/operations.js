/** What each outbox operation type means for a form: which field it touches and how it changes the local copy. */

export const OP_TYPES = ['answer', 'note', 'checkin', 'signature', 'evidence', 'confirm', 'propose_result', 'submit']

export const OP_STATE = Object.freeze({
  PENDING: 'pending',
  SENDING: 'sending',
  SYNCED: 'synced',
  FAILED: 'failed',
  CONFLICT: 'conflict',
})

export const UNSYNCED_STATES = [OP_STATE.PENDING, OP_STATE.SENDING, OP_STATE.FAILED, OP_STATE.CONFLICT]

export const OP_LABELS = {
  answer: '检查要点结论',
  note: '备注',
  checkin: '签到',
  signature: '签名',
  evidence: '证据登记',
  confirm: '检查人员确认',
  propose_result: '拟定检查结果',
  submit: '提交检查表',
}

// Ops that change what a confirmation vouches for: after any of them, every confirmation is stale.
export const CONTENT_OPS = new Set(['answer', 'note', 'checkin', 'evidence', 'propose_result'])

// Later edits to the same field replace a never-sent earlier one instead of queueing both.
export const COALESCABLE = new Set(['answer', 'note', 'checkin', 'signature', 'propose_result'])

/** The field an operation writes; two ops with the same key in one batch could conflict with each other. */
export function fieldKeyFor(type, payload = {}, opId = '') {
  switch (type) {
    case 'answer':
      return `answer:${payload.checkpoint_key}`
    case 'note':
      return payload.checkpoint_key ? `note:${payload.checkpoint_key}` : `note:form:${opId}`
    case 'signature':
      return `signature:${payload.signer}:${payload.name}`
    case 'evidence':
      return `evidence:${payload.evidence_id}`
    case 'checkin':
    case 'confirm':
    case 'propose_result':
    case 'submit':
      return type
    default:
      throw new Error(`unknown operation type ${type}`)
  }
}

/** The form as it looks after `op`; pure, used both for the on-screen overlay and to patch the server copy once applied. */
export function applyOpToForm(form, op, { inspectorId } = {}) {
  const f = { ...form }
  const p = op.payload ?? {}
  switch (op.type) {
    case 'answer': {
      const prev = f.answers?.[p.checkpoint_key] ?? {}
      f.answers = {
        ...f.answers,
        [p.checkpoint_key]: {
          ...prev,
          value: p.value,
          note: p.note !== undefined ? p.note : prev.note ?? '',
          inspector_id: inspectorId ?? prev.inspector_id ?? null,
          answered_at: p.answered_at,
        },
      }
      break
    }
    case 'note':
      if (p.checkpoint_key) {
        const prev = f.answers?.[p.checkpoint_key] ?? { value: null }
        f.answers = { ...f.answers, [p.checkpoint_key]: { ...prev, note: p.text } }
      } else {
        f.local_notes = [...(f.local_notes ?? []), { text: p.text, at: op.createdAt }]
      }
      break
    case 'checkin':
      f.checkin = { ...p, inspector_id: inspectorId ?? null }
      break
    case 'signature':
      f.signatures = [
        ...(f.signatures ?? []).filter((s) => !(s.signer === p.signer && s.name === p.name)),
        { ...p },
      ]
      break
    case 'evidence':
      if (!(f.evidence ?? []).some((e) => e.id === p.evidence_id)) {
        f.evidence = [
          ...(f.evidence ?? []),
          { id: p.evidence_id, checkpoint_key: p.checkpoint_key ?? null, kind: p.kind, sha256: p.sha256, status: 'declared' },
        ]
      }
      break
    case 'confirm':
      if (inspectorId && !(f.confirmations ?? []).includes(inspectorId)) {
        f.confirmations = [...(f.confirmations ?? []), inspectorId]
      }
      break
    case 'propose_result':
      f.proposed_result = p.category
      f.proposed_details = p.details ?? ''
      break
    case 'submit':
      f.status = 'submitted'
      break
    default:
      break
  }
  if (CONTENT_OPS.has(op.type)) f.confirmations = []
  if (op.type !== 'submit' && f.status === 'dispatched') f.status = 'in_progress'
  return f
}
