/** Who may open the review console (审核) and the head's decisions (审批); tiny on purpose: the router imports it. */

export const REVIEW_ROLES = Object.freeze(['supervisor', 'approver', 'admin'])
export const DECISION_ROLES = Object.freeze(['approver', 'admin'])

export function hasAnyRole(user, roles) {
  const mine = user?.roles ?? []
  return roles.some((r) => mine.includes(r))
}

export const canReview = (user) => hasAnyRole(user, REVIEW_ROLES)
export const canSeeDecisions = (user) => hasAnyRole(user, DECISION_ROLES)
/** Only the head (局领导 approver) decides withholds and credit listings; an admin reads them. */
export const canDecide = (user) => hasAnyRole(user, ['approver'])
/** Inspector screens (tasks, sync) make sense for inspectors; older remembered users carry no roles. */
export const isInspector = (user) => !user?.roles?.length || user.roles.includes('inspector')
