"""Workflows as users define them: the model, the condition evaluator, the template renderer.

Pure: no I/O. The config API validates with it, the matcher evaluates conditions with it, the
executor and dry runs render with it. ``shared.contracts`` re-exports the definition, which
travels in Kafka payloads.

- ``model``: ``WorkflowDefinition`` (trigger, conditions, actions, settings, error handling,
  enrollment, status) and ``WorkflowUpdate``.
- ``actions``: the action catalogue, one schema per ``type``.
- ``conditions``: rules and groups, ``evaluate`` and ``explain``.
- ``templates``: ``render``, ``validate_template``, date math (``resolve_date``).
- ``rendering``: ``render_action``, an action as it would be performed for an event.
- ``limits``: every size limit a definition is held to.
"""

# shared.contracts first: the model takes its trigger names from the event envelope, and the
# contracts re-export the model, so whichever package is imported first must load them in this
# order.
import shared.contracts  # noqa: F401  # isort: skip
from shared.workflows.actions import ACTION_TYPES, Action, parse_duration
from shared.workflows.conditions import (
    Condition,
    ConditionGroup,
    Explanation,
    Operator,
    Rule,
    RuleResult,
    evaluate,
    explain,
)
from shared.workflows.model import (
    Enrollment,
    ErrorHandling,
    Schedule,
    WorkflowDefinition,
    WorkflowSettings,
    WorkflowStatus,
    WorkflowUpdate,
)
from shared.workflows.rendering import RenderedAction, render_action
from shared.workflows.templates import (
    DateExpressionError,
    Rendered,
    TemplateError,
    render,
    render_date,
    resolve_date,
    validate_template,
)

__all__ = [
    "ACTION_TYPES",
    "Action",
    "Condition",
    "ConditionGroup",
    "DateExpressionError",
    "Enrollment",
    "ErrorHandling",
    "Explanation",
    "Operator",
    "Rendered",
    "RenderedAction",
    "Rule",
    "RuleResult",
    "Schedule",
    "TemplateError",
    "WorkflowDefinition",
    "WorkflowSettings",
    "WorkflowStatus",
    "WorkflowUpdate",
    "evaluate",
    "explain",
    "parse_duration",
    "render",
    "render_action",
    "render_date",
    "resolve_date",
    "validate_template",
]
