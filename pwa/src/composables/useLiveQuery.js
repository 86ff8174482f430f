/** Dexie liveQuery as a Vue ref: re-runs when the tables it read change (in this tab or another). */
import { liveQuery } from 'dexie'
import { onScopeDispose, shallowRef, watch } from 'vue'

export function useLiveQuery(querier, deps = () => null, initial = undefined) {
  const value = shallowRef(initial)
  const error = shallowRef(null)
  let sub = null
  const stop = watch(
    deps,
    () => {
      sub?.unsubscribe()
      sub = liveQuery(querier).subscribe({
        next: (v) => {
          value.value = v
          error.value = null
        },
        error: (e) => {
          error.value = e
        },
      })
    },
    { immediate: true },
  )
  onScopeDispose(() => {
    stop()
    sub?.unsubscribe()
  })
  return { value, error }
}
