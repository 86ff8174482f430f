/** Boots the inspector app: restore the last session from IndexedDB (no network needed), then mount. */
import { createApp } from 'vue'
import '@vant/touch-emulator'
import 'vant/es/toast/style'
import 'vant/es/dialog/style'
import 'vant/es/notify/style'
import 'vant/es/image-preview/style'
import './styles.css'
import App from './App.vue'
import { router } from './router.js'
import { restoreSession } from './store/session.js'

restoreSession().finally(() => {
  // A task of its own, not a continuation of the IndexedDB work: shorter tasks while a slow phone starts up.
  setTimeout(() => createApp(App).use(router).mount('#app'))
})
