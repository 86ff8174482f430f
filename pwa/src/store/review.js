/** Review console state: online-only, kept in memory for this tab (never in the inspector's Dexie outbox). */
import { reactive } from 'vue'
import { apiClient, session } from './session.js'
import * as reviewApi from '../api/review.js'

const DETAIL_TTL_MS = 60_000
const DETAIL_MAX = 20

export const reviewState = reactive({
  status: 'submitted',
  queues: {}, // status → { rows, total, nextPage, loadedAt, loading, error }
  bump: 0, // changes after every action: the queue reloads
})

// Small LRU of review details: switching back and forth between forms should not refetch every time.
const details = new Map() // formId → { data, at }

let owner = null // whose data the caches hold: another sign-in in this tab starts empty

export function api() {
  const client = apiClient()
  if (!client) throw new reviewApi.ReviewInputError('未登录')
  if (owner !== session.user?.id) {
    clearReviewCache()
    owner = session.user?.id ?? null
  }
  return client
}

export function isOnline() {
  return session.online && (globalThis.navigator?.onLine ?? true)
}

function queueSlot(status) {
  reviewState.queues[status] ??= { rows: [], total: 0, nextPage: null, loadedAt: null, loading: false, error: null }
  return reviewState.queues[status]
}

export async function loadQueue(status = reviewState.status, { more = false } = {}) {
  let client
  try {
    client = api()
  } catch (e) {
    return { ...queueSlot(status), error: reviewApi.describeError(e) }
  }
  const slot = queueSlot(status)
  if (slot.loading) return slot
  slot.loading = true
  slot.error = null
  try {
    const page = more && slot.nextPage ? slot.nextPage : 1
    const res = await reviewApi.fetchQueue(client, { status, page })
    slot.rows = more ? reviewApi.mergeQueue(slot.rows, res.rows) : reviewApi.sortQueue(res.rows)
    slot.total = res.total
    slot.nextPage = res.nextPage
    slot.loadedAt = new Date().toISOString()
  } catch (e) {
    slot.error = reviewApi.describeError(e)
  } finally {
    slot.loading = false
  }
  return slot
}

export function cachedDetail(formId) {
  const hit = details.get(formId)
  return hit ? hit.data : null
}

export async function loadDetail(formId, { force = false } = {}) {
  const client = api()
  const hit = details.get(formId)
  if (!force && hit && Date.now() - hit.at < DETAIL_TTL_MS) return hit.data
  const data = await reviewApi.fetchDetail(client, formId)
  details.delete(formId)
  details.set(formId, { data, at: Date.now() })
  while (details.size > DETAIL_MAX) details.delete(details.keys().next().value)
  return data
}

export function forget(formId) {
  if (formId) details.delete(formId)
  else details.clear()
  reviewState.bump++
}

/** Every action: call, then drop the cached copies so the detail and the queues reload from the server. */
async function act(formId, call) {
  try {
    return await call()
  } finally {
    forget(formId)
    for (const s of Object.keys(reviewState.queues)) reviewState.queues[s].loadedAt = null
  }
}

export const approve = (formId, body) => act(formId, () => reviewApi.approveForm(api(), formId, body))
export const sendBack = (formId, kind, body) =>
  act(formId, () => (kind === 'more_evidence' ? reviewApi.requestEvidence : reviewApi.returnForm)(api(), formId, body))
export const note = (formId, body) => act(formId, () => reviewApi.addNote(api(), formId, body))

let categories = null
export async function loadCategories() {
  categories ??= reviewApi.fetchCategories(api()).catch((e) => {
    categories = null
    throw e
  })
  return categories
}

let departments = null
export async function loadDepartments() {
  departments ??= api()
    .get('/api/v1/departments', { query: { page_size: 500 } })
    .catch((e) => {
      departments = null
      throw e
    })
  return departments
}

/** Drop everything on sign-out or user switch (nothing of it is persisted anyway). */
export function clearReviewCache() {
  details.clear()
  categories = null
  departments = null
  drafts.clear()
  reviewState.queues = {}
}

// Comment boxes survive switching between forms in this tab (memory only, like everything here).
const drafts = new Map() // formId → { checkpoints: {key: text}, form: text }
export function draftFor(formId) {
  if (!drafts.has(formId)) drafts.set(formId, { checkpoints: {}, form: '' })
  return drafts.get(formId)
}
