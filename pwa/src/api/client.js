/** Fetch wrapper for /api/v1: bearer token, one quiet refresh on 401, and the contract's single error shape. */

export class ApiError extends Error {
  constructor({ status = 0, code, message, errors = null, body = null, network = false, authExpired = false }) {
    super(message || (network ? '网络不可用' : `请求失败（${status}）`))
    this.name = 'ApiError'
    this.status = status
    this.code = code ?? status
    this.errors = errors
    this.body = body
    this.network = network
    this.authExpired = authExpired
  }

  /** Worth retrying later with the same request: offline, timeouts, overload, server faults. */
  get transient() {
    return this.network || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

export class AuthExpiredError extends ApiError {
  constructor(message = '登录已过期，请重新登录') {
    super({ status: 401, message, authExpired: true })
    this.name = 'AuthExpiredError'
  }
}

async function parseBody(res) {
  if (res.status === 204) return null
  const text = await res.text()
  if (!text) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * `auth` is the token manager (getAccessToken / invalidate); omitted for the login call.
 * `fetchImpl` is injectable so the outbox tests run against a scripted server.
 */
export function createApiClient({ fetchImpl = (...a) => globalThis.fetch(...a), baseUrl = '', auth = null, timeoutMs = 30_000 } = {}) {
  async function send(method, path, { json, query, authed, signal }) {
    const url = new URL(baseUrl + path, globalThis.location?.origin ?? 'http://localhost')
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v)
    const headers = { Accept: 'application/json' }
    let token = null
    if (authed) {
      token = await auth.getAccessToken()
      headers.Authorization = `Bearer ${token}`
    }
    if (json !== undefined) headers['Content-Type'] = 'application/json'
    const ctrl = new AbortController()
    const timer = setTimeout(() => ctrl.abort(), timeoutMs)
    signal?.addEventListener('abort', () => ctrl.abort())
    let res
    try {
      res = await fetchImpl(baseUrl ? url.toString() : url.pathname + url.search, {
        method,
        headers,
        body: json !== undefined ? JSON.stringify(json) : undefined,
        signal: ctrl.signal,
        credentials: 'same-origin',
        cache: 'no-store',
      })
    } catch (e) {
      throw new ApiError({ network: true, message: e?.name === 'AbortError' ? '请求超时' : '网络不可用' })
    } finally {
      clearTimeout(timer)
    }
    return { res, token }
  }

  /** The successful Response itself (body unread: blobs, headers such as X-Pagination); errors as in request(). */
  async function raw(method, path, { json, query, authed = true, signal } = {}) {
    let { res, token } = await send(method, path, { json, query, authed, signal })
    if (res.status === 401 && authed) {
      auth.invalidate(token)
      ;({ res } = await send(method, path, { json, query, authed, signal }))
      if (res.status === 401) throw new AuthExpiredError()
    }
    if (!res.ok) {
      const body = await parseBody(res)
      const shaped = body && typeof body === 'object' ? body : {}
      throw new ApiError({
        status: res.status,
        code: shaped.code,
        message: shaped.message || `请求失败（${res.status}）`,
        errors: shaped.errors ?? null,
        body,
      })
    }
    return res
  }

  async function request(method, path, opts = {}) {
    return parseBody(await raw(method, path, opts))
  }

  return {
    request,
    raw,
    get: (path, opts) => request('GET', path, opts),
    post: (path, json, opts) => request('POST', path, { ...opts, json }),
  }
}
