"""Check items: create with a first draft, new drafts, edit drafts, publish; the public list needs no token."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from ...db import get_session
from ...services import access
from ...services import items as service
from ..security import auth_required, current_user
from .schemas import (
    ItemCreateSchema,
    ItemQuery,
    ItemSchema,
    ItemUpdateSchema,
    NewVersionSchema,
    PublicItemQuery,
    PublicItemSchema,
    VersionSchema,
    VersionUpdateSchema,
)

blp = Blueprint("items", __name__, url_prefix="/api/v1/items", description="抽查事项清单")

READERS = access.roles_for("check_item", access.READ)
WRITERS = access.roles_for("check_item", access.WRITE)
PUBLISHERS = access.roles_for("check_item", access.PUBLISH)


@blp.route("/public")
class PublicItems(MethodView):
    @blp.arguments(PublicItemQuery, location="query")
    @blp.response(200, PublicItemSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """The public list: latest published version of every active item, with checkpoints (no sign-in)"""
        page = service.public_items(
            session=get_session(),
            department_id=args.get("department_id"),
            q=args.get("q"),
            category=args.get("category"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items


@blp.route("")
class Items(MethodView):
    @auth_required(*READERS)
    @blp.arguments(ItemQuery, location="query")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, args, pagination_parameters):
        """List check items of the caller's departments, with their latest version"""
        page = service.list_items(
            session=get_session(),
            actor=current_user(),
            department_id=args.get("department_id"),
            q=args.get("q"),
            active=args.get("active"),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = page.total
        return page.items

    @auth_required(*WRITERS)
    @blp.arguments(ItemCreateSchema)
    @blp.response(201, ItemSchema)
    def post(self, body):
        """Create a check item with its first version (a draft) and ordered checkpoints"""
        return service.create_item(session=get_session(), actor=current_user(), values=body)


@blp.route("/<uuid:item_id>")
class ItemById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, ItemSchema)
    def get(self, item_id):
        """Get a check item with its latest version and checkpoints"""
        return service.get_item(session=get_session(), actor=current_user(), item_id=item_id)

    @auth_required(*WRITERS)
    @blp.arguments(ItemUpdateSchema)
    @blp.response(200, ItemSchema)
    def patch(self, body, item_id):
        """Activate or deactivate a check item"""
        return service.update_item(session=get_session(), actor=current_user(), item_id=item_id, values=body)

    @auth_required(*WRITERS)
    @blp.response(204)
    def delete(self, item_id):
        """Deactivate a check item (it leaves the public list; versions are kept)"""
        service.deactivate_item(session=get_session(), actor=current_user(), item_id=item_id)


@blp.route("/<uuid:item_id>/versions")
class ItemVersions(MethodView):
    @auth_required(*READERS)
    @blp.response(200, VersionSchema(many=True))
    def get(self, item_id):
        """List the versions of a check item (without checkpoints)"""
        return service.list_versions(session=get_session(), actor=current_user(), item_id=item_id)

    @auth_required(*WRITERS)
    @blp.arguments(NewVersionSchema)
    @blp.response(201, VersionSchema)
    def post(self, body, item_id):
        """Open a new draft version copying the latest one (409 if a draft is already open)"""
        return service.new_draft(
            session=get_session(), actor=current_user(), item_id=item_id, change_note=body.get("change_note", "")
        )


@blp.route("/<uuid:item_id>/versions/<uuid:version_id>")
class ItemVersionById(MethodView):
    @auth_required(*READERS)
    @blp.response(200, VersionSchema)
    def get(self, item_id, version_id):
        """Get one version with its checkpoints"""
        return service.get_version(session=get_session(), actor=current_user(), item_id=item_id, version_id=version_id)

    @auth_required(*WRITERS)
    @blp.arguments(VersionUpdateSchema(partial=True))
    @blp.response(200, VersionSchema)
    def patch(self, body, item_id, version_id):
        """Edit a draft (checkpoints, when given, replace the list); published versions are immutable (409)"""
        return service.update_draft(
            session=get_session(), actor=current_user(), item_id=item_id, version_id=version_id, values=body
        )


@blp.route("/<uuid:item_id>/versions/<uuid:version_id>/publish")
class ItemVersionPublish(MethodView):
    @auth_required(*PUBLISHERS)
    @blp.response(200, VersionSchema)
    def post(self, item_id, version_id):
        """Publish a draft; the previously published version is retired"""
        return service.publish(session=get_session(), actor=current_user(), item_id=item_id, version_id=version_id)
