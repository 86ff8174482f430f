/** Review screens on a desktop carry their own nav in the top bar, so the phone tab bar is hidden there (body class). */
import { onMounted, onUnmounted, watch } from 'vue'
import { session } from '../../store/session.js'

let users = 0

export function useConsoleChrome(onOnline) {
  onMounted(() => {
    users++
    document.body.classList.add('review-console')
  })
  onUnmounted(() => {
    if (--users === 0) document.body.classList.remove('review-console')
  })
  if (onOnline) watch(() => session.online, (now, before) => now && !before && onOnline())
}
