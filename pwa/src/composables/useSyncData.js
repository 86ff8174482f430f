/** Live views of the signed-in user's local data for screens (read-only; writes go through store/). */
import { computed } from 'vue'
import { useLiveQuery } from './useLiveQuery.js'
import { currentDb, session } from '../store/session.js'
import { unsyncedCount, unsyncedOps } from '../sync/outbox.js'
import { listTaskRows, loadFormView } from '../db/forms.js'

const userKey = () => session.user?.id

export function useUnsyncedCount() {
  const { value } = useLiveQuery(() => (session.user ? unsyncedCount(currentDb()) : 0), userKey, 0)
  return value
}

export function useTaskRows() {
  return useLiveQuery(() => (session.user ? listTaskRows(currentDb(), { inspectorId: session.user.inspector_id }) : []), userKey, null)
}

export function useFormView(formId) {
  return useLiveQuery(
    () => (session.user ? loadFormView(currentDb(), formId.value, { inspectorId: session.user.inspector_id }) : null),
    () => [userKey(), formId.value],
    undefined,
  )
}

export function useOutboxList() {
  return useLiveQuery(
    async () => {
      if (!session.user) return { ops: [], evidence: [], forms: new Map() }
      const db = currentDb()
      const [ops, evidence, forms] = await Promise.all([
        unsyncedOps(db),
        db.evidence.filter((e) => e.uploadState !== 'received').toArray(),
        db.forms.toArray(),
      ])
      const recent = await db.outbox.where('state').equals('synced').reverse().sortBy('updatedAt')
      return { ops, evidence, recent: recent.slice(0, 20), forms: new Map(forms.map((f) => [f.id, f])) }
    },
    userKey,
    null,
  )
}

export function useLastPull() {
  return useLiveQuery(() => (session.user ? currentDb().getKv('lastPullAt', null) : null), userKey, null)
}

export const isOnline = computed(() => session.online)
