// Builders for pulled forms and fresh per-test databases.
import { UserDb } from '../../src/db/user-db.js'

let n = 0
export function freshDb(opts) {
  n += 1
  return new UserDb(`test-${Date.now()}-${n}-${Math.random().toString(16).slice(2)}`, opts)
}

export function makeForm(overrides = {}) {
  const id = overrides.id ?? crypto.randomUUID()
  return {
    id,
    version: 1,
    status: 'dispatched',
    task: { id: 't1', name: '2025 年度食品经营者抽查', code: 'SJ-2025-001' },
    deadline_start: '2025-06-02',
    deadline_complete: '2025-06-30',
    working_days_left: 10,
    enterprise: { id: 'e1', uscc: '91350100MA2XXXXX0X', name: '福州某某食品有限公司', address: '福州市鼓楼区某路 1 号', legal_representative: '王五', industry: '食品零售', region_code: '350102', lat: 26.08, lng: 119.3 },
    team: [
      { inspector_id: 'i-me', name: '张三', department: '市场监管所', certificate_no: 'ZF001', is_lead: true },
      { inspector_id: 'i-co', name: '李四', department: '市场监管所', certificate_no: 'ZF002', is_lead: false },
    ],
    checkpoints: [
      { key: 'c1', question: '是否公示营业执照', legal_basis: '《食品安全法》第...条', department: '市场监管', item_name: '食品经营', answer_kind: 'pass_fail', options: [], photo_required: true },
      { key: 'c2', question: '从业人员数量', legal_basis: '', department: '市场监管', item_name: '食品经营', answer_kind: 'number', options: [], photo_required: false },
    ],
    answers: {},
    checkin: null,
    signatures: [],
    evidence: [],
    confirmations: [],
    proposed_result: null,
    review_comments: [],
    previous_results: [],
    ...overrides,
  }
}

/** Deterministic clock for backoff tests. */
export function clock(start = 1_700_000_000_000) {
  let t = start
  const now = () => t
  now.advance = (ms) => {
    t += ms
  }
  return now
}
