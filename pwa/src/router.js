/** Routes under /app/; every screen is its own chunk, loaded on first visit (and precached for offline). */
import { createRouter, createWebHistory } from 'vue-router'
import { isSignedIn, session } from './store/session.js'
import { hasAnyRole, isInspector, canReview, DECISION_ROLES, REVIEW_ROLES } from './views/review/roles.js'

const routes = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true, title: '登录' } },
  { path: '/', name: 'tasks', component: () => import('./views/TasksView.vue'), meta: { tab: true, title: '我的任务' } },
  { path: '/forms/:id', name: 'form', component: () => import('./views/FormView.vue'), props: true, meta: { title: '检查表' } },
  { path: '/sync', name: 'sync', component: () => import('./views/SyncView.vue'), meta: { tab: true, title: '同步' } },
  { path: '/me', name: 'me', component: () => import('./views/MeView.vue'), meta: { tab: true, title: '我的' } },
  // Review console (supervisor/approver/admin): online-only, its own chunks; queue | detail side by side ≥ 1024 px.
  {
    path: '/review',
    component: () => import('./views/review/ReviewConsole.vue'),
    meta: { roles: REVIEW_ROLES, tab: true, title: '审核' },
    children: [
      { path: '', name: 'review', component: () => import('./views/review/ReviewPlaceholder.vue'), meta: { title: '审核' } },
      { path: 'forms/:id', name: 'review-form', component: () => import('./views/review/ReviewFormView.vue'), props: true, meta: { tab: false, title: '审核检查表' } },
    ],
  },
  { path: '/review/decisions', name: 'review-decisions', component: () => import('./views/review/ReviewDecisionsView.vue'), meta: { roles: DECISION_ROLES, tab: true, title: '审批' } },
  { path: '/:pathMatch(.*)*', redirect: '/' },
]

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: (to, from, saved) => saved ?? { top: 0 },
})

// A reviewer without the inspector role starts in the review console; everyone else in 我的任务.
const home = () => (!isInspector(session.user) && canReview(session.user) ? 'review' : 'tasks')

router.beforeEach((to) => {
  if (!to.meta.public && !isSignedIn()) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.name === 'login' && isSignedIn() && !to.query.relogin) return { name: home() }
  const roles = to.matched.find((r) => r.meta.roles)?.meta.roles
  if (roles && !hasAnyRole(session.user, roles)) return { name: home() }
  if (to.name === 'tasks' && !isInspector(session.user) && canReview(session.user)) return { name: 'review' }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · 双随机检查` : '双随机检查'
})
