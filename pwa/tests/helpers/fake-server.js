// A scripted in-memory API that follows docs/sync-protocol.md closely enough to exercise the client.
import { applyOpToForm, fieldKeyFor } from '../../src/sync/operations.js'

const json = (status, body) => new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

export function createFakeServer({ forms = [], inspectorId = 'i-me' } = {}) {
  const state = {
    forms: new Map(forms.map((f) => [f.id, structuredClone(f)])),
    fieldVersion: new Map(), // `${formId}|${field}` -> version that last changed it
    ops: new Map(), // op_id -> { payload, result }
    pushes: [],
    refreshCalls: 0,
    validAccess: new Set(['access-1']),
    refreshToken: 'refresh-1',
    evidence: new Map(),
    failNextPush: null, // 'network' | 'after-apply' | number status
  }

  function push(body) {
    state.pushes.push(body)
    const results = []
    for (const op of body.operations) {
      const key = JSON.stringify(op.payload)
      const seen = state.ops.get(op.op_id)
      if (seen) {
        results.push(seen.payload === key ? { ...seen.result, status: 'duplicate' } : { op_id: op.op_id, status: 'rejected', code: 422, message: '同一操作编号的内容不同' })
        continue
      }
      const form = state.forms.get(op.form_id)
      let result
      if (!form) {
        result = { op_id: op.op_id, status: 'rejected', code: 404, message: '检查表不存在' }
      } else {
        const field = fieldKeyFor(op.type, op.payload, op.op_id)
        const changedAt = state.fieldVersion.get(`${op.form_id}|${field}`) ?? 0
        if (op.base_version < form.version && changedAt > op.base_version) {
          result = { op_id: op.op_id, status: 'conflict', code: 409, message: '该字段已被他人修改', form_version: form.version, server_copy: structuredClone(form) }
        } else if (op.type === 'submit' && (form.confirmations ?? []).length < 2) {
          result = { op_id: op.op_id, status: 'rejected', code: 422, message: '至少需要 2 名检查人员确认', form_version: form.version }
        } else {
          const next = applyOpToForm(form, { type: op.type, payload: op.payload }, { inspectorId })
          next.version = form.version + 1
          state.forms.set(op.form_id, next)
          state.fieldVersion.set(`${op.form_id}|${field}`, next.version)
          if (op.type === 'evidence') state.evidence.set(op.payload.evidence_id, { status: 'declared' })
          result = { op_id: op.op_id, status: 'applied', code: 200, form_version: next.version }
        }
      }
      state.ops.set(op.op_id, { payload: key, result })
      results.push(result)
    }
    return { results }
  }

  /** Someone else (a co-inspector or the server) changes a field. */
  function serverEdit(formId, type, payload) {
    const form = state.forms.get(formId)
    const next = applyOpToForm(form, { type, payload }, { inspectorId: 'i-co' })
    next.version = form.version + 1
    state.forms.set(formId, next)
    state.fieldVersion.set(`${formId}|${fieldKeyFor(type, payload)}`, next.version)
  }

  async function fetch(input, init = {}) {
    const url = new URL(String(input), 'http://localhost')
    const method = init.method ?? 'GET'
    const body = init.body ? JSON.parse(init.body) : null
    if (url.pathname === '/api/v1/auth/refresh') {
      state.refreshCalls += 1
      if (body.refresh_token !== state.refreshToken) return json(401, { code: 401, status: 'Unauthorized', message: '刷新令牌无效' })
      const n = state.refreshCalls + 1
      state.refreshToken = `refresh-${n}`
      state.validAccess.add(`access-${n}`)
      return json(200, { access_token: `access-${n}`, refresh_token: state.refreshToken, token_type: 'Bearer', expires_in: 900, user: { id: 'u1' } })
    }
    const auth = init.headers?.Authorization?.replace('Bearer ', '')
    if (!state.validAccess.has(auth)) return json(401, { code: 401, status: 'Unauthorized', message: '未登录' })
    if (url.pathname === '/api/v1/sync/push' && method === 'POST') {
      const mode = state.failNextPush
      state.failNextPush = null
      if (mode === 'network') throw new TypeError('Failed to fetch')
      if (typeof mode === 'number') return json(mode, { code: mode, status: 'Error', message: '服务器错误' })
      const res = push(body)
      if (mode === 'after-apply') throw new TypeError('connection reset') // applied, but the answer is lost
      return json(200, res)
    }
    if (url.pathname === '/api/v1/sync/pull') {
      return json(200, { cursor: `c-${state.pushes.length}`, has_more: false, forms: [...state.forms.values()].map((f) => structuredClone(f)), removed: [] })
    }
    const ev = url.pathname.match(/^\/api\/v1\/evidence\/([^/]+)$/)
    if (ev) {
      const rec = state.evidence.get(ev[1])
      return rec ? json(200, { id: ev[1], ...rec }) : json(404, { code: 404, status: 'Not Found', message: '无此证据' })
    }
    return json(404, { code: 404, status: 'Not Found', message: '无此接口' })
  }

  return { state, fetch, serverEdit }
}

/** A token manager stand-in that always has a valid token. */
export const staticAuth = (token = 'access-1') => ({ getAccessToken: async () => token, invalidate() {} })
