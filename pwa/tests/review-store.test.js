// Review store: memory-only caches, sorted queue, invalidation after every action, nothing kept across users.
import { beforeEach, describe, expect, it, vi } from 'vitest'

const fake = vi.hoisted(() => ({ api: null, user: { id: 'u1', roles: ['supervisor'] } }))
vi.mock('../src/store/session.js', () => ({
  apiClient: () => fake.api,
  session: {
    get user() {
      return fake.user
    },
    online: true,
  },
}))

const store = await import('../src/store/review.js')
const { createApiClient } = await import('../src/api/client.js')

const json = (status, body, headers = {}) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

function server() {
  const calls = []
  const detail = (id, version) => ({ form: { id, version, status: 'submitted' }, checkpoints: [], evidence: [], actions: { return: true } })
  let version = 7
  const fetchImpl = vi.fn(async (url, init) => {
    calls.push(`${init.method} ${url}`)
    const path = new URL(url, 'http://x').pathname
    if (path === '/api/v1/review/queue')
      return json(200, [{ id: 'late', entry_deadline: '2025-07-30' }, { id: 'soon', entry_deadline: '2025-07-10' }], { 'X-Pagination': '{"total": 2}' })
    if (path === '/api/v1/review/forms/f1') return json(200, detail('f1', version))
    if (path === '/api/v1/review/forms/f1/return') {
      const body = JSON.parse(init.body)
      if (body.version !== version) return json(409, { code: 409, status: 'Conflict', message: '检查表已被他人处理', errors: { current_version: [version] } })
      version++
      return json(200, { id: 'f1', status: 'returned', version })
    }
    return json(404, { code: 404, message: '不存在' })
  })
  return { api: createApiClient({ fetchImpl, auth: { getAccessToken: async () => 't', invalidate: () => {} } }), calls }
}

describe('review store', () => {
  beforeEach(() => {
    fake.user = { id: 'u1', roles: ['supervisor'] }
    store.clearReviewCache()
  })

  it('keeps the queue sorted by nearest entry deadline', async () => {
    fake.api = server().api
    const slot = await store.loadQueue('submitted')
    expect(slot.rows.map((r) => r.id)).toEqual(['soon', 'late'])
    expect(slot.total).toBe(2)
    expect(store.reviewState.queues.submitted.loadedAt).toBeTruthy()
  })

  it('caches a detail in memory, and drops it and the queues after an action', async () => {
    const s = server()
    fake.api = s.api
    await store.loadQueue('submitted')
    await store.loadDetail('f1')
    await store.loadDetail('f1')
    expect(s.calls.filter((c) => c === 'GET /api/v1/review/forms/f1')).toHaveLength(1)
    const bump = store.reviewState.bump
    await store.sendBack('f1', 'revise', { version: 7, comments: [{ comment: '补拍' }] })
    expect(store.reviewState.bump).toBe(bump + 1)
    expect(store.reviewState.queues.submitted.loadedAt).toBe(null)
    expect((await store.loadDetail('f1')).form.version).toBe(8)
    expect(s.calls.filter((c) => c === 'GET /api/v1/review/forms/f1')).toHaveLength(2)
  })

  it('invalidates after a refused action too (stale version → 409)', async () => {
    const s = server()
    fake.api = s.api
    await store.loadDetail('f1')
    await expect(store.sendBack('f1', 'revise', { version: 3, comments: [{ comment: 'x' }] })).rejects.toMatchObject({ status: 409 })
    await store.loadDetail('f1')
    expect(s.calls.filter((c) => c === 'GET /api/v1/review/forms/f1')).toHaveLength(2)
  })

  it('routes request-evidence to its own endpoint', async () => {
    const s = server()
    fake.api = s.api
    await store.sendBack('f1', 'more_evidence', { version: 7, comments: [{ comment: 'x' }] }).catch(() => {})
    expect(s.calls).toContain('POST /api/v1/review/forms/f1/request-evidence')
  })

  it('starts empty for another user signing in in the same tab', async () => {
    const s = server()
    fake.api = s.api
    await store.loadDetail('f1')
    store.draftFor('f1').form = '未发出的意见'
    fake.user = { id: 'u2', roles: ['supervisor'] }
    await store.loadDetail('f1')
    expect(s.calls.filter((c) => c === 'GET /api/v1/review/forms/f1')).toHaveLength(2)
    expect(store.draftFor('f1').form).toBe('')
  })

  it('reports a queue load failure in the error shape', async () => {
    fake.api = createApiClient({ fetchImpl: async () => { throw new TypeError('Failed to fetch') }, auth: { getAccessToken: async () => 't', invalidate: () => {} } })
    const slot = await store.loadQueue('returned')
    expect(slot.error).toMatchObject({ offline: true, title: '网络不可用：离线时无法审核' })
  })
})
