/** Routes under /app/; every screen is its own chunk, loaded on first visit (and precached for offline). */
import { createRouter, createWebHistory } from 'vue-router'
import { isSignedIn } from './store/session.js'

const routes = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true, title: '登录' } },
  { path: '/', name: 'tasks', component: () => import('./views/TasksView.vue'), meta: { tab: true, title: '我的任务' } },
  { path: '/forms/:id', name: 'form', component: () => import('./views/FormView.vue'), props: true, meta: { title: '检查表' } },
  { path: '/sync', name: 'sync', component: () => import('./views/SyncView.vue'), meta: { tab: true, title: '同步' } },
  { path: '/me', name: 'me', component: () => import('./views/MeView.vue'), meta: { tab: true, title: '我的' } },
  { path: '/:pathMatch(.*)*', redirect: '/' },
]

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: (to, from, saved) => saved ?? { top: 0 },
})

router.beforeEach((to) => {
  if (!to.meta.public && !isSignedIn()) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.name === 'login' && isSignedIn() && !to.query.relogin) return { name: 'tasks' }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · 双随机检查` : '双随机检查'
})
