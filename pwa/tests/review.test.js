// Review console data helpers: queue order, provenance and distance, comment/approve payloads, errors, media fetches.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { ApiError, createApiClient } from '../src/api/client.js'
import {
  auditSummary,
  buildApprovePayload,
  buildCommentPayload,
  compareQueueRows,
  decideProposal,
  decideWithhold,
  fetchCreditProposals,
  fetchPendingWithholds,
  deadlineLevel,
  describeError,
  distanceMeters,
  downloadOriginal,
  fetchQueue,
  formatAnswer,
  formatDistance,
  formatLag,
  MediaCache,
  mergeQueue,
  parsePagination,
  provenanceRows,
  ReviewInputError,
  returnForm,
  sortQueue,
  workdaysText,
} from '../src/api/review.js'
import { canReview, canSeeDecisions, isInspector } from '../src/views/review/roles.js'

const json = (status, body, headers = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

/** A client like the app's: token manager stub, scripted fetch that records every call. */
function client(handler, { tokens = ['t1', 't2'] } = {}) {
  const calls = []
  let i = 0
  const auth = { getAccessToken: vi.fn(async () => tokens[Math.min(i, tokens.length - 1)]), invalidate: vi.fn(() => i++) }
  const fetchImpl = vi.fn(async (url, init) => {
    calls.push({ url, init })
    return handler(url, init, calls.length)
  })
  return { api: createApiClient({ fetchImpl, auth }), calls, auth, fetchImpl }
}

// ------------------------------------------------------------------------------------------------- roles

describe('roles', () => {
  it('shows the console to supervisors, approvers and admins, never to an inspector', () => {
    expect(canReview({ roles: ['supervisor'] })).toBe(true)
    expect(canReview({ roles: ['approver'] })).toBe(true)
    expect(canReview({ roles: ['admin'] })).toBe(true)
    expect(canReview({ roles: ['inspector'] })).toBe(false)
    expect(canReview({ roles: ['planner'] })).toBe(false)
    expect(canReview(null)).toBe(false)
    expect(canSeeDecisions({ roles: ['supervisor'] })).toBe(false)
    expect(canSeeDecisions({ roles: ['approver'] })).toBe(true)
    expect(isInspector({ roles: ['supervisor'] })).toBe(false)
    expect(isInspector({ roles: ['inspector', 'supervisor'] })).toBe(true)
  })
})

// ------------------------------------------------------------------------------------------------- queue

describe('queue ordering', () => {
  const row = (id, entry_deadline, first_submitted_at, extra = {}) => ({ id, code: id.toUpperCase(), entry_deadline, first_submitted_at, submitted_at: first_submitted_at, ...extra })

  it('puts the nearest entry deadline first, forms without a deadline last', () => {
    const rows = [
      row('c', '2025-07-30', '2025-07-01T02:00:00Z'),
      row('none', null, null),
      row('a', '2025-07-10', '2025-06-10T02:00:00Z'),
      row('b', '2025-07-21', '2025-06-20T02:00:00Z'),
    ]
    expect(sortQueue(rows).map((r) => r.id)).toEqual(['a', 'b', 'c', 'none'])
    expect(rows[0].id).toBe('c') // not sorted in place
  })

  it('breaks deadline ties by the oldest first submission, then the older resubmission, then the code', () => {
    const rows = [
      row('late', '2025-07-10', '2025-06-11T09:00:00Z'),
      row('early', '2025-07-10', '2025-06-11T01:00:00Z'),
      row('z', '2025-07-10', '2025-06-11T01:00:00Z', { code: 'F-2', submitted_at: '2025-06-15T00:00:00Z' }),
      row('y', '2025-07-10', '2025-06-11T01:00:00Z', { code: 'F-1', submitted_at: '2025-06-15T00:00:00Z' }),
    ]
    expect(sortQueue(rows).map((r) => r.id)).toEqual(['early', 'y', 'z', 'late'])
    expect(compareQueueRows(rows[0], rows[0])).toBe(0)
  })

  it('merges a further page without duplicates, keeping the newer copy and the order', () => {
    const first = [row('a', '2025-07-10', null, { open_comments: 0 }), row('b', '2025-07-20', null)]
    const more = [row('a', '2025-07-10', null, { open_comments: 2 }), row('c', '2025-07-15', null)]
    const merged = mergeQueue(first, more)
    expect(merged.map((r) => r.id)).toEqual(['a', 'c', 'b'])
    expect(merged[0].open_comments).toBe(2)
  })

  it('says how many working days are left, flags estimates, and grades urgency', () => {
    expect(workdaysText(5)).toBe('剩余 5 个工作日')
    expect(workdaysText(0)).toBe('今天截止')
    expect(workdaysText(-3)).toBe('已逾期 3 个工作日')
    expect(workdaysText(null)).toBe('无录入期限')
    expect(workdaysText(12, { estimated: true })).toBe('剩余 12 个工作日（估算）')
    expect(deadlineLevel(2)).toBe('urgent')
    expect(deadlineLevel(6)).toBe('soon')
    expect(deadlineLevel(15)).toBe('ok')
    expect(deadlineLevel(15, true)).toBe('urgent')
    expect(deadlineLevel(null)).toBe('ok')
  })

  it('fetches a queue page with the bearer token and reads X-Pagination', async () => {
    const rows = [{ id: 'f2', entry_deadline: '2025-07-20' }, { id: 'f1', entry_deadline: '2025-07-10' }]
    const { api, calls } = client(() => json(200, rows, { 'X-Pagination': JSON.stringify({ total: 73, page: 1, next_page: 2 }) }))
    const res = await fetchQueue(api, { status: 'submitted' })
    expect(res.total).toBe(73)
    expect(res.nextPage).toBe(2)
    expect(res.rows.map((r) => r.id)).toEqual(['f2', 'f1']) // the store sorts; the call returns what came
    const url = new URL(calls[0].url, 'http://x')
    expect(url.pathname).toBe('/api/v1/review/queue')
    expect(url.searchParams.get('status')).toBe('submitted')
    expect(calls[0].init.headers.Authorization).toBe('Bearer t1')
    expect(parsePagination('not json')).toBe(null)
  })
})

// ------------------------------------------------------------------------------------------- provenance

describe('provenance', () => {
  it('computes great-circle distances in metres', () => {
    expect(distanceMeters(32, 105, 33, 105)).toBeCloseTo(111_195, -2) // one degree of latitude
    expect(distanceMeters(32.4355, 105.8434, 32.4355, 105.8434)).toBe(0)
    const d = distanceMeters(32.4355, 105.8434, 32.43571, 105.84362) // the e2e check-in vs the enterprise
    expect(d).toBeGreaterThan(25)
    expect(d).toBeLessThan(35)
    expect(distanceMeters(null, 105, 32, 105)).toBe(null)
  })

  it('formats distances and receive lag in Chinese', () => {
    expect(formatDistance(84.6)).toBe('约 85 米')
    expect(formatDistance(1234)).toBe('约 1.2 公里')
    expect(formatDistance(23_456)).toBe('约 23 公里')
    expect(formatDistance(null)).toBe('无法计算')
    expect(formatLag(42)).toBe('拍摄后 42 秒 到达服务器')
    expect(formatLag(3 * 3600)).toBe('拍摄后 3.0 小时 到达服务器')
    expect(formatLag(-900)).toBe('设备时间晚于接收 15 分钟')
    expect(formatLag(null)).toBe('尚未接收')
  })

  const evidence = (prov = {}, extra = {}) => ({
    id: 'e1',
    kind: 'photo',
    status: 'received',
    inspector_name: '李检查',
    provenance: {
      inspector_name: '李检查',
      certificate_no: '川执法00000001',
      device_id: 'dev-1',
      captured_at_device: '2025-06-11T02:00:00Z',
      received_at_server: '2025-06-11T02:00:42Z',
      receive_lag_seconds: 42,
      clock_suspect: false,
      lat: 32.43571,
      lng: 105.84362,
      accuracy_m: 12,
      distance_to_enterprise_m: 30.4,
      distance_to_checkin_m: 3.2,
      hash_verified: true,
      ...prov,
    },
    ...extra,
  })
  const byKey = (rows) => Object.fromEntries(rows.map((r) => [r.key, r]))

  it('lists inspector, 执法证, device, captured vs received, GPS, distances and the hash check', () => {
    const rows = byKey(provenanceRows(evidence()))
    expect(rows.inspector.value).toBe('李检查 · 执法证 川执法00000001')
    expect(rows.device.value).toBe('dev-1')
    expect(rows.captured.value).toBe('2025/6/11 10:00:00') // 北京时间
    expect(rows.received.value).toBe('2025/6/11 10:00:42（拍摄后 42 秒 到达服务器）')
    expect(rows.gps.value).toBe('32.43571, 105.84362（精度 ±12 米）')
    expect(rows.distance).toMatchObject({ value: '约 30 米', level: 'ok' })
    expect(rows.checkin.value).toBe('约 3 米')
    expect(rows.hash).toMatchObject({ value: '✔ 已校验（SHA-256 一致）', level: 'ok' })
    expect(rows.clock).toBeUndefined()
  })

  it('flags far photos, suspect clocks, missing GPS and unverified or pending files', () => {
    expect(byKey(provenanceRows(evidence({ distance_to_enterprise_m: 2400 }))).distance).toMatchObject({ value: '约 2.4 公里', level: 'bad' })
    const suspect = byKey(provenanceRows(evidence({ clock_suspect: true, receive_lag_seconds: -900 })))
    expect(suspect.clock.level).toBe('bad')
    expect(suspect.received.level).toBe('bad')
    const noFix = byKey(provenanceRows(evidence({ lat: null, lng: null, accuracy_m: null, distance_to_enterprise_m: null, distance_to_checkin_m: null })))
    expect(noFix.gps).toMatchObject({ value: '无定位', level: 'warn' })
    expect(noFix.distance.value).toBe('无法计算')
    expect(noFix.checkin).toBeUndefined()
    expect(byKey(provenanceRows(evidence({ hash_verified: false }))).hash).toMatchObject({ value: '✘ 未通过校验', level: 'bad' })
    const pending = byKey(provenanceRows(evidence({ hash_verified: false, received_at_server: null, receive_lag_seconds: null }, { status: 'declared' })))
    expect(pending.hash.value).toBe('文件尚未上传完成')
    expect(pending.received).toMatchObject({ value: '尚未接收', level: 'warn' })
  })

  it('computes the distance from the registered address itself when the server sent none', () => {
    const rows = byKey(provenanceRows(evidence({ distance_to_enterprise_m: null }), { lat: 32.4355, lng: 105.8434 }))
    expect(rows.distance).toMatchObject({ value: '约 31 米', level: 'ok' })
  })

  it('formats answers by kind', () => {
    expect(formatAnswer({ answer: { value: 'pass' } })).toEqual({ text: '符合', level: 'ok' })
    expect(formatAnswer({ answer: { value: 'fail' } })).toEqual({ text: '不符合', level: 'bad' })
    expect(formatAnswer({ answer: { value: 'na' } }).text).toBe('不适用')
    expect(formatAnswer({ answer: { value: 12 } }).text).toBe('12')
    expect(formatAnswer({ answer: { value: ['甲', '乙'] } }).text).toBe('甲、乙')
    expect(formatAnswer({ answer: null })).toEqual({ text: '未作答', level: 'warn' })
  })

  it('summarises audit entries', () => {
    expect(auditSummary({ data: { comments: [{}, {}], from: 'submitted', to: 'returned' } })).toBe('2 条意见 · submitted → returned')
    expect(auditSummary({ data: { category: 'no_problem' } })).toBe('类别 no_problem')
    expect(auditSummary({ data: {} })).toBe('')
  })
})

// --------------------------------------------------------------------------------------------- payloads

describe('action payloads', () => {
  const order = ['cp1', 'cp2', 'cp3']

  it('builds return comments per checkpoint in form order, then the form-level comment, with the version', () => {
    const body = buildCommentPayload({
      version: 7,
      checkpointComments: { cp3: '  请补拍冷藏柜温度计  ', cp1: '年报截图不清晰', cp2: '   ' },
      formComment: ' 请企业代表补签 ',
      checkpointOrder: order,
    })
    expect(body).toEqual({
      version: 7,
      comments: [
        { checkpoint_key: 'cp1', comment: '年报截图不清晰' },
        { checkpoint_key: 'cp3', comment: '请补拍冷藏柜温度计' },
        { comment: '请企业代表补签' },
      ],
    })
  })

  it('accepts a form-level comment alone and leaves version out when unknown', () => {
    expect(buildCommentPayload({ formComment: '整表意见' })).toEqual({ comments: [{ comment: '整表意见' }] })
  })

  it('refuses to send nothing, or a comment over 2000 characters', () => {
    expect(() => buildCommentPayload({ version: 1, checkpointComments: { cp1: ' ' }, formComment: '' })).toThrow(ReviewInputError)
    expect(() => buildCommentPayload({ version: 1, checkpointComments: {} })).toThrow('请至少填写一条意见')
    try {
      buildCommentPayload({ version: 1, checkpointComments: { cp2: 'x'.repeat(2001) }, checkpointOrder: order })
      expect.unreachable()
    } catch (e) {
      expect(e.errors).toEqual({ cp2: ['意见不超过 2000 字'] })
      expect(describeError(e).details).toEqual(['cp2：意见不超过 2000 字'])
    }
  })

  it('sends only what the reviewer changed from the proposal when approving', () => {
    const proposed = { category: { code: 'problem_corrected', label: '发现问题已责令改正' }, details: '责令当场调整冷藏温度' }
    expect(buildApprovePayload({ version: 3, category: 'problem_corrected', details: '责令当场调整冷藏温度 ', comment: '' }, proposed)).toEqual({ version: 3 })
    expect(
      buildApprovePayload(
        {
          version: 3,
          category: 'problem_pending',
          details: '待立案',
          comment: ' 同意 ',
          followUp: { kind: 'rectification', deadline: '2025-08-01', target_department_id: '', target_authority: ' ', description: ' 复查 ' },
        },
        proposed,
      ),
    ).toEqual({
      version: 3,
      category: 'problem_pending',
      details: '待立案',
      comment: '同意',
      follow_ups: [{ kind: 'rectification', deadline: '2025-08-01', description: '复查' }],
    })
  })

  it('posts the return body to the form and surfaces the API error shape', async () => {
    const { api, calls } = client((url, init) => {
      const body = JSON.parse(init.body)
      if (body.version === 6) return json(409, { code: 409, status: 'Conflict', message: '检查表已被他人处理', errors: { status: ['returned'] } })
      return json(200, { id: 'f1', status: 'returned', version: 8 })
    })
    const body = buildCommentPayload({ version: 7, checkpointComments: { cp1: '补拍' }, checkpointOrder: order })
    expect(await returnForm(api, 'f1', body)).toEqual({ id: 'f1', status: 'returned', version: 8 })
    expect(calls[0].url).toBe('/api/v1/review/forms/f1/return')
    expect(calls[0].init.method).toBe('POST')
    expect(JSON.parse(calls[0].init.body)).toEqual({ version: 7, comments: [{ checkpoint_key: 'cp1', comment: '补拍' }] })

    const err = await returnForm(api, 'f1', { ...body, version: 6 }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 409, code: 409, errors: { status: ['returned'] } })
    const told = describeError(err)
    expect(told.conflict).toBe(true)
    expect(told.title).toBe('检查表已被他人处理（当前状态：returned），已刷新为最新内容')
  })

  it('describes validation, permission and network errors', () => {
    const v = describeError(new ApiError({ status: 422, code: 422, message: '输入有误', errors: { comments: { 0: { comment: ['必填'] } } } }))
    expect(v).toMatchObject({ title: '输入有误', conflict: false })
    expect(v.details).toEqual(['意见.0.comment：必填'])
    expect(describeError(new ApiError({ status: 403, message: '' })).title).toBe('没有权限执行此操作')
    expect(describeError(new ApiError({ network: true }))).toMatchObject({ offline: true, title: '网络不可用：离线时无法审核' })
  })
})

// ------------------------------------------------------------------------------------------- approver

describe('approver decisions', () => {
  it('lists withhold requests and pending credit proposals, and posts decisions with an optional note', async () => {
    const { api, calls } = client((url) => {
      const path = new URL(url, 'http://x').pathname
      if (path === '/api/v1/results') return json(200, [{ id: 'r1', withhold: { status: 'requested', reason: '涉及国家秘密' } }], { 'X-Pagination': '{"total": 1}' })
      if (path === '/api/v1/credit/proposals') return json(200, [{ id: 'p1', flag: 'abnormal_list' }])
      return json(200, { id: 'ok' })
    })
    expect((await fetchPendingWithholds(api)).map((r) => r.id)).toEqual(['r1'])
    expect(new URL(calls[0].url, 'http://x').searchParams.get('withhold_status')).toBe('requested')
    expect((await fetchCreditProposals(api)).map((p) => p.id)).toEqual(['p1'])
    expect(new URL(calls[1].url, 'http://x').searchParams.get('status')).toBe('pending')
    await decideWithhold(api, 'r1', { approve: true })
    await decideProposal(api, 'p1', { approve: false, note: '证据不足' })
    expect(calls[2].url).toBe('/api/v1/results/r1/withhold/decision')
    expect(JSON.parse(calls[2].init.body)).toEqual({ approve: true })
    expect(calls[3].url).toBe('/api/v1/credit/proposals/p1/decision')
    expect(JSON.parse(calls[3].init.body)).toEqual({ approve: false, note: '证据不足' })
  })
})

// ----------------------------------------------------------------------------------------------- media

describe('authenticated media', () => {
  const fakeUrls = () => {
    let n = 0
    const live = new Set()
    return {
      live,
      createObjectURL: vi.fn(() => {
        const u = `blob:test/${++n}`
        live.add(u)
        return u
      }),
      revokeObjectURL: vi.fn((u) => live.delete(u)),
    }
  }
  const image = () => new Response(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), { status: 200, headers: { 'Content-Type': 'image/jpeg' } })

  it('fetches with the bearer header (never a token in the URL), caches per link, and revokes on close', async () => {
    const { api, calls } = client(() => image())
    const urls = fakeUrls()
    const media = new MediaCache(api, urls)
    const [a, b] = await Promise.all([media.url('/api/v1/evidence/e1/thumbnail'), media.url('/api/v1/evidence/e1/thumbnail')])
    expect(a).toBe(b)
    expect(calls).toHaveLength(1)
    expect(calls[0].url).toBe('/api/v1/evidence/e1/thumbnail')
    expect(calls[0].url).not.toMatch(/token|t1/)
    expect(calls[0].init.headers.Authorization).toBe('Bearer t1')
    const blob = urls.createObjectURL.mock.calls[0][0]
    expect(blob.type).toBe('image/jpeg')
    expect(blob.size).toBe(4)
    await media.url('/api/v1/evidence/e2/display')
    expect(urls.live.size).toBe(2)
    media.close()
    expect(urls.live.size).toBe(0)
    await expect(media.url('/api/v1/evidence/e3/thumbnail')).rejects.toThrow()
  })

  it('refreshes the token once on 401 and retries', async () => {
    const { api, auth, calls } = client((url, init) => (init.headers.Authorization === 'Bearer t1' ? json(401, { code: 401, message: '令牌已过期' }) : image()))
    const media = new MediaCache(api, fakeUrls())
    await media.url('/api/v1/evidence/e1/thumbnail')
    expect(auth.invalidate).toHaveBeenCalledWith('t1')
    expect(calls.map((c) => c.init.headers.Authorization)).toEqual(['Bearer t1', 'Bearer t2'])
  })

  it('forgets a failed load so it can be retried, with the API message', async () => {
    let fail = true
    const { api } = client(() => (fail ? json(403, { code: 403, status: 'Forbidden', message: '原件仅限本表检查人员、本部门审核人和系统管理员' }) : image()))
    const media = new MediaCache(api, fakeUrls())
    await expect(media.url('/api/v1/evidence/e1/content')).rejects.toMatchObject({ status: 403, message: '原件仅限本表检查人员、本部门审核人和系统管理员' })
    fail = false
    await expect(media.url('/api/v1/evidence/e1/content')).resolves.toMatch(/^blob:/)
  })

  it('plays a video from the presigned URL the API redirected to, without buffering it', async () => {
    const cancel = vi.fn(async () => {})
    const redirected = { ok: true, status: 200, redirected: true, url: 'https://s3.example.com/bucket/sha256/ab?X-Amz-Signature=abc', body: { cancel }, blob: vi.fn() }
    const { api } = client(() => redirected)
    const urls = fakeUrls()
    const media = new MediaCache(api, urls)
    const src = await media.streamUrl('/api/v1/evidence/e9/content', { origin: 'https://shuangsui.example.gov.cn' })
    expect(src).toBe(redirected.url)
    expect(cancel).toHaveBeenCalled()
    expect(redirected.blob).not.toHaveBeenCalled()
    expect(urls.createObjectURL).not.toHaveBeenCalled()
  })

  it('plays a video served by the API itself from a blob URL, released when the player closes', async () => {
    const { api } = client(() => new Response(new Uint8Array(16), { status: 200, headers: { 'Content-Type': 'video/mp4' } }))
    const urls = fakeUrls()
    const media = new MediaCache(api, urls)
    const src = await media.streamUrl('/api/v1/evidence/e9/content', { origin: 'http://localhost' })
    expect(src).toMatch(/^blob:/)
    media.release(src)
    expect(urls.revokeObjectURL).toHaveBeenCalledWith(src)
  })

  it('downloads an original under its own name and revokes the object URL', async () => {
    vi.useFakeTimers()
    try {
      const { api, calls } = client(() => image())
      const urls = fakeUrls()
      const a = { click: vi.fn(), remove: vi.fn() }
      const doc = { createElement: vi.fn(() => a), body: { appendChild: vi.fn() } }
      const size = await downloadOriginal(api, { id: 'e1', filename: 'IMG_0001.jpg', links: { content: '/api/v1/evidence/e1/content' } }, { doc, urlApi: urls })
      expect(size).toBe(4)
      expect(calls[0].init.headers.Authorization).toBe('Bearer t1')
      expect(a.download).toBe('IMG_0001.jpg')
      expect(a.href).toMatch(/^blob:/)
      expect(a.click).toHaveBeenCalled()
      vi.runAllTimers()
      expect(urls.live.size).toBe(0)
      await expect(downloadOriginal(api, { id: 'e2', links: { content: null } }, { doc, urlApi: urls })).rejects.toThrow('原件不可下载')
    } finally {
      vi.useRealTimers()
    }
  })
})

// ------------------------------------------------------------------------------------------- online only

describe('review data stays online', () => {
  it('no review module touches Dexie, the outbox or the sync engine', () => {
    const files = [join('src', 'api', 'review.js'), join('src', 'store', 'review.js'), ...readdirSync(join('src', 'views', 'review')).map((f) => join('src', 'views', 'review', f))]
    for (const f of files) {
      const src = readFileSync(f, 'utf8')
      expect(src, f).not.toMatch(/from ['"](dexie|\.\.\/(\.\.\/)?(sync|db)\/)/)
      expect(src, f).not.toMatch(/currentDb\(|outbox\.js|db\.outbox/)
    }
  })
})
