/** What the form screens may do to a form; each action becomes outbox operations through sync/, never by hand. */
import { changed, currentDb, session, uploader } from './session.js'
import { enqueue, discardUnsent, resolveConflict as resolveOp, retryOp } from '../sync/outbox.js'
import { captureEvidence } from '../capture/evidence.js'
import { getFix, rememberFix } from '../capture/geo.js'
import { REP_REFUSAL_PREFIX } from '../db/forms.js'
import { OP_STATE } from '../sync/operations.js'

const nowIso = () => new Date().toISOString()

async function queue(formId, type, payload) {
  const op = await enqueue(currentDb(), { formId, type, payload })
  changed()
  return op
}

export function answer(formId, checkpointKey, value) {
  return queue(formId, 'answer', { checkpoint_key: checkpointKey, value, answered_at: nowIso() })
}

export function setNote(formId, checkpointKey, text) {
  return queue(formId, 'note', { checkpoint_key: checkpointKey, text })
}

export function addFormNote(formId, text) {
  return queue(formId, 'note', { text })
}

/** Tries for a GPS fix; throws NoFixError (with a Chinese reason) so the screen can ask why there is none. */
export async function locate() {
  const fix = await getFix()
  rememberFix(fix)
  return fix
}

export function checkIn(formId, { fix = null, reason = null }) {
  const payload = fix
    ? { at: nowIso(), lat: fix.lat, lng: fix.lng, accuracy_m: fix.accuracy_m }
    : { at: nowIso(), no_fix_reason: reason }
  return queue(formId, 'checkin', payload)
}

export function sign(formId, { signer, name, dataUrl }) {
  const base64 = String(dataUrl).replace(/^data:image\/png;base64,/, '')
  return queue(formId, 'signature', { signer, name, image_png_base64: base64, signed_at: nowIso() })
}

export function recordRepRefusal(formId, reason) {
  return addFormNote(formId, `${REP_REFUSAL_PREFIX}${reason}`)
}

export function proposeResult(formId, category, details = '') {
  return queue(formId, 'propose_result', details ? { category, details } : { category })
}

export function confirmForm(formId) {
  return queue(formId, 'confirm', {})
}

export async function submitForm(formId) {
  const db = currentDb()
  const existing = await db.outbox
    .where('formId')
    .equals(formId)
    .filter((op) => op.type === 'submit' && op.state !== OP_STATE.SYNCED)
    .first()
  if (existing) return existing
  return queue(formId, 'submit', {})
}

/** Withdraws a queued submit that has not left the device yet, so the form can be edited again. */
export async function cancelSubmit(formId) {
  const db = currentDb()
  const op = await db.outbox
    .where('formId')
    .equals(formId)
    .filter((o) => o.type === 'submit' && o.state === OP_STATE.PENDING && !o.everSent)
    .first()
  if (!op) throw new Error('提交已发送到服务器，无法撤回')
  await discardUnsent(db, op.opId)
}

export async function addEvidence(formId, checkpointKey, file, { onHashProgress } = {}) {
  const id = await captureEvidence(currentDb(), { formId, checkpointKey, file, onHashProgress })
  changed()
  return id
}

/** Deletes a file taken by mistake, only while its record has never been sent (evidence is write-once). */
export async function removeEvidence(evidenceId) {
  const db = currentDb()
  const rec = await db.evidence.get(evidenceId)
  if (!rec) return
  await db.transaction('rw', db.outbox, db.evidence, db.blobs, async () => {
    await discardUnsent(db, rec.opId)
    await db.evidence.delete(evidenceId)
    await db.blobs.delete(evidenceId)
  })
}

export async function evidenceBlob(evidenceId) {
  return (await currentDb().blobs.get(evidenceId))?.blob ?? null
}

export async function retry(opId) {
  await retryOp(currentDb(), opId)
  changed()
}

export async function resolveConflict(opId, choice) {
  await resolveOp(currentDb(), opId, choice)
  changed()
}

export async function retryUpload(evidenceId) {
  await uploader()?.retry(evidenceId)
  changed()
}

export function uploadProgress(evidenceId) {
  return session.progress[evidenceId] ?? null
}
