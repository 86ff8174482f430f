/** Review console (审核) data: API calls, queue ordering, provenance formatting, comment payloads, authenticated media. */
import { ApiError } from './client.js'

export const COMMENT_MAX = 2000

// ------------------------------------------------------------------------------------------------ API calls
// Every call takes the signed-in user's client (store/session.js apiClient()): bearer token, one refresh on 401,
// the contract's error shape {code, status, message, errors}. Nothing here touches the inspector's Dexie outbox.

const enc = encodeURIComponent

export function parsePagination(header) {
  if (!header) return null
  try {
    const p = JSON.parse(header)
    return p && typeof p === 'object' ? p : null
  } catch {
    return null
  }
}

export async function fetchQueue(api, { status = 'submitted', page = 1, pageSize = 50, signal } = {}) {
  const res = await api.raw('GET', '/api/v1/review/queue', { query: { status, page, page_size: pageSize }, signal })
  const rows = (await res.json()) ?? []
  const pagination = parsePagination(res.headers.get('X-Pagination'))
  return { rows, total: pagination?.total ?? rows.length, page, nextPage: pagination?.next_page ?? null }
}

export const fetchDetail = (api, formId, opts) => api.get(`/api/v1/review/forms/${enc(formId)}`, opts)
export const approveForm = (api, formId, body) => api.post(`/api/v1/review/forms/${enc(formId)}/approve`, body)
export const returnForm = (api, formId, body) => api.post(`/api/v1/review/forms/${enc(formId)}/return`, body)
export const requestEvidence = (api, formId, body) => api.post(`/api/v1/review/forms/${enc(formId)}/request-evidence`, body)
export const addNote = (api, formId, body) => api.post(`/api/v1/review/forms/${enc(formId)}/comments`, body)
export const fetchCategories = (api) => api.get('/api/v1/results/categories')
export const verifyEvidence = (api, evidenceId) => api.get(`/api/v1/evidence/${enc(evidenceId)}`, { query: { verify: 'true' } })

export async function fetchPendingWithholds(api) {
  const res = await api.raw('GET', '/api/v1/results', { query: { withhold_status: 'requested', page_size: 200 } })
  return (await res.json()) ?? []
}
export const decideWithhold = (api, resultId, { approve, note = '' }) =>
  api.post(`/api/v1/results/${enc(resultId)}/withhold/decision`, { approve, ...(note ? { note } : {}) })
export const fetchCreditProposals = (api, status = 'pending') => api.get('/api/v1/credit/proposals', { query: { status } })
export const decideProposal = (api, proposalId, { approve, note = '' }) =>
  api.post(`/api/v1/credit/proposals/${enc(proposalId)}/decision`, { approve, ...(note ? { note } : {}) })

// -------------------------------------------------------------------------------------------------- queue

const FAR = Number.POSITIVE_INFINITY
const dayValue = (d) => (d ? Date.parse(`${String(d).slice(0, 10)}T00:00:00Z`) : FAR)
const timeValue = (t) => (t ? Date.parse(t) : FAR)

/**
 * Nearest entry deadline first (= oldest first submission), then oldest first submission, latest submission,
 * code — the server's order, kept when pages are merged or a row is updated in place.
 */
export function compareQueueRows(a, b) {
  return (
    dayValue(a.entry_deadline) - dayValue(b.entry_deadline) ||
    timeValue(a.first_submitted_at) - timeValue(b.first_submitted_at) ||
    timeValue(a.submitted_at) - timeValue(b.submitted_at) ||
    String(a.code ?? '').localeCompare(String(b.code ?? ''))
  )
}

export function sortQueue(rows) {
  return [...rows].sort((a, b) => {
    const c = compareQueueRows(a, b)
    return Number.isNaN(c) ? 0 : c
  })
}

/** Merge a further page into the rows shown (a row seen twice keeps its newer copy). */
export function mergeQueue(rows, more) {
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const r of more) byId.set(r.id, r)
  return sortQueue([...byId.values()])
}

export function workdaysText(left, { estimated = false } = {}) {
  if (left === null || left === undefined) return '无录入期限'
  const base = left < 0 ? `已逾期 ${-left} 个工作日` : left === 0 ? '今天截止' : `剩余 ${left} 个工作日`
  return estimated ? `${base}（估算）` : base
}

/** urgent: overdue or ≤ 3 working days; soon: ≤ 7; otherwise ok. */
export function deadlineLevel(left, overdue = false) {
  if (overdue || (left !== null && left !== undefined && left <= 3)) return 'urgent'
  if (left !== null && left !== undefined && left <= 7) return 'soon'
  return 'ok'
}

export function roundText(round) {
  return round > 1 ? `第 ${round} 次提交（退回后重新提交）` : ''
}

// -------------------------------------------------------------------------------------------- formatting

export function formatDateTime(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return String(iso)
  // China time regardless of the reviewer's machine: deadlines and the legal record are in 北京时间.
  return d.toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false })
}

/** Great-circle distance in metres (WGS-84 mean radius), for rows where the server sent coordinates only. */
export function distanceMeters(lat1, lng1, lat2, lng2) {
  if ([lat1, lng1, lat2, lng2].some((v) => v === null || v === undefined || Number.isNaN(Number(v)))) return null
  const R = 6_371_008.8
  const rad = Math.PI / 180
  const dLat = (lat2 - lat1) * rad
  const dLng = (lng2 - lng1) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLng / 2) ** 2
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)))
}

export function formatDistance(m) {
  if (m === null || m === undefined || Number.isNaN(Number(m))) return '无法计算'
  if (m < 1000) return `约 ${Math.round(m)} 米`
  return `约 ${(m / 1000).toFixed(m < 10_000 ? 1 : 0)} 公里`
}

/** Same threshold as the server's far_from_enterprise warning. */
export const FAR_FROM_ENTERPRISE_M = 500

export function formatLag(seconds) {
  if (seconds === null || seconds === undefined) return '尚未接收'
  const s = Math.round(seconds)
  if (s < 0) return `设备时间晚于接收 ${formatSpan(-s)}`
  return `拍摄后 ${formatSpan(s)} 到达服务器`
}

function formatSpan(s) {
  if (s < 60) return `${s} 秒`
  if (s < 3600) return `${Math.round(s / 60)} 分钟`
  if (s < 86_400) return `${(s / 3600).toFixed(1)} 小时`
  return `${(s / 86_400).toFixed(1)} 天`
}

export function formatCoords(lat, lng, accuracy) {
  if (lat === null || lat === undefined || lng === null || lng === undefined) return '无定位'
  const acc = accuracy === null || accuracy === undefined ? '' : `（精度 ±${Math.round(accuracy)} 米）`
  return `${Number(lat).toFixed(5)}, ${Number(lng).toFixed(5)}${acc}`
}

/**
 * The rows of one file's provenance panel: [{key, label, value, level: 'ok' | 'warn' | 'bad' | undefined}].
 * `enterprise` ({lat, lng}) fills the distance when the server could not (older rows); the server's figure wins.
 */
export function provenanceRows(evidence, enterprise = null) {
  const p = evidence?.provenance ?? {}
  const rows = []
  const who = [p.inspector_name || evidence?.inspector_name || '—', p.certificate_no ? `执法证 ${p.certificate_no}` : ''].filter(Boolean).join(' · ')
  rows.push({ key: 'inspector', label: '检查人员', value: who })
  rows.push({ key: 'device', label: '设备', value: p.device_id || '—' })
  rows.push({ key: 'captured', label: '拍摄时间（设备）', value: formatDateTime(p.captured_at_device ?? evidence?.captured_at) })
  const received = p.received_at_server ?? evidence?.received_at
  rows.push({
    key: 'received',
    label: '接收时间（服务器）',
    value: received ? `${formatDateTime(received)}（${formatLag(p.receive_lag_seconds)}）` : '尚未接收',
    level: received ? (p.clock_suspect ? 'bad' : undefined) : 'warn',
  })
  if (p.clock_suspect) rows.push({ key: 'clock', label: '时钟', value: '设备时钟可疑：拍摄时间晚于服务器接收时间', level: 'bad' })
  rows.push({ key: 'gps', label: 'GPS', value: formatCoords(p.lat, p.lng, p.accuracy_m), level: p.lat === null || p.lat === undefined ? 'warn' : undefined })
  let dist = p.distance_to_enterprise_m
  if ((dist === null || dist === undefined) && enterprise) dist = distanceMeters(p.lat, p.lng, enterprise.lat, enterprise.lng)
  rows.push({
    key: 'distance',
    label: '距登记地址',
    value: formatDistance(dist),
    level: dist === null || dist === undefined ? undefined : dist > FAR_FROM_ENTERPRISE_M ? 'bad' : 'ok',
  })
  if (p.distance_to_checkin_m !== null && p.distance_to_checkin_m !== undefined) {
    rows.push({ key: 'checkin', label: '距签到位置', value: formatDistance(p.distance_to_checkin_m) })
  }
  rows.push(hashRow(p.hash_verified, evidence?.status))
  return rows
}

export function hashRow(verified, status) {
  if (verified) return { key: 'hash', label: '哈希校验', value: '✔ 已校验（SHA-256 一致）', level: 'ok' }
  if (status === 'declared') return { key: 'hash', label: '哈希校验', value: '文件尚未上传完成', level: 'warn' }
  if (status === 'rejected') return { key: 'hash', label: '哈希校验', value: '✘ 已拒收', level: 'bad' }
  return { key: 'hash', label: '哈希校验', value: '✘ 未通过校验', level: 'bad' }
}

const ANSWER_LABELS = { pass: '符合', fail: '不符合', na: '不适用' }

export function formatAnswer(checkpoint) {
  const v = checkpoint?.answer?.value
  if (v === null || v === undefined || v === '') return { text: '未作答', level: 'warn' }
  if (typeof v === 'string' && v in ANSWER_LABELS) return { text: ANSWER_LABELS[v], level: v === 'fail' ? 'bad' : v === 'pass' ? 'ok' : undefined }
  if (Array.isArray(v)) return { text: v.join('、') }
  return { text: String(v) }
}

export const KIND_LABELS = { photo: '照片', video: '视频', audio: '录音', document: '文件' }
export const COMMENT_KIND_LABELS = { revise: '退回修改', more_evidence: '补充证据', note: '审核备注' }
export const SIGNER_LABELS = { inspector: '检查人员', enterprise_rep: '企业代表' }

// ----------------------------------------------------------------------------------------- action payloads

/**
 * Return / request-evidence body from the comment boxes: one comment per checkpoint box with text (in the form's
 * checkpoint order), then the form-level comment. Throws a ReviewInputError when there is nothing to send or a
 * comment is too long.
 */
export function buildCommentPayload({ version, checkpointComments = {}, formComment = '', checkpointOrder = null }) {
  const keys = checkpointOrder ?? Object.keys(checkpointComments)
  const comments = []
  const errors = {}
  for (const key of keys) {
    const text = String(checkpointComments[key] ?? '').trim()
    if (!text) continue
    if (text.length > COMMENT_MAX) errors[key] = [`意见不超过 ${COMMENT_MAX} 字`]
    comments.push({ checkpoint_key: key, comment: text })
  }
  const whole = String(formComment ?? '').trim()
  if (whole.length > COMMENT_MAX) errors.form = [`意见不超过 ${COMMENT_MAX} 字`]
  if (whole) comments.push({ comment: whole })
  if (Object.keys(errors).length) throw new ReviewInputError('意见过长', errors)
  if (!comments.length) throw new ReviewInputError('请至少填写一条意见（检查要点或整表意见）', { comments: ['必填'] })
  const body = { comments }
  if (version !== null && version !== undefined) body.version = version
  return body
}

/** Approve body: only what the reviewer changed from the inspector's proposal is sent (server defaults the rest). */
export function buildApprovePayload({ version, category, details, comment, followUp } = {}, proposed = null) {
  const body = {}
  if (version !== null && version !== undefined) body.version = version
  if (category && category !== proposed?.category?.code) body.category = category
  if (details !== undefined && details !== null && String(details).trim() !== (proposed?.details ?? '').trim()) body.details = String(details).trim()
  if (comment && String(comment).trim()) body.comment = String(comment).trim()
  if (followUp?.kind) {
    const f = { kind: followUp.kind }
    if (followUp.deadline) f.deadline = followUp.deadline
    if (followUp.target_department_id) f.target_department_id = followUp.target_department_id
    if (followUp.target_authority?.trim()) f.target_authority = followUp.target_authority.trim()
    if (followUp.description?.trim()) f.description = followUp.description.trim()
    body.follow_ups = [f]
  }
  return body
}

export class ReviewInputError extends Error {
  constructor(message, errors = null) {
    super(message)
    this.name = 'ReviewInputError'
    this.errors = errors
  }
}

const FIELD_LABELS = {
  version: '版本',
  comments: '意见',
  comment: '意见',
  category: '结果类别',
  details: '情况说明',
  follow_ups: '后续处置',
  note: '审批意见',
  status: '状态',
  form: '整表意见',
}

function flattenErrors(errors, prefix = '') {
  if (!errors || typeof errors !== 'object') return []
  const out = []
  for (const [k, v] of Object.entries(errors)) {
    const label = prefix ? `${prefix}.${k}` : FIELD_LABELS[k] ?? k
    if (Array.isArray(v)) out.push(`${label}：${v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)).join('；')}`)
    else if (v && typeof v === 'object') out.push(...flattenErrors(v, label))
    else out.push(`${label}：${v}`)
  }
  return out
}

/**
 * What to tell the reviewer about a failed action: {title, details[], conflict, offline}. The API's error shape is
 * {code, status, message, errors}; a 409 means someone else acted first (stale version or a status change).
 */
export function describeError(e) {
  if (e instanceof ReviewInputError) return { title: e.message, details: flattenErrors(e.errors).filter((d) => !d.startsWith('意见：必填')), conflict: false, offline: false }
  if (e instanceof ApiError || e?.name === 'ApiError' || e?.name === 'AuthExpiredError') {
    if (e.network) return { title: '网络不可用：离线时无法审核', details: [], conflict: false, offline: true }
    if (e.authExpired) return { title: '登录已过期，请重新登录', details: [], conflict: false, offline: false }
    const details = flattenErrors(e.errors)
    if (e.status === 409) {
      const status = e.errors?.status
      const extra = status ? `（当前状态：${Array.isArray(status) ? status.join('') : status}）` : ''
      return { title: `${e.message || '该检查表已被他人处理'}${extra}，已刷新为最新内容`, details, conflict: true, offline: false }
    }
    const own = e.message && !/^请求失败（\d+）$/.test(e.message) ? e.message : '' // the server's words, not the client's default
    if (e.status === 403) return { title: own || '没有权限执行此操作', details, conflict: false, offline: false }
    if (e.status === 404) return { title: own || '检查表不存在或不属于本部门', details, conflict: false, offline: false }
    return { title: e.message || `请求失败（${e.status}）`, details, conflict: false, offline: false }
  }
  return { title: e?.message || String(e), details: [], conflict: false, offline: false }
}

// ---------------------------------------------------------------------------------------- authenticated media

/**
 * Fetches evidence bytes (thumbnail, watermarked display, original, signature PNG) with the bearer token and hands
 * out object URLs — the token never goes into a URL. When the API redirects to a presigned object-store URL, fetch
 * follows it and the final bytes are used the same way. `revokeAll()` when the screen goes away.
 */
export class MediaCache {
  constructor(api, { createObjectURL = (b) => URL.createObjectURL(b), revokeObjectURL = (u) => URL.revokeObjectURL(u) } = {}) {
    this.api = api
    this.create = createObjectURL
    this.revoke = revokeObjectURL
    this.urls = new Map() // path → Promise<string>
    this.made = new Set()
    this.closed = false
  }

  /** Object URL of the bytes at `path` (an /api/v1/... link from the review detail); cached per path. */
  url(path) {
    if (!path) return Promise.reject(new Error('没有可显示的文件'))
    if (this.closed) return Promise.reject(new Error('已关闭'))
    let p = this.urls.get(path)
    if (!p) {
      p = this.blob(path).then((blob) => {
        const u = this.create(blob)
        if (this.closed) {
          this.revoke(u)
          throw new Error('已关闭')
        }
        this.made.add(u)
        return u
      })
      p.catch(() => this.urls.delete(path)) // a failed load may be retried
      this.urls.set(path, p)
    }
    return p
  }

  async blob(path) {
    const res = await this.api.raw('GET', path, {})
    return res.blob()
  }

  /**
   * A playable source for a (possibly large) video: a presigned URL after a redirect is used as is (streamed by
   * <video>, nothing buffered here); bytes served by the API itself become a blob object URL.
   */
  async streamUrl(path, { origin = globalThis.location?.origin } = {}) {
    const res = await this.api.raw('GET', path, {})
    if (res.redirected && res.url && origin && new URL(res.url).origin !== origin) {
      try {
        await res.body?.cancel()
      } catch {
        // the body may already be closed
      }
      return res.url
    }
    const u = this.create(await res.blob())
    this.made.add(u)
    return u
  }

  /** Release one URL made by streamUrl (videos are big: let them go as soon as the player closes). */
  release(url) {
    if (url && this.made.delete(url)) this.revoke(url)
  }

  revokeAll() {
    for (const u of this.made) this.revoke(u)
    this.made.clear()
    this.urls.clear()
  }

  close() {
    this.closed = true
    this.revokeAll()
  }
}

/** Save a fetched original under its own name (an <a download> on an object URL, revoked right after). */
export async function downloadOriginal(api, evidence, { doc = globalThis.document, urlApi = URL } = {}) {
  const link = evidence?.links?.content
  if (!link) throw new Error('原件不可下载')
  const res = await api.raw('GET', link, {})
  const blob = await res.blob()
  const url = urlApi.createObjectURL(blob)
  try {
    const a = doc.createElement('a')
    a.href = url
    a.download = evidence.filename || `${evidence.id}`
    a.rel = 'noopener'
    doc.body.appendChild(a)
    a.click()
    a.remove()
  } finally {
    setTimeout(() => urlApi.revokeObjectURL(url), 1000)
  }
  return blob.size
}

// ------------------------------------------------------------------------------------------- audit timeline

export const ENTITY_LABELS = { inspection_form: '检查表', evidence: '证据', inspection_result: '检查结果', follow_up: '后续处置' }

/** One line about what an audit entry recorded (the label says what happened; this says to what). */
export function auditSummary(entry) {
  const d = entry?.data ?? {}
  const parts = []
  if (Array.isArray(d.comments)) parts.push(`${d.comments.length} 条意见`)
  else if (typeof d.comments === 'number') parts.push(`${d.comments} 条意见`)
  if (d.from && d.to) parts.push(`${d.from} → ${d.to}`)
  else if (d.status) parts.push(`状态 ${d.status}`)
  if (d.category) parts.push(`类别 ${d.category}`)
  if (d.checkpoint_key) parts.push(`要点 ${d.checkpoint_key}`)
  if (d.filename) parts.push(d.filename)
  if (d.kind && !parts.length) parts.push(String(d.kind))
  return parts.join(' · ')
}
