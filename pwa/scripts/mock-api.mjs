// Development stand-in for the Flask API (docs/sync-protocol.md v1) that also serves dist/ under /app/.
// For trying the PWA before the backend exists: `npm run build && npm run mock`, then open http://127.0.0.1:5050/app/
// Users: zhangsan / lisi, password "test1234". In memory only; restart to reset.
import { createServer } from 'node:http'
import { createHash, randomUUID } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyOpToForm, fieldKeyFor } from '../src/sync/operations.js'

const PORT = Number(process.env.PORT ?? 5050)
const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')

const USERS = {
  zhangsan: { id: '00000000-0000-4000-8000-000000000001', username: 'zhangsan', display_name: '张三', roles: ['inspector'], department_id: 'd1', inspector_id: 'i-0001' },
  lisi: { id: '00000000-0000-4000-8000-000000000002', username: 'lisi', display_name: '李四', roles: ['inspector'], department_id: 'd1', inspector_id: 'i-0002' },
}
const TEAM = [
  { inspector_id: 'i-0001', name: '张三', department: '鼓楼区市场监督管理局', certificate_no: '35010219001', is_lead: true },
  { inspector_id: 'i-0002', name: '李四', department: '鼓楼区市场监督管理局', certificate_no: '35010219002', is_lead: false },
]
const CHECKPOINTS = [
  { key: 'lic', question: '是否在经营场所显著位置悬挂营业执照、食品经营许可证', legal_basis: '《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》第三十九条', department: '市场监管', item_name: '食品经营许可情况检查', answer_kind: 'pass_fail', options: [], photo_required: true },
  { key: 'health', question: '从业人员是否持有有效健康证明', legal_basis: '《中华人民共和国食品安全法》第四十五条', department: '市场监管', item_name: '从业人员管理', answer_kind: 'pass_fail', options: [], photo_required: false },
  { key: 'staff', question: '现场从业人员数量（人）', legal_basis: '', department: '市场监管', item_name: '从业人员管理', answer_kind: 'number', options: [], photo_required: false },
  { key: 'storage', question: '食品贮存条件', legal_basis: '《食品经营过程卫生规范》GB 31621-2014 第 5 条', department: '市场监管', item_name: '食品贮存', answer_kind: 'choice', options: ['符合要求', '部分不符合', '严重不符合'], photo_required: false },
]

function form(id, name, address, extra = {}) {
  return {
    id, version: 1, status: 'dispatched',
    task: { id: 't-2025-01', name: '2025 年度食品经营者“双随机”抽查', code: 'SSJ-350102-2025-001' },
    deadline_start: '2025-06-02', deadline_complete: '2025-06-30', working_days_left: 12,
    enterprise: { id: randomUUID(), uscc: '91350102MA2Y000001', name, address, legal_representative: '王五', industry: '食品、饮料及烟草制品专门零售', region_code: '350102', lat: 26.0827, lng: 119.2965 },
    team: TEAM, checkpoints: CHECKPOINTS, answers: {}, checkin: null, signatures: [], evidence: [],
    confirmations: [], proposed_result: null, review_comments: [], previous_results: [{ date: '2023-09-12', category: '未发现问题', summary: '2023 年度抽查' }],
    ...extra,
  }
}

const state = {
  forms: new Map(
    [
      form('11111111-1111-4111-8111-111111111111', '福州市鼓楼区好味食品店', '福州市鼓楼区五四路 100 号'),
      form('22222222-2222-4222-8222-222222222222', '福州某某餐饮管理有限公司', '福州市鼓楼区东街 8 号', {
        status: 'returned', version: 5, confirmations: [],
        answers: { lic: { value: 'pass', note: '', inspector_id: 'i-0001', answered_at: '2025-06-05T10:00:00+08:00' } },
        review_comments: [
          { checkpoint_key: 'lic', comment: '照片未能看清许可证编号，请补拍。', by: '审核人 陈六', at: '2025-06-06T09:00:00+08:00' },
          { checkpoint_key: null, comment: '请补充企业代表签名。', by: '审核人 陈六', at: '2025-06-06T09:00:00+08:00' },
        ],
      }),
    ].map((f) => [f.id, f]),
  ),
  fieldVersion: new Map(),
  ops: new Map(),
  access: new Map(), // token -> { user, exp }
  refresh: new Map(), // token -> user
  evidence: new Map(), // id -> { formId, sha256, size, status }
  uploads: new Map(), // id -> { length, offset, hash, evidenceId }
}

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers })
  res.end(body === undefined ? undefined : JSON.stringify(body))
}
const error = (res, status, message, extra = {}) => send(res, status, { code: status, status: String(status), message, errors: {}, ...extra })

function issue(user) {
  const access = randomUUID()
  const refresh = randomUUID()
  state.access.set(access, { user, exp: Date.now() + 15 * 60_000 })
  state.refresh.set(refresh, user)
  return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: 900, user }
}

async function body(req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks)
}

function push(user, payload) {
  const results = []
  for (const op of payload.operations ?? []) {
    const key = JSON.stringify(op.payload)
    const seen = state.ops.get(op.op_id)
    if (seen) {
      results.push(seen.key === key ? { ...seen.result, status: 'duplicate' } : { op_id: op.op_id, status: 'rejected', code: 422, message: '同一操作编号的内容不同' })
      continue
    }
    const f = state.forms.get(op.form_id)
    let result
    if (!f || !f.team.some((m) => m.inspector_id === user.inspector_id)) {
      result = { op_id: op.op_id, status: 'rejected', code: 404, message: '检查表不存在或未分配给您' }
    } else {
      const field = fieldKeyFor(op.type, op.payload, op.op_id)
      const changed = state.fieldVersion.get(`${f.id}|${field}`) ?? 0
      const undeclared = op.type === 'submit' && f.evidence.some((e) => state.evidence.get(e.id)?.status !== 'received')
      if (op.base_version < f.version && changed > op.base_version) {
        result = { op_id: op.op_id, status: 'conflict', code: 409, message: '该内容已被他人修改', form_version: f.version, server_copy: f }
      } else if (op.type === 'submit' && f.confirmations.length < 2) {
        result = { op_id: op.op_id, status: 'rejected', code: 422, message: '至少需要 2 名检查人员确认后才能提交', form_version: f.version }
      } else if (undeclared) {
        result = { op_id: op.op_id, status: 'rejected', code: 422, message: '还有证据文件未上传完成', form_version: f.version }
      } else {
        const next = applyOpToForm(f, op, { inspectorId: user.inspector_id })
        delete next.local_notes
        next.version = f.version + 1
        if (op.type === 'evidence') state.evidence.set(op.payload.evidence_id, { formId: f.id, sha256: op.payload.sha256, size: op.payload.size, status: 'declared' })
        state.forms.set(f.id, next)
        state.fieldVersion.set(`${f.id}|${field}`, next.version)
        result = { op_id: op.op_id, status: 'applied', code: 200, form_version: next.version }
      }
    }
    state.ops.set(op.op_id, { key, result })
    results.push(result)
  }
  return { results }
}

const TUS = { 'Tus-Resumable': '1.0.0', 'Access-Control-Expose-Headers': 'Location, Upload-Offset, Upload-Length' }

async function tus(req, res, user, id) {
  if (req.method === 'POST' && !id) {
    const length = Number(req.headers['upload-length'])
    const meta = Object.fromEntries(
      String(req.headers['upload-metadata'] ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => {
          const [k, v] = kv.trim().split(' ')
          return [k, v ? Buffer.from(v, 'base64').toString('utf8') : '']
        }),
    )
    if (!state.evidence.has(meta.evidence_id)) return error(res, 404, '证据记录未登记')
    const uid = randomUUID().replaceAll('-', '')
    state.uploads.set(uid, { length, offset: 0, hash: createHash('sha256'), evidenceId: meta.evidence_id })
    res.writeHead(201, { ...TUS, Location: `/api/v1/uploads/${uid}` })
    return res.end()
  }
  const up = state.uploads.get(id)
  if (!up) {
    res.writeHead(404, TUS)
    return res.end()
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { ...TUS, 'Upload-Offset': String(up.offset), 'Upload-Length': String(up.length), 'Cache-Control': 'no-store' })
    return res.end()
  }
  if (req.method === 'PATCH') {
    if (Number(req.headers['upload-offset']) !== up.offset) {
      res.writeHead(409, TUS)
      return res.end()
    }
    const chunk = await body(req)
    up.hash.update(chunk)
    up.offset += chunk.length
    if (up.offset >= up.length) {
      const ev = state.evidence.get(up.evidenceId)
      const digest = up.hash.digest('hex')
      state.uploads.delete(id)
      if (digest !== ev.sha256) {
        res.writeHead(460, TUS)
        return res.end()
      }
      ev.status = 'received'
      const f = state.forms.get(ev.formId)
      state.forms.set(f.id, { ...f, version: f.version + 1, evidence: f.evidence.map((e) => (e.id === up.evidenceId ? { ...e, status: 'received' } : e)) })
    }
    res.writeHead(204, { ...TUS, 'Upload-Offset': String(up.offset) })
    return res.end()
  }
  if (req.method === 'DELETE') {
    state.uploads.delete(id)
    res.writeHead(204, TUS)
    return res.end()
  }
  error(res, 405, '不支持的方法')
}

async function api(req, res, url) {
  const path = url.pathname
  if (path === '/api/v1/auth/login' && req.method === 'POST') {
    const { username, password } = JSON.parse((await body(req)).toString() || '{}')
    const user = USERS[username]
    if (!user || password !== 'test1234') return error(res, 401, '用户名或密码错误')
    return send(res, 200, issue(user))
  }
  if (path === '/api/v1/auth/refresh' && req.method === 'POST') {
    const { refresh_token } = JSON.parse((await body(req)).toString() || '{}')
    const user = state.refresh.get(refresh_token)
    if (!user) return error(res, 401, '登录已失效')
    state.refresh.delete(refresh_token)
    return send(res, 200, issue(user))
  }
  if (path === '/api/v1/auth/logout' && req.method === 'POST') {
    const { refresh_token } = JSON.parse((await body(req)).toString() || '{}')
    state.refresh.delete(refresh_token)
    res.writeHead(204)
    return res.end()
  }
  const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '')
  const session = state.access.get(token)
  if (!session || session.exp < Date.now()) return error(res, 401, '未登录或登录已过期')
  const user = session.user
  if (path === '/api/v1/auth/me') return send(res, 200, user)
  if (path === '/api/v1/sync/pull') {
    const forms = [...state.forms.values()].filter((f) => f.team.some((m) => m.inspector_id === user.inspector_id))
    return send(res, 200, { cursor: `v${Date.now()}`, has_more: false, forms, removed: [] })
  }
  if (path === '/api/v1/sync/push' && req.method === 'POST') return send(res, 200, push(user, JSON.parse((await body(req)).toString())))
  const up = path.match(/^\/api\/v1\/uploads\/?([0-9a-f]*)$/)
  if (up) return tus(req, res, user, up[1] || null)
  const ev = path.match(/^\/api\/v1\/evidence\/([^/]+)$/)
  if (ev) return state.evidence.has(ev[1]) ? send(res, 200, { id: ev[1], ...state.evidence.get(ev[1]) }) : error(res, 404, '无此证据')
  return error(res, 404, '无此接口')
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.webmanifest': 'application/manifest+json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml' }

async function staticFile(req, res, url) {
  let rel = url.pathname.replace(/^\/app\/?/, '')
  let file = normalize(join(DIST, rel))
  if (!file.startsWith(DIST)) return error(res, 403, '禁止访问')
  try {
    if (!rel || !(await stat(file)).isFile()) throw new Error('dir')
  } catch {
    if (extname(rel)) return error(res, 404, '文件不存在')
    file = join(DIST, 'index.html')
    rel = 'index.html'
  }
  const immutable = rel.startsWith('assets/')
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    // sw.js and index.html must never be served from HTTP cache, or updates stall.
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...(rel === 'sw.js' ? { 'Service-Worker-Allowed': '/app/' } : {}),
  })
  res.end(await readFile(file))
}

createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`)
  try {
    if (url.pathname.startsWith('/api/')) return await api(req, res, url)
    if (url.pathname === '/' || url.pathname === '/app') {
      res.writeHead(302, { Location: '/app/' })
      return res.end()
    }
    if (url.pathname.startsWith('/app/')) return await staticFile(req, res, url)
    error(res, 404, '未找到')
  } catch (e) {
    console.error(e)
    error(res, 500, '服务器内部错误')
  }
}).listen(PORT, '127.0.0.1', () => console.log(`mock API + PWA on http://127.0.0.1:${PORT}/app/`))
