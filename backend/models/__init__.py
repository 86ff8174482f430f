"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from .accounts import RefreshToken, User
from .audit import AuditEntry
from .forms import FormAssignment, InspectionForm, ReviewComment
from .directory import (
    CalendarOverride,
    CheckItem,
    CheckItemVersion,
    Checkpoint,
    ConflictOfInterest,
    Department,
    Enterprise,
    EnterpriseStatusChange,
    Inspector,
)

__all__ = [
    "AuditEntry",
    "CalendarOverride",
    "CheckItem",
    "CheckItemVersion",
    "Checkpoint",
    "ConflictOfInterest",
    "Department",
    "Enterprise",
    "FormAssignment",
    "InspectionForm",
    "ReviewComment",
    "EnterpriseStatusChange",
    "Inspector",
    "RefreshToken",
    "User",
]
