"""Supervisor review of submitted 一企一表 forms: the queue, everything needed to judge a form, the actions.

State machine (only the lead department's supervisor acts; every action is audited on the form):

    submitted --approve--------------> approved   (the result is entered with it: category, items, follow-ups)
    submitted --return / more evidence-> returned   (checkpoint ReviewComments; version bump → next pull)
    returned  --inspector resubmits (sync push "submit")--> submitted   (back in the queue, same deadline)

The entry/publication deadline runs from the first submission (the inspection's completion), so returning a
form never buys time. Comments of an earlier round are marked resolved when the supervisor acts again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from ..errors import Conflict, Invalid, NotFound
from ..models.accounts import User
from ..models.audit import AuditEntry
from ..models.base import utcnow
from ..models.directory import Department, Enterprise, Inspector
from ..models.fieldwork import Evidence, FormAnswer, FormCheckin, FormNote, FormSignature
from ..models.forms import FORM_STATUS_LABELS, FormAssignment, InspectionForm, ReviewComment
from ..models.results import CATEGORY_BY_CODE, FollowUp, InspectionResult
from . import audit, result_scope
from . import evidence as evidence_service
from . import results as results_service

FORM_NOT_FOUND = "检查表不存在"
COMMENT_KINDS = ("revise", "more_evidence", "note")
REVIEWABLE = ("submitted",)
COMMENTABLE = ("submitted", "returned", "approved")
FAR_FROM_ENTERPRISE_M = (
    500  # GPS further than this from the registered coordinates is flagged for the reviewer
)

ACTION_LABELS = {
    "draw.form_adjusted": "调整检查表",
    "draw.inspector_replaced": "调整执法人员",
    "form.answer": "填写检查结论",
    "form.note": "添加现场记录",
    "form.checkin": "现场签到",
    "form.signature": "签名",
    "form.confirm": "检查人员确认",
    "form.propose_result": "拟定检查结果",
    "form.submit": "提交审核",
    "form.close": "办结",
    "form.reopen": "重新开启",
    "evidence.declared": "登记证据",
    "evidence.received": "证据上传完成并通过校验",
    "evidence.rejected": "证据被拒收",
    "evidence.checksum_mismatch": "证据校验和不符",
    "evidence.verify": "复核证据哈希",
    "evidence.read_original": "查看证据原件",
    "review.approve": "审核通过",
    "review.return": "退回修改",
    "review.request_evidence": "要求补充证据",
    "review.comment": "审核意见",
    "result.enter": "录入检查结果",
    "result.amend": "修改检查结果",
    "result.publish": "公示检查结果",
    "result.withhold_request": "申请不予公示",
    "result.withhold_approve": "批准不予公示（存档）",
    "result.withhold_reject": "驳回不予公示申请",
    "credit.record": "记入信用记录",
    "follow_up.open": "登记后续处置",
    "follow_up.update": "更新后续处置",
    "follow_up.close": "后续处置办结",
    "follow_up.reopen": "重新开启后续处置",
}


# --------------------------------------------------------------------------------------------------- access


def form_for_review(session: Session, actor: User, form_id: uuid.UUID) -> InspectionForm:
    """The form if the actor's department leads or takes part in it (admins: any); 404 otherwise."""
    form = session.get(InspectionForm, form_id)
    if form is None:
        raise NotFound(FORM_NOT_FOUND)
    result_scope.require_read(actor, form.lead_department_id, form.department_ids, message=FORM_NOT_FOUND)
    return form


def can_act(actor: User, form: InspectionForm) -> bool:
    return result_scope.is_lead_staff(actor, form.lead_department_id, result_scope.REVIEW_ROLES)


def _require_reviewer(actor: User, form: InspectionForm) -> None:
    result_scope.require_lead(
        actor,
        form.lead_department_id,
        form.department_ids,
        result_scope.REVIEW_ROLES,
        what="审核检查表",
        message=FORM_NOT_FOUND,
    )


# ---------------------------------------------------------------------------------------------------- queue


def queue(
    *,
    session: Session,
    actor: User,
    status: str = "submitted",
    department_id: uuid.UUID | None = None,
    page: int = 1,
    page_size: int = 50,
    today: date | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The lead department's forms awaiting review: nearest entry deadline (= oldest submission) first."""
    today = today or results_service.today_china()
    if status not in ("submitted", "returned", "approved"):
        raise Invalid("状态无效", errors={"status": ["可选值：submitted, returned, approved"]})
    stmt = select(InspectionForm).where(InspectionForm.status == status)
    cond = result_scope.lead_department_filter(actor, InspectionForm.lead_department_id, department_id)
    if cond is not None:
        stmt = stmt.where(cond)
    forms = list(session.execute(stmt).scalars())
    firsts = results_service.first_submissions(session, forms)
    overrides = results_service.load_overrides(session)
    deadlines: dict[uuid.UUID, tuple[date | None, bool]] = {}
    for form in forms:
        at = firsts.get(form.id)
        deadlines[form.id] = (
            results_service.results_deadline(session, results_service.china_date(at), overrides=overrides)
            if at
            else (None, False)
        )
    far = date.max

    def order(form: InspectionForm) -> tuple[Any, ...]:
        first = firsts.get(form.id)
        return (deadlines[form.id][0] or far, first or utcnow(), form.submitted_at or utcnow(), form.code)

    forms.sort(key=order)
    total = len(forms)
    page_forms = forms[(page - 1) * page_size : page * page_size]
    return _queue_views(session, page_forms, firsts, deadlines, overrides, today), total


def _queue_views(
    session: Session,
    forms: list[InspectionForm],
    firsts: Mapping[uuid.UUID, datetime],
    deadlines: Mapping[uuid.UUID, tuple[date | None, bool]],
    overrides: Mapping[date, bool],
    today: date,
) -> list[dict[str, Any]]:
    if not forms:
        return []
    ids = [f.id for f in forms]
    ents = _by_id(session, Enterprise, {f.enterprise_id for f in forms})
    depts = _by_id(session, Department, {f.lead_department_id for f in forms})
    tasks = _tasks(session, {f.task_id for f in forms if f.task_id})
    evidence_counts: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for form_id, status in session.execute(
        select(Evidence.form_id, Evidence.status).where(Evidence.form_id.in_(ids))  # type: ignore[attr-defined]
    ).all():
        evidence_counts[form_id][status] += 1
    open_comments: dict[uuid.UUID, int] = defaultdict(int)
    for (form_id,) in session.execute(
        select(ReviewComment.form_id).where(
            ReviewComment.form_id.in_(ids),  # type: ignore[attr-defined]
            ReviewComment.resolved_at.is_(None),
        )  # type: ignore[union-attr]
    ).all():
        open_comments[form_id] += 1
    rounds: dict[str, int] = defaultdict(int)
    for (entity_id,) in session.execute(
        select(AuditEntry.entity_id).where(
            AuditEntry.entity == "inspection_form",
            AuditEntry.action == "form.submit",
            AuditEntry.entity_id.in_([str(i) for i in ids]),
        )  # type: ignore[attr-defined]
    ).all():
        rounds[entity_id] += 1
    team = _team_names(session, ids)
    out = []
    for form in forms:
        ent = ents.get(form.enterprise_id)
        dept = depts.get(form.lead_department_id)
        task = tasks.get(form.task_id) if form.task_id else None
        deadline, estimated = deadlines.get(form.id, (None, False))
        proposed = form.proposed_result or {}
        out.append(
            {
                "id": form.id,
                "code": form.code,
                "status": form.status,
                "status_label": FORM_STATUS_LABELS.get(form.status, form.status),
                "version": form.version,
                "enterprise": {
                    "id": form.enterprise_id,
                    "name": ent.name if ent else "",
                    "uscc": ent.uscc if ent else "",
                    "address": (ent.business_address or ent.registered_address) if ent else "",
                },
                "department": {"id": form.lead_department_id, "name": dept.name if dept else ""},
                "task": task,
                "team": team.get(form.id, []),
                "inspection_date": form.inspection_date,
                "deadline_complete": form.deadline_complete,
                "submitted_at": form.submitted_at,
                "first_submitted_at": firsts.get(form.id),
                "submission_round": rounds.get(str(form.id), 0),
                "entry_deadline": deadline,
                "deadline_estimated": estimated,
                "workdays_left": results_service.workdays_left(today, deadline, overrides),
                "overdue": deadline is not None and deadline < today,
                "proposed_result": results_service.category_view(_proposed_code(proposed.get("category"))),
                "evidence": {
                    "total": sum(evidence_counts[form.id].values()),
                    **{k: evidence_counts[form.id].get(k, 0) for k in ("declared", "received", "rejected")},
                },
                "open_comments": open_comments.get(form.id, 0),
            }
        )
    return out


def _by_id(session: Session, model: Any, ids: set[Any]) -> dict[Any, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.execute(select(model).where(model.id.in_(ids))).scalars()}


def _tasks(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Task and plan names (planning is another module: read defensively, it may not be installed)."""
    if not ids:
        return {}
    try:
        from ..models.planning import AnnualPlan, InspectionTask
    except ImportError:  # pragma: no cover
        return {}
    rows = session.execute(
        select(InspectionTask, AnnualPlan)
        .join(AnnualPlan, AnnualPlan.id == InspectionTask.plan_id)
        .where(InspectionTask.id.in_(ids))  # type: ignore[attr-defined]
    ).all()
    return {
        t.id: {
            "id": t.id,
            "code": t.code,
            "name": t.name,
            "plan_id": p.id,
            "plan_name": p.name,
            "plan_year": p.year,
        }
        for t, p in rows
    }


def _team_names(session: Session, form_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    out: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for a, insp in session.execute(
        select(FormAssignment, Inspector)
        .join(Inspector, Inspector.id == FormAssignment.inspector_id)
        .where(FormAssignment.form_id.in_(form_ids), FormAssignment.active == True)  # type: ignore[attr-defined]  # noqa: E712
        .order_by(FormAssignment.is_lead.desc(), Inspector.name)  # type: ignore[attr-defined]
    ).all():
        out[a.form_id].append({"inspector_id": insp.id, "name": insp.name, "is_lead": a.is_lead})
    return out


def _proposed_code(value: Any) -> str | None:
    if not value:
        return None
    try:
        return results_service.normalize_category(str(value))
    except Invalid:
        return None


# --------------------------------------------------------------------------------------------------- detail


def detail(*, session: Session, actor: User, form_id: uuid.UUID, today: date | None = None) -> dict[str, Any]:
    """Everything a reviewer needs on one screen: answers, check-ins, signatures, evidence with provenance,
    the inspector's proposal, review comments, the result (once entered) and the audit timeline."""
    today = today or results_service.today_china()
    form = form_for_review(session, actor, form_id)
    ent = session.get(Enterprise, form.enterprise_id)
    snap = form.enterprise_snapshot or {}
    overrides = results_service.load_overrides(session)
    firsts = results_service.first_submissions(session, [form])
    first = firsts.get(form.id)
    deadline, estimated = (
        results_service.results_deadline(session, results_service.china_date(first), overrides=overrides)
        if first
        else (None, False)
    )
    dept_ids = {form.lead_department_id, *(_uuid(d) for d in form.department_ids or [])}
    depts = _by_id(session, Department, {d for d in dept_ids if d})
    assignments = list(
        session.execute(
            select(FormAssignment)
            .where(FormAssignment.form_id == form.id)
            .order_by(FormAssignment.assigned_at)  # type: ignore[arg-type]
        ).scalars()
    )
    answers = {
        a.checkpoint_key: a
        for a in session.execute(select(FormAnswer).where(FormAnswer.form_id == form.id)).scalars()
    }
    notes = list(
        session.execute(
            select(FormNote).where(FormNote.form_id == form.id).order_by(FormNote.received_at)
        ).scalars()
    )  # type: ignore[arg-type]
    checkins = list(
        session.execute(
            select(FormCheckin).where(FormCheckin.form_id == form.id).order_by(FormCheckin.at)
        ).scalars()
    )  # type: ignore[arg-type]
    signatures = list(
        session.execute(
            select(FormSignature).where(FormSignature.form_id == form.id).order_by(FormSignature.received_at)  # type: ignore[arg-type]
        ).scalars()
    )
    evidence = list(
        session.execute(
            select(Evidence).where(Evidence.form_id == form.id).order_by(Evidence.captured_at)
        ).scalars()
    )  # type: ignore[arg-type]
    comments = list(
        session.execute(
            select(ReviewComment).where(ReviewComment.form_id == form.id).order_by(ReviewComment.created_at)  # type: ignore[arg-type]
        ).scalars()
    )
    inspector_ids = (
        {a.inspector_id for a in assignments}
        | {a.inspector_id for a in answers.values()}
        | {n.inspector_id for n in notes}
        | {c.inspector_id for c in checkins}
        | {s.inspector_id for s in signatures}
        | {e.inspector_id for e in evidence}
    )
    inspectors = _by_id(session, Inspector, inspector_ids)
    users = _by_id(session, User, {c.author_id for c in comments})
    confirmations = _confirmations(session, form)
    ent_lat, ent_lng = _coords(ent, snap)
    first_fix = next((c for c in checkins if c.lat is not None and c.lng is not None), None)

    def insp_name(i: uuid.UUID | None) -> str:
        return inspectors[i].name if i in inspectors else ""

    evidence_by_cp: dict[str | None, list[str]] = defaultdict(list)
    for e in evidence:
        evidence_by_cp[e.checkpoint_key].append(str(e.id))
    notes_by_cp: dict[str | None, list[FormNote]] = defaultdict(list)
    for n in notes:
        notes_by_cp[n.checkpoint_key].append(n)
    comments_by_cp: dict[str | None, list[ReviewComment]] = defaultdict(list)
    for c in comments:
        comments_by_cp[c.checkpoint_key].append(c)

    def comment_view(c: ReviewComment) -> dict[str, Any]:
        return {
            "id": c.id,
            "checkpoint_key": c.checkpoint_key,
            "kind": c.kind,
            "comment": c.comment,
            "author": {
                "id": c.author_id,
                "name": users[c.author_id].display_name if c.author_id in users else "",
            },
            "created_at": c.created_at,
            "resolved_at": c.resolved_at,
        }

    warnings: list[dict[str, Any]] = []
    checkpoint_views = []
    for cp in form.checkpoints or []:
        key = cp.get("key")
        answer = answers.get(key)
        photos = [
            e for e in evidence if e.checkpoint_key == key and e.kind == "photo" and e.status != "rejected"
        ]
        missing_photo = (
            bool(cp.get("photo_required")) and not photos and not (answer and answer.value == "na")
        )
        if answer is None or answer.value is None:
            warnings.append(
                {
                    "code": "unanswered",
                    "checkpoint_key": key,
                    "message": f"检查要点未作答：{cp.get('question')}",
                }
            )
        if missing_photo:
            warnings.append(
                {
                    "code": "missing_photo",
                    "checkpoint_key": key,
                    "message": f"要求拍照但没有照片：{cp.get('question')}",
                }
            )
        checkpoint_views.append(
            {
                "key": key,
                "question": cp.get("question", ""),
                "legal_basis": cp.get("legal_basis") or cp.get("legal_clause") or "",
                "item_code": cp.get("item_code") or "",
                "item_name": cp.get("item_name") or "",
                "item_version_id": cp.get("item_version_id"),
                "department": cp.get("department") or "",
                "answer_kind": cp.get("answer_kind") or "pass_fail",
                "options": cp.get("options") or [],
                "photo_required": bool(cp.get("photo_required")),
                "answer": None
                if answer is None
                else {
                    "value": answer.value,
                    "note": answer.note,
                    "inspector_id": answer.inspector_id,
                    "inspector_name": insp_name(answer.inspector_id),
                    "device_id": answer.device_id,
                    "answered_at": answer.answered_at,
                    "received_at": answer.received_at,
                    "version": answer.version,
                },
                "notes": [
                    {
                        "id": n.id,
                        "text": n.text,
                        "inspector_name": insp_name(n.inspector_id),
                        "device_id": n.device_id,
                        "received_at": n.received_at,
                    }
                    for n in notes_by_cp.get(key, [])
                ],
                "evidence_ids": evidence_by_cp.get(key, []),
                "missing_photo": missing_photo,
                "comments": [comment_view(c) for c in comments_by_cp.get(key, [])],
            }
        )

    evidence_views = []
    for e in evidence:
        view = _evidence_view(e, inspectors.get(e.inspector_id), ent_lat, ent_lng, first_fix)
        evidence_views.append(view)
        prov = view["provenance"]
        if e.status == "declared":
            warnings.append(
                {"code": "evidence_pending", "evidence_id": str(e.id), "message": "证据文件尚未上传完成"}
            )
        if e.status == "rejected":
            warnings.append(
                {
                    "code": "evidence_rejected",
                    "evidence_id": str(e.id),
                    "message": f"证据被拒收：{e.rejected_reason or ''}",
                }
            )
        dist = prov["distance_to_enterprise_m"]
        if dist is not None and dist > FAR_FROM_ENTERPRISE_M:
            warnings.append(
                {
                    "code": "far_from_enterprise",
                    "evidence_id": str(e.id),
                    "message": f"拍摄位置距企业登记地址约 {round(dist)} 米",
                }
            )
    checkin_views = []
    for c in checkins:
        dist = None
        if c.lat is not None and c.lng is not None and ent_lat is not None and ent_lng is not None:
            dist = round(evidence_service.distance_m(c.lat, c.lng, ent_lat, ent_lng), 1)
            if dist > FAR_FROM_ENTERPRISE_M:
                warnings.append(
                    {"code": "checkin_far", "message": f"签到位置距企业登记地址约 {round(dist)} 米"}
                )
        checkin_views.append(
            {
                "at": c.at,
                "received_at": c.received_at,
                "lat": c.lat,
                "lng": c.lng,
                "accuracy_m": c.accuracy_m,
                "no_fix_reason": c.no_fix_reason,
                "inspector_id": c.inspector_id,
                "inspector_name": insp_name(c.inspector_id),
                "device_id": c.device_id,
                "distance_to_enterprise_m": dist,
            }
        )
    if not checkins:
        warnings.append({"code": "no_checkin", "message": "没有现场签到记录"})
    latest_sigs: dict[tuple[str, str], FormSignature] = {}
    for s in signatures:
        latest_sigs[(s.signer, s.name)] = s
    if not any(s.signer == "enterprise_rep" for s in signatures):
        refusal = next((n.text for n in notes if n.text.startswith("企业代表拒绝签字")), None)
        warnings.append(
            {
                "code": "no_enterprise_signature",
                "message": refusal or "没有企业代表签名，也没有拒绝签字的记录",
            }
        )
    result = results_service.result_for_form(session, form.id)
    proposed = form.proposed_result or {}
    proposed_code = _proposed_code(proposed.get("category"))
    if proposed and proposed_code is None:
        warnings.append(
            {"code": "proposed_not_standard", "message": f"拟定结果不是标准类别：{proposed.get('category')}"}
        )
    acting = can_act(actor, form)
    return {
        "form": {
            "id": form.id,
            "code": form.code,
            "status": form.status,
            "status_label": FORM_STATUS_LABELS.get(form.status, form.status),
            "version": form.version,
            "task": _tasks(session, {form.task_id}).get(form.task_id) if form.task_id else None,
            "lead_department": {
                "id": form.lead_department_id,
                "name": depts[form.lead_department_id].name if form.lead_department_id in depts else "",
            },
            "departments": [{"id": d.id, "name": d.name} for d in depts.values()],
            "inspection_date": form.inspection_date,
            "deadline_start": form.deadline_start,
            "deadline_complete": form.deadline_complete,
            "dispatched_at": form.dispatched_at,
            "submitted_at": form.submitted_at,
            "first_submitted_at": first,
            "submission_round": results_service.submission_count(session, form.id),
            "entry_deadline": deadline,
            "deadline_estimated": estimated,
            "workdays_left": results_service.workdays_left(today, deadline, overrides),
        },
        "enterprise": {
            "id": form.enterprise_id,
            "name": (ent.name if ent else snap.get("name")) or "",
            "uscc": (ent.uscc if ent else snap.get("uscc")) or "",
            "entity_type": (ent.entity_type if ent else snap.get("entity_type")) or "",
            "legal_representative": (ent.legal_representative if ent else snap.get("legal_representative"))
            or "",
            "phone": (ent.phone if ent else snap.get("phone")) or "",
            "registered_address": (ent.registered_address if ent else snap.get("registered_address")) or "",
            "business_address": (ent.business_address if ent else snap.get("business_address")) or "",
            "region_code": (ent.region_code if ent else snap.get("region_code")) or "",
            "industry_code": (ent.industry_code if ent else snap.get("industry_code")) or "",
            "status": (ent.status if ent else snap.get("status")) or "",
            "lat": ent_lat,
            "lng": ent_lng,
            "risk_level": ent.risk_level if ent else None,
            "abnormal_list": ent.abnormal_list if ent else None,
            "serious_violation": ent.serious_violation if ent else None,
            "snapshot": snap,
        },
        "team": [
            {
                "inspector_id": a.inspector_id,
                "name": insp_name(a.inspector_id),
                "certificate_no": inspectors[a.inspector_id].certificate_no
                if a.inspector_id in inspectors
                else "",
                "department": depts[a.department_id].name if a.department_id in depts else "",
                "is_lead": a.is_lead,
                "active": a.active,
                "replaced_reason": a.replaced_reason,
                "confirmed": a.inspector_id in confirmations,
            }
            for a in assignments
        ],
        "checkpoints": checkpoint_views,
        "notes": [
            {
                "id": n.id,
                "text": n.text,
                "inspector_name": insp_name(n.inspector_id),
                "device_id": n.device_id,
                "received_at": n.received_at,
            }
            for n in notes_by_cp.get(None, [])
        ],
        "checkins": checkin_views,
        "signatures": [
            {
                "id": s.id,
                "signer": s.signer,
                "name": s.name,
                "signed_at": s.signed_at,
                "received_at": s.received_at,
                "sha256": s.sha256,
                "inspector_id": s.inspector_id,
                "inspector_name": insp_name(s.inspector_id),
                "device_id": s.device_id,
                "image_url": f"/api/v1/review/forms/{form.id}/signatures/{s.id}/image",
            }
            for s in latest_sigs.values()
        ],
        "evidence": evidence_views,
        "proposed_result": None
        if not proposed
        else {
            "category": results_service.category_view(proposed_code),
            "raw": proposed.get("category"),
            "details": proposed.get("details") or "",
            "inspector_id": proposed.get("inspector_id"),
            "inspector_name": insp_name(_uuid(proposed.get("inspector_id"))),
            "at": proposed.get("at"),
        },
        "items": [
            {
                "item_key": i.key,
                "item_version_id": i.item_version_id,
                "item_code": i.item_code,
                "item_name": i.item_name,
                "department_id": i.department_id,
                "checkpoint_keys": i.checkpoint_keys,
            }
            for i in results_service.form_items(form)
        ],
        "review_comments": [comment_view(c) for c in comments],
        "result": results_service.result_views(session, [result], today=today)[0] if result else None,
        "warnings": warnings,
        "actions": {
            "approve": acting and form.status in REVIEWABLE,
            "return": acting and form.status in REVIEWABLE,
            "request_evidence": acting and form.status in REVIEWABLE,
            "comment": acting and form.status in COMMENTABLE,
            "download_originals": _may_download_originals(session, actor, form),
        },
        "audit": timeline(session, form, result=result, evidence_ids=[e.id for e in evidence]),
    }


def _may_download_originals(session: Session, actor: User, form: InspectionForm) -> bool:
    from ..errors import Forbidden
    from .form_scope import require_original_access

    try:
        require_original_access(session, actor, form)
    except Forbidden:
        return False
    return True


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _coords(ent: Enterprise | None, snap: Mapping[str, Any]) -> tuple[float | None, float | None]:
    lat = ent.lat if ent is not None and ent.lat is not None else snap.get("lat")
    lng = ent.lng if ent is not None and ent.lng is not None else snap.get("lng")
    return lat, lng


def _confirmations(session: Session, form: InspectionForm) -> set[uuid.UUID]:
    from .sync import valid_confirmations

    return set(valid_confirmations(session, [form.id]).get(form.id, []))


def _evidence_view(
    e: Evidence,
    inspector: Inspector | None,
    ent_lat: float | None,
    ent_lng: float | None,
    checkin: FormCheckin | None,
) -> dict[str, Any]:
    """The evidence service's summary plus compact provenance per file (the full chain is one click away)."""
    body = evidence_service.summary(e, inspector)
    media = e.media or {}
    dist_ent = dist_checkin = None
    if e.lat is not None and e.lng is not None:
        if ent_lat is not None and ent_lng is not None:
            dist_ent = round(evidence_service.distance_m(e.lat, e.lng, ent_lat, ent_lng), 1)
        if checkin is not None and checkin.lat is not None and checkin.lng is not None:
            dist_checkin = round(evidence_service.distance_m(e.lat, e.lng, checkin.lat, checkin.lng), 1)
    lag = (e.received_at - e.captured_at).total_seconds() if e.received_at else None
    body["provenance"] = {
        "inspector_name": inspector.name if inspector else "",
        "certificate_no": inspector.certificate_no if inspector else "",
        "device_id": e.device_id,
        "captured_at_device": e.captured_at,
        "declared_at_server": e.declared_at,
        "received_at_server": e.received_at,
        "receive_lag_seconds": lag,
        "clock_suspect": lag is not None and lag < -300,  # captured "after" the server received it
        "lat": e.lat,
        "lng": e.lng,
        "accuracy_m": e.accuracy_m,
        "distance_to_enterprise_m": dist_ent,
        "distance_to_checkin_m": dist_checkin,
        "hash_verified": e.status == "received" and media.get("sha256_verified") == e.sha256,
    }
    base = f"/api/v1/evidence/{e.id}"
    body["links"] = {
        "provenance": base,
        "thumbnail": f"{base}/thumbnail" if e.thumbnail_key else None,
        "display": f"{base}/display" if e.display_key else None,
        "content": f"{base}/content" if e.status == "received" else None,
    }
    return body


def timeline(
    session: Session,
    form: InspectionForm,
    *,
    result: InspectionResult | None = None,
    evidence_ids: list[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """The form's audit trail: the form, its evidence, its result and follow-ups (hash-chained rows)."""
    if evidence_ids is None:
        evidence_ids = list(session.execute(select(Evidence.id).where(Evidence.form_id == form.id)).scalars())
    if result is None:
        result = results_service.result_for_form(session, form.id)
    terms = [and_(AuditEntry.entity == "inspection_form", AuditEntry.entity_id == str(form.id))]
    if evidence_ids:
        terms.append(
            and_(AuditEntry.entity == "evidence", AuditEntry.entity_id.in_([str(i) for i in evidence_ids]))
        )  # type: ignore[attr-defined]
    if result is not None:
        terms.append(and_(AuditEntry.entity == "inspection_result", AuditEntry.entity_id == str(result.id)))
        follow_ids = [
            str(i)
            for i in session.execute(select(FollowUp.id).where(FollowUp.result_id == result.id)).scalars()
        ]
        if follow_ids:
            terms.append(and_(AuditEntry.entity == "follow_up", AuditEntry.entity_id.in_(follow_ids)))  # type: ignore[attr-defined]
    rows = session.execute(select(AuditEntry).where(or_(*terms)).order_by(AuditEntry.seq)).scalars()  # type: ignore[arg-type]
    return [
        {
            "seq": a.seq,
            "at": a.at,
            "actor": a.actor,
            "actor_id": a.actor_id,
            "action": a.action,
            "action_label": ACTION_LABELS.get(a.action, a.action),
            "entity": a.entity,
            "entity_id": a.entity_id,
            "data": a.data,
            "hash": a.hash,
        }
        for a in rows
    ]


# -------------------------------------------------------------------------------------------------- actions


def _lock(session: Session, form: InspectionForm) -> InspectionForm:
    from .sync import lock_form

    return lock_form(session, form.id)


def _check_version(form: InspectionForm, version: int | None) -> None:
    if version is not None and version != form.version:
        raise Conflict(
            "检查表已更新（可能已被其他审核人处理或检查人员重新提交），请刷新后再操作",
            errors={"version": [str(form.version)]},
            current_version=form.version,
        )


def _require_state(form: InspectionForm, allowed: tuple[str, ...], what: str) -> None:
    if form.status not in allowed:
        label = FORM_STATUS_LABELS.get(form.status, form.status)
        raise Conflict(f"检查表当前状态为“{label}”，不能{what}", errors={"status": [form.status]})


def _resolve_earlier(session: Session, form: InspectionForm, now: datetime) -> int:
    """Comments of earlier rounds are settled once the supervisor acts on the resubmission."""
    n = 0
    for c in session.execute(
        select(ReviewComment).where(ReviewComment.form_id == form.id, ReviewComment.resolved_at.is_(None))  # type: ignore[union-attr]
    ).scalars():
        if c.kind != "note":
            c.resolved_at = now
            session.add(c)
            n += 1
    return n


def _check_comments(form: InspectionForm, comments: list[Mapping[str, Any]]) -> None:
    keys = {cp.get("key") for cp in form.checkpoints or []}
    for n, c in enumerate(comments):
        key = c.get("checkpoint_key")
        if key is not None and key not in keys:
            raise Invalid(
                "检查要点不存在", errors={f"comments.{n}.checkpoint_key": [f"本表没有检查要点 {key}"]}
            )
        if not (c.get("comment") or "").strip():
            raise Invalid("审核意见不能为空", errors={f"comments.{n}.comment": ["必填"]})


def send_back(
    *,
    session: Session,
    actor: User,
    form_id: uuid.UUID,
    kind: str,
    comments: list[Mapping[str, Any]],
    version: int | None = None,
) -> InspectionForm:
    """Return for revision (revise) or ask for more evidence (more_evidence): comments reach the device."""
    form = form_for_review(session, actor, form_id)
    _require_reviewer(actor, form)
    if kind not in ("revise", "more_evidence"):
        raise Invalid("退回类型无效", errors={"kind": ["可选值：revise, more_evidence"]})
    if not comments:
        raise Invalid("退回时至少填写一条审核意见", errors={"comments": ["至少一条"]})
    form = _lock(session, form)
    _require_state(form, REVIEWABLE, "退回" if kind == "revise" else "要求补充证据")
    _check_version(form, version)
    _check_comments(form, comments)
    now = utcnow()
    resolved = _resolve_earlier(session, form, now)
    rows = []
    for c in comments:
        row = ReviewComment(
            form_id=form.id,
            checkpoint_key=c.get("checkpoint_key"),
            comment=c["comment"].strip(),
            kind=kind,
            author_id=actor.id,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    previous = form.status
    form.status = "returned"
    form.version += 1  # the device's next pull sees a newer version with the comments
    form.updated_at = now
    session.add(form)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="review.return" if kind == "revise" else "review.request_evidence",
        entity="inspection_form",
        entity_id=form.id,
        data={
            "from_status": previous,
            "form_version": form.version,
            "resolved_earlier": resolved,
            "comments": [
                {"id": str(r.id), "checkpoint_key": r.checkpoint_key, "comment": r.comment} for r in rows
            ],
        },
    )
    session.commit()
    return form


def add_note(
    *,
    session: Session,
    actor: User,
    form_id: uuid.UUID,
    comment: str,
    checkpoint_key: str | None = None,
) -> ReviewComment:
    """A review note that does not change the form's state (it still reaches the device on the next pull)."""
    form = form_for_review(session, actor, form_id)
    _require_reviewer(actor, form)
    form = _lock(session, form)
    _require_state(form, COMMENTABLE, "添加审核意见")
    _check_comments(form, [{"checkpoint_key": checkpoint_key, "comment": comment}])
    now = utcnow()
    row = ReviewComment(
        form_id=form.id,
        checkpoint_key=checkpoint_key,
        comment=comment.strip(),
        kind="note",
        author_id=actor.id,
        created_at=now,
    )
    session.add(row)
    form.version += 1
    form.updated_at = now
    session.add(form)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="review.comment",
        entity="inspection_form",
        entity_id=form.id,
        data={
            "comment_id": str(row.id),
            "checkpoint_key": checkpoint_key,
            "comment": row.comment,
            "form_version": form.version,
        },
    )
    session.commit()
    return row


def approve(
    *, session: Session, actor: User, form_id: uuid.UUID, values: Mapping[str, Any]
) -> InspectionResult:
    """Approve a submitted form and enter its result (category, per-item categories, details, follow-ups)."""
    form = form_for_review(session, actor, form_id)
    _require_reviewer(actor, form)
    form = _lock(session, form)
    _require_state(form, REVIEWABLE, "审核通过")
    _check_version(form, values.get("version"))
    raw_category = values.get("category") or (form.proposed_result or {}).get("category")
    category = results_service.normalize_category(raw_category)
    follow_ups = list(values.get("follow_ups") or [])
    if category == "problem_pending" and not follow_ups:
        raise Invalid(
            "“发现问题待后续处理”须登记后续处置（责令整改、立案、移送）", errors={"follow_ups": ["至少一项"]}
        )
    details = (
        values.get("details")
        if values.get("details") is not None
        else (form.proposed_result or {}).get("details")
    ) or ""
    now = utcnow()
    first = results_service.first_submissions(session, [form]).get(form.id) or form.submitted_at or now
    resolved = _resolve_earlier(session, form, now)
    result = results_service.enter_result(
        session=session,
        actor=actor,
        form=form,
        category=category,
        details=details.strip(),
        items=values.get("items"),
        completed_at=first,
        failed_keys=results_service.failed_checkpoints(session, form),
    )
    for n, f in enumerate(follow_ups):
        results_service.add_follow_up(session, actor, result, f, where=f"follow_ups.{n}.")
    note = (values.get("comment") or "").strip()
    if note:
        session.add(
            ReviewComment(form_id=form.id, comment=note, kind="note", author_id=actor.id, created_at=now)
        )
    form.status = "approved"
    form.completed_at = first
    form.version += 1
    form.updated_at = now
    session.add(form)
    audit.record(
        session=session,
        actor=actor,
        action="review.approve",
        entity="inspection_form",
        entity_id=form.id,
        data={
            "result_id": str(result.id),
            "category": category,
            "proposed": (form.proposed_result or {}).get("category"),
            "comment": note,
            "resolved_earlier": resolved,
            "form_version": form.version,
            "follow_ups": len(follow_ups),
        },
    )
    session.commit()
    return result


# ------------------------------------------------------------------------------------------------ signatures


def signature_object(
    *, session: Session, actor: User, form_id: uuid.UUID, signature_id: uuid.UUID
) -> FormSignature:
    form = form_for_review(session, actor, form_id)
    sig = session.get(FormSignature, signature_id)
    if sig is None or sig.form_id != form.id:
        raise NotFound("签名不存在")
    return sig


def category_problem(code: str) -> bool:
    cat = CATEGORY_BY_CODE.get(code)
    return bool(cat and cat.problem)
